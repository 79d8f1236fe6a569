"""gunicorn settings for the web process (``Procfile``, ``bench/ingest.py``).

On a 2-core machine: 2 worker processes (one per core: under the GIL more threads do not add
CPU) with 8 threads each (``gthread``), so a request waiting on PostgreSQL or Redis does not
idle a core, and keep-alive so senders reuse connections. Eight rather than four because the
webhook deliveries a process holds at once share one insert and commit (group commit,
``TYPEWIRE_WEBHOOK_GROUP_COMMIT``): with 8 threads the batches are big enough to pay (README
"Performance"). Each thread keeps its own database connection: plan PostgreSQL's
``max_connections`` for workers x threads per web machine. Command-line flags (``--workers``,
``--threads``) override these.
"""

from __future__ import annotations

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
keepalive = 5
# Webhook senders and the load balancer retry; a request never legitimately takes this long.
timeout = 30
