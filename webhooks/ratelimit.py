"""Per-endpoint rate limits: a fixed one-minute window counted in Redis (INCR with a TTL).

The window starts at an endpoint's first request and lasts 60 seconds; the counter and its
expiry are set in one MULTI, so a crash between them cannot leave a counter that never expires.
Counting is shared by every web process. When Redis is not configured (the embedded demo) or
does not answer, requests are let through and a warning is logged: a limiter outage must not
turn into lost webhooks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
_warned_unconfigured = False


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may proceed and, if not, how many seconds until it may."""

    allowed: bool
    retry_after: int = 0


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    # Short timeouts: the limiter sits in front of every delivery and must not stall one.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def hit(key: str, limit: int) -> Decision:
    """Count one request against ``key`` and decide it under ``limit`` requests per minute.

    ``limit`` 0 means unlimited. Never raises: without a usable Redis the request is allowed.
    """
    global _warned_unconfigured
    if limit <= 0:
        return Decision(True)
    url: str = settings.TYPEWIRE_RATELIMIT_REDIS_URL
    if not url:
        if not _warned_unconfigured:
            _warned_unconfigured = True
            logger.warning(
                "webhook rate limiting is OFF: set TYPEWIRE_RATELIMIT_REDIS_URL "
                "(or TYPEWIRE_REDIS_URL) to a Redis URL to enforce per-endpoint limits"
            )
        return Decision(True)
    name = f"tw:ratelimit:{key}"
    try:
        pipe = _client(url).pipeline(transaction=True)
        pipe.set(name, 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
        _, count, ttl = pipe.execute()
    except redis.RedisError:
        logger.warning("rate limiter unavailable; letting %s through", key, exc_info=True)
        return Decision(True)
    if int(count) > limit:
        return Decision(False, retry_after=max(1, int(ttl)))
    return Decision(True)
