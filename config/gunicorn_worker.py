"""The web process's gunicorn worker class (``config/gunicorn.py``)."""

from __future__ import annotations

from typing import Any

import gevent
from gunicorn.workers.ggevent import GeventWorker


class FairGeventWorker(GeventWorker):
    """gunicorn's gevent worker, where a kept-alive connection takes turns with the others.

    gunicorn serves a kept-alive connection in a loop: answer, read the next request, answer.
    A greenlet yields only when it waits, so a client that sends its next request before the
    answer's bookkeeping is done (any sender on a fast network) would be read and served again
    at once, while the process's other connections wait: in the bench, a bare view's p99 went
    to two seconds. Yielding once after each request puts the connection behind the others
    that are ready; for webhook deliveries, which wait on PostgreSQL anyway, it also cut the
    p99 (README "Performance").
    """

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> None:
        """Serve ``req``, then let the other ready connections go first."""
        try:
            super().handle_request(listener_name, req, sock, addr)
        finally:
            gevent.sleep(0)
