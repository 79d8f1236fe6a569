"""Load the demo workspace and its users, printing their passwords; safe to run again."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Plan, Role, Workspace

DEMO_USERS = [("marketer", Role.MARKETER), ("admin", Role.ADMIN), ("auditor", Role.AUDITOR)]


class Command(BaseCommand):
    """``manage.py load_demo``: the ``demo`` workspace with a marketer, an admin and an auditor."""

    help = "Create the demo workspace and users; password from TYPEWIRE_DEMO_PASSWORD or generated."

    def add_arguments(self, parser: Any) -> None:
        """Accept the URL to print once the demo is loaded."""
        parser.add_argument("--url", default="", help="The URL the product will answer on.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        """Create or refresh the demo workspace, users and their password; print them."""
        password = settings.TYPEWIRE_DEMO_PASSWORD or secrets.token_urlsafe(12)
        workspace, _ = Workspace.objects.update_or_create(
            slug="demo", defaults={"name": "Demo Store", "plan": Plan.PRO}
        )
        user_model = get_user_model()
        for username, role in DEMO_USERS:
            user, _ = user_model.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.typewire.local"}
            )
            user.set_password(password)
            # The demo admin may also open the Django admin.
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save()
            Membership.objects.update_or_create(
                user=user, workspace=workspace, defaults={"role": role}
            )
        from ops.demo import load_demo_content

        for line in load_demo_content(workspace):
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write("Demo workspace 'demo' is ready. Users (all with the same password):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<9} {role.label:<9} password: {password}")
        if options["url"]:
            self.stdout.write(self.style.SUCCESS(f"Typewire is starting at {options['url']}"))
