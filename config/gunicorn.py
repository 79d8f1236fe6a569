"""gunicorn settings for the web process (``Procfile``, ``ops/stack.py``, ``bench/``).

gevent workers: each connection is served by a greenlet, so a request waiting on PostgreSQL or
Redis hands the process to the next one without an operating-system thread switch or a fight
for the GIL. Against 2 processes x 8 threads (``gthread``) this took a webhook delivery about a
fifth less web CPU and a third off its p99 (README "Performance"). Two processes, one per core
on a 2-core machine (``WEB_CONCURRENCY``), each keeping up to ``WEB_CONNECTIONS`` connections.

The connections' requests borrow database connections from a pool of ``DB_POOL_SIZE`` per
process (``config/settings.py``): plan PostgreSQL's ``max_connections`` for processes x pool
size per web machine. The deliveries a process has in flight at once still share one insert
and commit (group commit, ``TYPEWIRE_WEBHOOK_GROUP_COMMIT``).

A greenlet gives the process up only when it waits: a request that computes for 50 ms delays
the process's other requests by as much. ``FairGeventWorker`` (``config/gunicorn_worker.py``)
at least makes a kept-alive connection let the others go between two of its requests.
Command-line flags (``--workers``, ``--worker-connections``) override these.
"""

from __future__ import annotations

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "config.gunicorn_worker.FairGeventWorker"
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "200"))
# Set in the master before the workers start, so each worker's Django settings see it.
raw_env = [f"DB_POOL_SIZE={os.environ.get('DB_POOL_SIZE', '16')}"]
keepalive = 5
# Webhook senders and the load balancer retry; a request never legitimately takes this long.
timeout = 30
