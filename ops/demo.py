"""Demo content beyond users: catalog entities and rules of SPEC section 10, as they exist."""

from __future__ import annotations

from collections.abc import Iterator

from accounts.models import Workspace


def load_demo_content(workspace: Workspace) -> Iterator[str]:
    """Create the demo workspace's content idempotently; yield one line per thing created."""
    yield f"Workspace {workspace.slug}: plan {workspace.get_plan_display()}."
