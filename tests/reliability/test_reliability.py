"""SPEC 8 against the real stack: the short fault-injection profile, and a build that must fail.

Both start gunicorn, Celery workers and beat as processes on their own database and broker
(``tests.reliability.harness``), so they take a few minutes: marked ``reliability``
(``pytest -m "not reliability"`` leaves them out).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ops.stack import ROOT
from tests.reliability.harness import (
    PROFILES,
    FaultPlan,
    Profile,
    Report,
    default_database_url,
    run,
)

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(600)]

# The deliberately broken build needs only the fault the sweeper exists for.
BROKER_ONLY = Profile(
    "broken-build",
    traffic_seconds=25,
    hooks_per_second=3.0,
    events_per_second=1.0,
    faults=(FaultPlan("broker", 4, 10),),
    drain_seconds=15,
    send_grace_seconds=15,
)


def _run(profile: Profile, suffix: str, fault_inject: str = "") -> Report:
    log_dir = ROOT / "var" / f"reliability-{profile.name}"
    return run(
        profile,
        database_url=default_database_url() + suffix,
        redis_url=os.environ.get("TYPEWIRE_REDIS_URL") or None,
        log_dir=log_dir,
        fault_inject=fault_inject,
    )


def _show(report: Report, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Print the table on the terminal (CI shows it) and keep it beside the logs."""
    Path(report.log_dir / name).write_text(report.table + "\n")
    with capsys.disabled():
        print("\n" + report.table)


def test_the_short_profile_loses_nothing_and_applies_nothing_twice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # when all five faults hit a running stack
    report = _run(PROFILES["short"], "")
    _show(report, capsys, "table.md")
    # then
    figures = report.figures
    assert figures.accepted > 0, report.table
    assert figures.unanswered == 0, report.table
    assert (figures.lost, figures.double_applied, figures.stuck) == (0, 0, 0), report.table
    assert set(figures.recovery) == {
        "(a) broker stopped 20 s",
        "(b) worker SIGKILLed",
        "(c) database blocked 10 s",
        "(d) target flaky",
        "(e) duplicates (end of traffic)",
    }
    assert None not in figures.recovery.values()
    # every answer was a 2xx or a documented "retry later", never a server error
    assert {a.split(" ", 1)[1] for a in figures.answers} <= {"200", "202", "503"}, report.table


def test_a_build_without_the_sweeper_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    # given a deliberately broken build: the sweepers do nothing (TYPEWIRE_FAULT_INJECT)
    # when the broker goes away under traffic
    report = _run(BROKER_ONLY, "_broken", fault_inject="no-sweeper")
    _show(report, capsys, "table.md")
    # then the harness reports the loss and fails the run
    assert report.figures.lost > 0, report.table
    assert report.figures.stuck > 0, report.table
    assert not report.ok
