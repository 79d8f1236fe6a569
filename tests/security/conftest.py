"""Fixtures of the webhook tests reused by the security tests (poster, fresh rate limits)."""

from __future__ import annotations

from tests.webhooks.conftest import _fresh_rate_limits, post

__all__ = ["_fresh_rate_limits", "post"]
