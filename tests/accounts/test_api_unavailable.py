"""An API request that cannot reach the database answers 503 with Retry-After, not a 500."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import ValidationError

from accounts.api import exception_handler


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_an_unreachable_database_answers_503_with_retry_after(settings, error) -> None:
    # given
    settings.TYPEWIRE_WEBHOOK_RETRY_AFTER_SECONDS = 7
    # when
    response = exception_handler(error("connection refused"), {})
    # then
    assert response is not None
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert response.data == {
        "error": "unavailable",
        "detail": "The database is unavailable; retry later.",
    }


def test_other_errors_keep_drf_handling() -> None:
    response = exception_handler(ValidationError({"name": ["required"]}), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data["error"] == "invalid"
