"""Seed the harness's database: one workspace, its customers, a webhook endpoint and three rules.

Run by the harness as ``python -m tests.reliability.seed TARGET_URL SIGNING_SECRET`` with the
stack's environment (its ``DATABASE_URL``); prints what the traffic needs as one JSON line.
The rules go through ``save_rule``, so the checker passes them as it would a merchant's:

- "Tag on webhook": a delivery tags its customer ``h-<ref>`` (an internal effect);
- "Forward webhook": a delivery is forwarded, signed, to the harness's HTTP target (outbound);
- "Tag on opt-in": an internal ``opt_in_changed`` event tags its customer ``opted``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import django

CUSTOMERS = 20


def seed(target_url: str, signing_secret: str) -> dict[str, Any]:
    """Create the workspace and everything the traffic needs; return ids, token and secret."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from accounts.models import Membership, Plan, Role, Workspace
    from automations.definitions import literal, ref, step, template
    from automations.services import save_rule
    from catalog.domain.services import create_customer
    from webhooks import services

    with transaction.atomic():
        workspace = Workspace.objects.create(slug="chaos", name="Chaos Store", plan=Plan.PRO)
        user = User.objects.create_user(username="chaos-admin", password=None)
        Membership.objects.create(user=user, workspace=workspace, role=Role.ADMIN)
        token, _ = Token.objects.get_or_create(user=user)
        customers = [
            create_customer(workspace=workspace, email=f"shopper{n}@example.com").pk
            for n in range(CUSTOMERS)
        ]
    revealed = services.create_endpoint(
        workspace=workspace,
        name="Chaos deliveries",
        preset="standard_webhooks",
        declared_fields={"customer_id": "ref(customer)", "ref": "string"},
        rate_limit_per_minute=1_000_000,
    )
    endpoint = revealed.endpoint
    on_hook = {"endpoint_id": endpoint.pk}
    alert = {"kind": "email", "target": "ops@example.com"}

    def rule(name: str, trigger: str, config: dict[str, Any], *steps: dict[str, Any]) -> int:
        definition = {
            "trigger": {"key": trigger, "config": config},
            "conditions": [],
            "steps": list(steps),
            "alert": alert,
        }
        saved = save_rule(
            workspace=workspace, author=None, name=name, definition=definition, is_enabled=True
        )
        return int(saved.pk)

    rules = {
        "hook_tag": rule(
            "Tag on webhook",
            "webhook_received",
            on_hook,
            step(
                "tag", "tag", customer_id=ref("body.customer_id"), tag=template("h-{{ body.ref }}")
            ),
        ),
        "hook_forward": rule(
            "Forward webhook",
            "webhook_received",
            on_hook,
            step(
                "forward",
                "fire_webhook",
                url=literal(target_url),
                body=ref("body"),
                signing_secret=literal(signing_secret),
            ),
        ),
        "optin_tag": rule(
            "Tag on opt-in",
            "opt_in_changed",
            {},
            step("tag", "tag", customer_id=ref("customer_id"), tag=literal("opted")),
        ),
    }
    return {
        "workspace_id": workspace.pk,
        "workspace_slug": workspace.slug,
        "api_token": token.key,
        "endpoint_id": endpoint.pk,
        "endpoint_token": endpoint.token,
        "endpoint_secret": revealed.secret,
        "customers": customers,
        "rules": rules,
    }


def main() -> None:
    """Configure Django from the environment, seed, print the JSON line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    print(json.dumps(seed(sys.argv[1], sys.argv[2])))


if __name__ == "__main__":
    main()
