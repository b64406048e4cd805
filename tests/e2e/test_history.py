"""A device's history in a real browser: the chart is drawn with its threshold lines, and the CSV
export downloads the readings the collector stored from the simulator."""

from __future__ import annotations

import csv
import io
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
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["timestamp", "value", "unit"]
    assert len(rows) >= 2, text
    stamps = [row[0] for row in rows[1:]]
    assert stamps == sorted(stamps, reverse=True), "newest first"
    assert all(row[2] == "°C" for row in rows[1:])
    assert all(40 < float(row[1]) < 90 for row in rows[1:]), "values are the simulated boiler's"
    stored = (await rest.get(f"/api/readings/{boiler['id']}/count")).json()["count"]
    assert len(rows) - 1 <= stored
