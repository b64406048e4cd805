"""Honest health: /api/health says whether readings are being stored, not only whether SELECT 1 answers.

A SQLite file locked by another writer answers SELECT 1 while every write fails; the health check
then reports the writer ``failing`` with the readings waiting on disk, and answers 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ddms.runtime
from collector.runner import Collector
from collector.simulator import Simulator, catalog
from ddms import __version__, db
from ddms.config import Settings, load_settings
from tests.collector.conftest import add_device, eventually
from tests.collector.test_outage import _outage


@pytest.fixture
async def running(client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> AsyncIterator[Collector]:
    """A collector in the app's runtime polling one simulated device."""
    sim = Simulator("127.0.0.1", 0, catalog(1))
    await sim.start()
    await add_device(name="boiler", modbus_port=sim.port, modbus_slave_id=1, data_type="float32")
    overrides = {"writer_flush_interval": 0.2, "modbus_timeout": 0.5, "ddms_data_dir": tmp_path}
    collector = Collector(load_settings(**settings.model_dump() | overrides), backoff_cap=1.0)
    await collector.start()
    ddms.runtime.current().collectors.append(collector)
    try:
        yield collector
    finally:
        ddms.runtime.current().collectors.remove(collector)
        await collector.stop()
        await sim.stop()


async def test_health_is_503_while_readings_are_not_stored(
    client: httpx.AsyncClient, running: Collector, database: db.Database
) -> None:
    await eventually(lambda: running.writer.last_write_at is not None, within=30)
    body = (await client.get("/api/health")).json()
    assert body["writer"] == "ok"
    assert body["status"] == "healthy"
    assert body["spool_rows"] == 0

    answers: list[httpx.Response] = []

    async def failing() -> bool:
        answers.append(await client.get("/api/health"))
        body = answers[-1].json()
        return answers[-1].status_code == 503 and body["writer"] == "failing" and body["spool_rows"] > 0

    async with _outage(database):
        await eventually(failing, within=60, step=0.2)
        body = answers[-1].json()
        assert body["status"] == "unhealthy"
        assert body["version"] == __version__
        assert body["database"] == ("unavailable" if database.is_postgres else "ok")  # SELECT 1 lies
        assert body["failing_since"] is not None
        assert body["oldest_unwritten_seconds"] > 0

    async def recovered() -> bool:
        answer = await client.get("/api/health")
        body: dict[str, Any] = answer.json()
        return answer.status_code == 200 and body["writer"] == "ok" and body["spool_rows"] == 0

    await eventually(recovered, within=60, step=0.2)
