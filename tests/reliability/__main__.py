"""``python -m tests.reliability --profile short|long``: run the harness and print the table.

Exits 1 when anything was lost, applied twice or left stuck. The database is
``<DATABASE_URL's name>_chaos`` unless ``--database-url`` names another (it is dropped and
created again); the broker is a ``redis-server`` the harness starts itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tests.reliability.harness import PROFILES, default_database_url, run


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the profile, print the table; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--database-url", default=default_database_url())
    parser.add_argument("--redis-url", default=os.environ.get("TYPEWIRE_REDIS_URL") or None)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument(
        "--fault-inject",
        default="",
        help="test only: start a deliberately broken build (no-sweeper) the run must catch",
    )
    args = parser.parse_args(argv)
    report = run(
        PROFILES[args.profile],
        database_url=args.database_url,
        redis_url=args.redis_url,
        log_dir=args.log_dir,
        fault_inject=args.fault_inject,
    )
    print(report.table)
    print(f"\nlogs: {report.log_dir}")
    print("PASS" if report.ok else "FAIL: lost, double-applied or stuck work")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
