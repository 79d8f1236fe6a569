"""Re-check every rule against today's catalog; list, and optionally disable, broken ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from automations.services import recheck_rules


class Command(BaseCommand):
    """``manage.py recheck_rules [--apply]``: run after deploying a changed plug-in."""

    help = "List the rules today's catalog breaks; --apply switches them off with the reason."

    def add_arguments(self, parser: Any) -> None:
        """Accept --apply."""
        parser.add_argument("--apply", action="store_true", help="Disable the broken rules.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Print one line per broken rule and its first problem."""
        impacts = recheck_rules(apply=options["apply"])
        for impact in impacts:
            first = impact.problems[0]
            self.stdout.write(
                f"{impact.rule.workspace.slug}: rule {impact.rule.pk} '{impact.rule.name}': "
                f"{first.path}: {first.message}"
            )
        verb = "switched off" if options["apply"] else "would break"
        self.stdout.write(f"{len(impacts)} rule(s) {verb}.")
