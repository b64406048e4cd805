"""A device's history in a real browser: the chart is drawn with its threshold lines, and the CSV
export downloads the readings the collector stored from the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.conftest import LiveServer, logged_in_page

BOILER = "Sim boiler temperature"  # simulator: 65 ± 12 °C, warning high 75, critical high 80

# The history chart's ECharts instance (the one with threshold mark lines), read in the browser.
CHART_OPTION_JS = """() => {
  for (const el of document.querySelectorAll('.nicegui-echart')) {
    const chart = getElement(el) && getElement(el).chart;
    if (!chart) continue;
    const option = chart.getOption();
    const series = option.series && option.series[0];
    if (series && series.markLine && series.markLine.data && series.markLine.data.length) {
      return {id: el.id, points: series.data.length,
              lines: series.markLine.data.map(d => d.yAxis), name: series.name};
    }
  }
  return null;
}"""

# Pixels of one colour in that chart's canvas (what a person would see, not just the options).
COLOUR_PIXELS_JS = """([id, rgb]) => {
  const canvas = document.getElementById(id).querySelector('canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) < 24 && Math.abs(data[i + 1] - rgb[1]) < 24
        && Math.abs(data[i + 2] - rgb[2]) < 24 && data[i + 3] > 200) count++;
  }
  return count;
}"""
CRITICAL_RED = (0xC6, 0x28, 0x28)


@pytest.fixture
async def boiler(live_server: LiveServer, rest: httpx.AsyncClient) -> dict[str, Any]:
    assert live_server.simulator, "the history tests need the simulator's readings"
    return next(d for d in (await rest.get("/api/devices")).json() if d["name"] == BOILER)


async def chart_state(page: Page) -> dict[str, Any] | None:
    return await page.evaluate(CHART_OPTION_JS)


async def test_history_chart_is_drawn_with_threshold_lines(
    page: Page, live_server: LiveServer, boiler: dict[str, Any]
) -> None:
    await logged_in_page(page, live_server)
    await page.goto(f"{live_server.url}/devices/{boiler['id']}")
    await expect(page.get_by_text("History", exact=True)).to_be_visible()
    await page.wait_for_function(
        f"({CHART_OPTION_JS})() && ({CHART_OPTION_JS})().points >= 2", timeout=30_000
    )
    state = await chart_state(page)
    assert state is not None
    assert state["name"] == BOILER
    assert sorted(state["lines"]) == [75, 80], "warning high and critical high are drawn as lines"
    red = await page.evaluate(COLOUR_PIXELS_JS, [state["id"], list(CRITICAL_RED)])
    assert red > 50, "the critical line is painted on the canvas (the signal itself never reaches 80)"


async def test_csv_export_downloads_the_stored_readings(
    page: Page, live_server: LiveServer, boiler: dict[str, Any], rest: httpx.AsyncClient
) -> None:
    await logged_in_page(page, live_server)
    await page.goto(f"{live_server.url}/devices/{boiler['id']}")
    await page.wait_for_function(
        f"({CHART_OPTION_JS})() && ({CHART_OPTION_JS})().points >= 1", timeout=30_000
    )
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    assert download.suggested_filename.startswith("Sim_boiler_temperature_")
    assert download.suggested_filename.endswith(".csv")
    path = await download.path()
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode()), "a byte order mark for spreadsheets (on by default)"
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["timestamp", "value", "unit"]
    assert len(rows) >= 2, text
    stamps = [row[0] for row in rows[1:]]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    assert all(row[2] == "°C" for row in rows[1:])
    assert all(40 < float(row[1]) < 90 for row in rows[1:]), "values are the simulated boiler's"
    stored = (await rest.get(f"/api/readings/{boiler['id']}/count")).json()["count"]
    assert len(rows) - 1 <= stored


# The history chart's line, its envelope's top and the info under the range, read in the browser.
ENVELOPE_JS = """() => {
  const el = document.querySelector('[data-testid="history-chart"]');
  const chart = el && getElement(el) && getElement(el).chart;
  if (!chart) return null;
  const series = chart.getOption().series;
  const byId = Object.fromEntries(series.map(s => [s.id, s]));
  const low = byId['envelope-low-0'], span = byId['envelope-span-0'];
  if (!low || !span || !series[0].data.length) return null;
  const tops = low.data.map((p, i) => (p[1] === null || span.data[i][1] === null)
    ? null : p[1] + span.data[i][1]);
  return {id: el.id, top: Math.max(...tops.filter(v => v !== null)), points: series[0].data.length,
          spike: series[0].data.filter(p => p[1] === 95).length,
          zoom: chart.getOption().dataZoom[0]};
}"""


def store_spike_day(database: Path, device_id: str, now: datetime) -> datetime:
    """A reading every 10 s at 40 °C over the last 24 h and a 5-second spike to 95 °C 6 h ago, written
    into the server's SQLite file as its writer would (the rollups' triggers mark them stale)."""
    start = now.replace(second=0, microsecond=0) - timedelta(hours=24)
    spike = now.replace(second=0, microsecond=0) - timedelta(hours=6) + timedelta(seconds=3)
    moments = [(start + timedelta(seconds=10 * i), 40.0) for i in range(24 * 360)]
    moments += [(spike + timedelta(seconds=s), 95.0) for s in range(5)]
    key = uuid.UUID(device_id).hex
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn, conn:
        conn.executemany(
            'INSERT INTO readings (device_id, "timestamp", value) VALUES (?, ?, ?)',
            [(key, m.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" "), v) for m, v in sorted(moments)],
        )
    return spike


async def test_zooming_into_a_spike_in_the_browser_fetches_its_real_shape(
    page: Page, live_server: LiveServer, rest: httpx.AsyncClient
) -> None:
    made = await rest.post(
        "/api/devices",
        json={
            "name": "Spiky kiln",
            "modbus_ip": "127.0.0.1",
            "modbus_port": 1,
            "modbus_slave_id": 1,
            "modbus_register": 3,
            "unit": "°C",
            "threshold_critical_upper": 55,
        },
    )
    assert made.status_code == 201, made.text
    device = made.json()
    spike = await asyncio.to_thread(
        store_spike_day, live_server.data_dir / "ddms.db", device["id"], datetime.now(UTC)
    )
    await logged_in_page(page, live_server)
    await page.goto(f"{live_server.url}/devices/{device['id']}")
    await page.wait_for_function(f"({ENVELOPE_JS})() && ({ENVELOPE_JS})().points > 500", timeout=30_000)
    state = await page.evaluate(ENVELOPE_JS)
    assert state["top"] == 95, "the 24 h view's band reaches the spike"
    assert state["spike"] == 0, "no 2-minute average is 95: only the band shows it"

    # A few turns of the mouse wheel over the spike: the page fetches the narrower window.
    await page.locator('[data-testid="history-chart"]').scroll_into_view_if_needed()
    x, y = await page.evaluate(
        "([id, t]) => { const el = document.getElementById(id), c = getElement(el).chart;"
        " const r = el.getBoundingClientRect(), p = c.convertToPixel({xAxisIndex: 0}, t);"
        " return [r.left + p, r.top + r.height / 2]; }",
        [state["id"], spike.timestamp() * 1000],
    )
    await page.mouse.move(x, y)
    for _turn in range(8):
        await page.mouse.wheel(0, -400)
    await expect(page.get_by_text(re.compile(r"bucket (?!120 )\d+ s"))).to_be_visible()
    assert "from=" in page.url, "the address bar names the zoomed window"

    # The slider or the toolbox end in the same dataZoom action: two minutes around the spike.
    await page.evaluate(
        "([id, a, b]) => getElement(document.getElementById(id))"
        ".chart.dispatchAction({type: 'dataZoom', startValue: a, endValue: b})",
        [state["id"], (spike.timestamp() - 60) * 1000, (spike.timestamp() + 60) * 1000],
    )
    await page.wait_for_function(f"({ENVELOPE_JS})().spike === 5", timeout=30_000)
    await expect(page.get_by_text("bucket 1 s", exact=False)).to_be_visible()
    state = await page.evaluate(ENVELOPE_JS)
    assert state["top"] == 95
