"""A wall display left open survives a server restart: the page reconnects and shows live values
again without anyone touching the screen."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.e2e.conftest import VIEWPORT, start_server

NUMBER = re.compile(r"^-?[\d,.]+$")


async def test_wall_display_recovers_by_itself_after_a_server_restart(
    browser: Browser, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(start_server, tmp_path, simulator=True)
    port, simulator_port = server.port, server.simulator_port
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        wall = await context.new_page()
        await wall.goto(server.url + "/display")
        value = wall.locator(".ddms-tile").filter(has_text="Sim energy meter").locator(".ddms-numeral")
        await expect(value).to_have_text(NUMBER, timeout=20_000)

        assert await asyncio.to_thread(server.stop) == 0
        await expect(wall.get_by_text("Disconnected")).to_be_visible()
        server = await asyncio.to_thread(
            start_server, tmp_path, simulator=True, port=port, simulator_port=simulator_port
        )
        await expect(wall.get_by_text("Connected", exact=True)).to_be_visible(timeout=30_000)
        await expect(value).to_have_text(NUMBER, timeout=20_000)
        after_restart = await value.inner_text()
        await expect(value).not_to_have_text(after_restart, timeout=15_000)
    finally:
        await context.close()
        assert await asyncio.to_thread(server.stop) == 0, server.log()[-3000:]
