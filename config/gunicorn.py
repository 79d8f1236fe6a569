"""gunicorn settings for the web process (``Procfile``, ``bench/ingest.py``).

On a 2-core machine: 2 worker processes (one per core, the GIL makes more threads per process
pointless for CPU) with a few threads each (``gthread``), so a request waiting on PostgreSQL or
Redis does not idle a core, and keep-alive so senders reuse connections. Command-line flags
(``--workers``, ``--threads``) override these.
"""

from __future__ import annotations

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
# Webhook senders and the load balancer retry; a request never legitimately takes this long.
timeout = 30
