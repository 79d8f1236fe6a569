"""Production-safe defaults: CSP with a nonce for htmx, secure cookies, loud missing services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_pages_carry_a_csp_whose_nonce_matches_the_htmx_script(client, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.get("/")
    # then
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce
    assert f'nonce="{nonce.group(1)}"' in response.content.decode()
    assert "unsafe-inline" not in csp


def _settings_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.DEBUG)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECURE_SSL_REDIRECT")}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_means_https_only_cookies_and_redirects():
    result = _settings_with({})
    assert result.stdout.split() == ["True", "True", "True", "False"]


def test_missing_secret_key_stops_start_up_with_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("_case", "variable", "url", "expected"),
    [
        (
            "postgres down",
            "DATABASE_URL",
            "postgres://root@127.0.0.1:1/typewire",
            "DATABASE_URL points at postgres on 127.0.0.1:1, which does not answer: start it with "
            "`pg_ctlcluster",
        ),
        (
            "redis down",
            "CELERY_BROKER_URL",
            "redis://127.0.0.1:1/0",
            "CELERY_BROKER_URL points at redis on 127.0.0.1:1, which does not answer: "
            "start it with `redis-server",
        ),
    ],
)
def test_test_command_stops_with_one_line_when_a_service_is_down(_case, variable, url, expected):
    # when the suite is started with a service that does not answer
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/ops/test_health.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**os.environ, variable: url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then it stops at once, naming the service and how to start it
    assert result.returncode == 3
    assert expected in result.stdout + result.stderr
    assert "passed" not in result.stdout
