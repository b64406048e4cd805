"""The whole product served by ``ddms serve``: content negotiation at ``/`` and the health answer.

One subprocess on a free port (NiceGUI can be set up once per process, so not in the test process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ddms import __version__
from ddms.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("served")
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251
    env |= {
        "DDMS_DATA_DIR": str(data_dir),
        "COLLECTOR_ENABLED": "false",
        "COOKIE_SECURE": "false",
        "DDMS_OWNER_PASSWORD": "served-password-1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ddms", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"ddms serve exited: {process.stdout.read() if process.stdout else ''}")
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("ddms serve did not answer within 60 s")
        yield base
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        assert "served-password-1" not in output


def test_root_answers_scripts_with_health_json(served: str) -> None:
    for accept in ("application/json", "*/*", ""):
        answer = httpx.get(f"{served}/", headers={"Accept": accept}, timeout=10)
        assert answer.status_code == 200, accept
        assert answer.json() == {"status": "healthy", "database": "ok", "version": __version__}


def test_root_gives_browsers_the_ui(served: str) -> None:
    answer = httpx.get(
        f"{served}/", headers={"Accept": "text/html,application/xhtml+xml"}, timeout=10, follow_redirects=True
    )
    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]


def test_api_and_docs_are_served_next_to_the_ui(served: str) -> None:
    login = httpx.post(
        f"{served}/api/auth/login", json={"username": "admin", "password": "served-password-1"}, timeout=10
    )
    assert login.status_code == 200
    token = login.json()["access_token"]
    created = httpx.post(
        f"{served}/api/devices/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        json={"name": "d", "modbus_ip": "127.0.0.1", "modbus_slave_id": 1, "modbus_register": 0},
    )
    assert created.status_code == 201, created.text
    assert httpx.get(f"{served}/openapi.json", timeout=10).json()["paths"]["/api/devices"]
    assert httpx.get(f"{served}/docs", timeout=10).status_code == 200
    garbage = httpx.post(
        f"{served}/api/devices",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        content=b"{",
        timeout=10,
    )
    assert garbage.status_code == 400


def test_an_unknown_api_path_is_a_json_404_not_the_ui_page(served: str) -> None:
    for path in ("/api/no-such-thing", "/api/alarms/x/y/z", "/api"):
        answer = httpx.get(f"{served}{path}", headers={"Accept": "text/html"}, timeout=10)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/json"), path
        assert answer.json() == {"detail": "Not Found"}, path
    assert httpx.get(f"{served}/api/alarms", timeout=10).status_code == 401  # the alarm routes exist
    wrong_method = httpx.patch(f"{served}/api/devices", timeout=10)
    assert wrong_method.status_code == 405, wrong_method.text
    assert wrong_method.json() == {"detail": "Method Not Allowed"}
