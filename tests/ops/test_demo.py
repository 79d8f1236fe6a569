"""The demo content: SPEC 10 rules that pass the checker, created once however often it loads."""

from __future__ import annotations

import pytest

from accounts.models import Workspace
from automations.models import Rule
from catalog.models import Customer, Journey
from ops.demo import load_demo_content
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db


def test_demo_content_loads_once_with_its_rules(workspace: Workspace) -> None:
    # given
    first = list(load_demo_content(workspace))
    # when
    again = list(load_demo_content(workspace))
    # then
    assert again == [f"Workspace {workspace.slug}: plan Pro."]
    assert len(first) == 24
    assert Customer.objects.filter(workspace=workspace).count() == 4
    assert set(Journey.objects.values_list("slug", flat=True)) == {"vip-welcome", "trial"}
    assert set(Endpoint.objects.values_list("preset", flat=True)) == {
        "stripe",
        "shopify",
        "standard_webhooks",
    }
    enabled = dict(Rule.objects.values_list("name", "is_enabled"))
    assert len(enabled) == 10
    assert sorted(name for name, on in enabled.items() if on) == [
        "9 AM: yesterday's sales summary",
        "Order created: confirm and take stock",
        "Stripe invoice failed: retry email",
        "Stripe payment: welcome email",
        "VIP tag: enroll in VIP welcome",
    ]
    assert all(rule.versions.count() == 1 for rule in Rule.objects.all())
