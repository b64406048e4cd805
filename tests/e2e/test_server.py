"""``ddms serve`` as a user runs it: boots on an empty data directory, answers browsers and scripts
differently at ``/``, documents its API, stops cleanly on Ctrl-C and keeps its data across restarts."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.conftest import OWNER, OWNER_PASSWORD, LiveServer, start_server


def test_health_reports_a_healthy_database(live_server: LiveServer) -> None:
    reply = httpx.get(f"{live_server.url}/api/health", timeout=10)
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "healthy"
    assert body["database"] == "ok"
    assert body["version"]


def test_root_gives_a_browser_the_ui_and_a_script_the_health_json(live_server: LiveServer) -> None:
    as_browser = httpx.get(
        live_server.url + "/",
        headers={"Accept": "text/html,application/xhtml+xml"},
        timeout=10,
        follow_redirects=True,
    )
    assert as_browser.status_code == 200
    assert as_browser.url.path == "/login", "a stranger's browser lands on the login page"
    assert as_browser.headers["content-type"].startswith("text/html")
    assert "nicegui" in as_browser.text.lower()

    as_script = httpx.get(live_server.url + "/", headers={"Accept": "application/json"}, timeout=10)
    assert as_script.status_code == 200
    assert as_script.json()["status"] == "healthy"
    health = httpx.get(f"{live_server.url}/api/health", timeout=10).json()
    # The writer moves between the two answers: its last write's time changes, and the age of the
    # oldest unwritten reading is there only while one waits (a poll may land between the two).
    moving = {"oldest_unwritten_seconds", "last_write_at"}
    assert as_script.json().keys() - moving == health.keys() - moving
    assert {k: v for k, v in as_script.json().items() if k not in moving} == {
        k: v for k, v in health.items() if k not in moving
    }

    bare = httpx.get(live_server.url + "/", headers={"Accept": "*/*"}, timeout=10)
    assert bare.json()["database"] == "ok"


def test_openapi_documents_every_contract_router(live_server: LiveServer) -> None:
    schema = httpx.get(f"{live_server.url}/openapi.json", timeout=10).json()
    paths = set(schema["paths"])
    for expected in (
        "/api/health",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/users",
        "/api/devices",
        "/api/devices/{device_id}",
        "/api/groups",
        "/api/groups/{group_id}",
        "/api/config",
    ):
        assert expected in paths, f"{expected} missing from /openapi.json"
    assert all(path.startswith(("/api/", "/metrics")) for path in paths), sorted(paths)

    docs = httpx.get(f"{live_server.url}/docs", timeout=10)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/openapi.json" in docs.text


def test_the_data_directory_holds_the_embedded_database(live_server: LiveServer) -> None:
    assert (live_server.data_dir / "ddms.db").is_file()


def test_serve_runs_the_migrations_once(live_server: LiveServer) -> None:
    """``ddms serve`` upgrades the database before the app starts; the app's lifespan does not again."""
    assert live_server.log().count("alembic.runtime.migration: Context impl") == 1


def test_first_start_prints_a_generated_owner_password_once_and_data_survives_a_restart(
    tmp_path: Path,
) -> None:
    """No DDMS_OWNER_PASSWORD: the console shows the generated one once; a restart keeps everything."""
    first = start_server(tmp_path / "one", extra_env={"DDMS_OWNER_PASSWORD": ""})
    try:
        found = re.search(r"Owner login: admin / (\S+)", first.log())
        assert found, first.log()[-2000:]
        password = found.group(1)
        with first.client() as http:
            token = http.post("/api/auth/login", json={"username": OWNER, "password": password}).json()[
                "access_token"
            ]
            created = http.post(
                "/api/devices",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "Survivor",
                    "modbus_ip": "127.0.0.1",
                    "modbus_port": 1,
                    "modbus_slave_id": 1,
                    "modbus_register": 0,
                    "sampling_interval": 3600,
                },
            )
            assert created.status_code == 201, created.text
    finally:
        assert first.stop() == 0, first.log()[-3000:]
    assert "Traceback" not in first.log()

    second = start_server(tmp_path / "one", extra_env={"DDMS_OWNER_PASSWORD": ""})
    try:
        assert password not in second.log(), "the generated password must be shown only once"
        assert "Owner login: admin (password shown at first start" in second.log()
        with second.client() as http:
            token = http.post("/api/auth/login", json={"username": OWNER, "password": password}).json()[
                "access_token"
            ]
            names = [
                d["name"]
                for d in http.get("/api/devices", headers={"Authorization": f"Bearer {token}"}).json()
            ]
        assert names == ["Survivor"]
    finally:
        assert second.stop() == 0, second.log()[-3000:]
    assert password not in second.log()


def test_owner_password_from_the_environment_is_never_printed(live_server: LiveServer) -> None:
    with live_server.client() as http:
        assert (
            http.post("/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD}).status_code
            == 200
        )
    assert OWNER_PASSWORD not in live_server.log()


@pytest.mark.parametrize("path", ["/api/devices", "/api/users", "/api/config"])
def test_protected_routes_refuse_anonymous_scripts(live_server: LiveServer, path: str) -> None:
    reply = httpx.get(live_server.url + path, timeout=10)
    assert reply.status_code == 401
    assert reply.json()["detail"]


def test_metrics_are_prometheus_text_with_collector_counters(live_server: LiveServer) -> None:
    reply = httpx.get(f"{live_server.url}/metrics", timeout=10, follow_redirects=False)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in reply.text.splitlines()
        if line and not line.startswith("#")
    }
    assert "ddms_readings_written_total" in samples, sorted(samples)[:20]
    assert "ddms_sse_subscribers" in samples


def test_stream_sends_a_snapshot_at_once_and_then_every_interval(live_server: LiveServer) -> None:
    """Public SSE: the first event arrives immediately; with the simulator it carries its devices."""
    events: list[list[dict[str, object]]] = []
    with (
        httpx.Client(base_url=live_server.url, timeout=20) as http,
        http.stream("GET", "/api/devices/stream") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
                names = {item["device_name"] for item in events[-1]}
                # A deadline of 30 intervals (the meter is normally there at once), not a race.
                if len(events) >= 2 and ("Sim energy meter" in names or len(events) == 30):
                    break
    assert all(isinstance(event, list) for event in events)
    if live_server.simulator:
        assert "Sim energy meter" in names, names
        item = next(item for item in events[-1] if item["device_name"] == "Sim energy meter")
        assert set(item) >= {"device_id", "unit", "timestamp", "value", "status", "device_status"}
        assert item["device_status"] == "online"


async def test_serve_runs_on_postgresql_too(tmp_path: Path) -> None:
    """The production database: the same command boots on an empty PostgreSQL and serves the API."""
    url = await create_pg_database()
    try:
        server = await asyncio.to_thread(start_server, tmp_path, extra_env={"DATABASE_URL": url})
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                assert (await http.get("/api/health")).json()["database"] == "ok"
                login = await http.post(
                    "/api/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD}
                )
                auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
                made = await http.post(
                    "/api/devices",
                    headers=auth,
                    json={
                        "name": "On PostgreSQL",
                        "modbus_ip": "127.0.0.1",
                        "modbus_port": 1,
                        "modbus_slave_id": 1,
                        "modbus_register": 0,
                        "sampling_interval": 3600,
                    },
                )
                assert made.status_code == 201, made.text
                assert [d["name"] for d in (await http.get("/api/devices", headers=auth)).json()] == [
                    "On PostgreSQL"
                ]
            assert not (server.data_dir / "ddms.db").exists(), "no SQLite file when DATABASE_URL is set"
        finally:
            assert await asyncio.to_thread(server.stop) == 0, server.log()[-3000:]
    finally:
        await drop_pg_database(url)
