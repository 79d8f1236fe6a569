"""``POST /api/v1/metrics/<name>/``: push one metric sample; metric_threshold rules judge it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import ADMIN_AREA
from automations.triggers.metrics import SampleInvalid, clean_value, record_sample
from catalog.types import format_datetime, format_decimal

METRIC_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
# A sample may be stamped a little ahead of our clock (the sender's clock may run fast).
FUTURE_TOLERANCE = timedelta(minutes=5)


class MetricSampleSerializer(serializers.Serializer[Any]):
    """A sample: a number (or a numeric string) and, optionally, when it was measured."""

    value = serializers.JSONField()
    at = serializers.DateTimeField(required=False)

    def validate_value(self, value: Any) -> Any:
        """Accept numbers and numeric strings only (never booleans, NaN or infinities)."""
        try:
            return clean_value(value)
        except SampleInvalid as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_at(self, value: Any) -> Any:
        """Refuse samples stamped in the future (beyond a few minutes of clock skew)."""
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError("A sample cannot be measured in the future.")
        return value


class MetricSampleView(APIView):
    """Push a sample of a workspace metric (admins; API tokens of monitoring systems).

    Answers 201 with the stored sample and the ids of the metric_threshold events it fired,
    400 for a bad metric name, a value that is not a number, or a time in the future.
    """

    access = ADMIN_AREA

    @extend_schema(request=MetricSampleSerializer)
    def post(self, request: Request, name: str) -> Response:
        """Store the sample and evaluate the enabled rules watching this metric."""
        if not METRIC_NAME.match(name):
            raise ValidationError(
                {
                    "error": "invalid_metric",
                    "detail": "A metric name has 1 to 100 letters, digits, or . _ : -",
                }
            )
        serializer = MetricSampleSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationError({"error": "invalid_sample", "fields": serializer.errors})
        data = serializer.validated_data
        recorded = record_sample(
            workspace=request.workspace,  # type: ignore[attr-defined]
            name=name,
            value=data["value"],
            at=data.get("at"),
        )
        sample = recorded.sample
        body = {
            "metric": sample.name,
            "value": format_decimal(sample.value.normalize()),
            "at": format_datetime(sample.recorded_at),
            "fired_event_ids": [str(event.pk) for event in recorded.fired],
        }
        return Response(body, status=status.HTTP_201_CREATED)
