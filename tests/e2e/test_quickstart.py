"""The README's run command, for real: web, worker and beat on the embedded defaults."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.workers import wait_for

ROOT = Path(__file__).resolve().parents[2]
# Variables the test session sets that the embedded demo must not inherit.
TEST_ONLY_VARS = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "DJANGO_SETTINGS_MODULE",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.worker
def test_run_command_serves_login_with_worker_and_beat_on_embedded_defaults(tmp_path):
    # given a clean environment: no database or broker configured, a fresh data folder
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARS}
    env.update(
        PORT=str(port),
        TYPEWIRE_VAR_DIR=str(tmp_path),
        TYPEWIRE_DEMO_PASSWORD="quickstart-demo-pw",
        TYPEWIRE_HEARTBEAT_SECONDS="2",
    )
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # when the run command has printed its URL
        url = wait_for(
            lambda: (
                (m := re.search(rb"Typewire is starting at (\S+)", log_path.read_bytes()))
                and m.group(1).decode()
            ),
            timeout=180,
        )
        assert url == f"http://127.0.0.1:{port}/"
        assert b"marketer  Marketer  password: quickstart-demo-pw" in log_path.read_bytes()

        def login_page() -> httpx.Response | None:
            try:
                r = httpx.get(url + "accounts/login/", timeout=2)
            except httpx.TransportError:
                return None
            return r if r.status_code == 200 else None

        # then the web server serves the log-in page at that URL
        page = wait_for(login_page, timeout=60)
        assert "Log in to Typewire" in page.text

        # and the demo marketer can log in
        with httpx.Client(base_url=url, timeout=5, follow_redirects=True) as browser:
            form = browser.get("accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            assert token
            home = browser.post(
                "accounts/login/",
                data={
                    "username": "marketer",
                    "password": "quickstart-demo-pw",
                    "csrfmiddlewaretoken": token.group(1),
                },
                headers={"Referer": url + "accounts/login/"},
            )
            assert home.status_code == 200
            assert "Demo Store" in home.text

            # and beat's scheduled heartbeat has gone through the embedded broker to the worker
            beat = wait_for(
                lambda: "Last heartbeat from the scheduler" in browser.get("").text, timeout=60
            )
            assert beat

        # and a task round trip through the embedded broker works on demand
        ping = subprocess.run(
            [
                str(ROOT / ".venv/bin/honcho"),
                "run",
                "-e",
                "var/demo.env",
                str(ROOT / ".venv/bin/python"),
                "manage.py",
                "ping_worker",
                "--timeout",
                "30",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ping.returncode == 0, ping.stderr
        assert ping.stdout.startswith("pong from celery@")
        log_text = log_path.read_text()
        assert "worker.1" in log_text
        assert "beat.1" in log_text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.5)
