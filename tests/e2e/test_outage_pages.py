"""PostgreSQL going away under an open browser: the page says so in words, then comes back by itself.

``ddms serve`` reaches PostgreSQL through a TCP relay that the test closes (connections refused, as
when the server is down: the ``ConnectionRefusedError`` people saw on NiceGUI's 500 page) and
opens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy.engine.url import make_url

from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tests.e2e.conftest import LiveServer, free_port, login, start_server

LEAKS = ("ConnectionRefusedError", "Server error", "Traceback", "OperationalError", "Errno")


class Relay:
    """127.0.0.1:<port> -> PostgreSQL, byte for byte, until ``close()`` refuses and cuts everything."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()
        self.writers.discard(writer)


async def assert_no_exception_text(page: Page) -> None:
    shown = await page.locator("body").inner_text()
    assert not [word for word in LEAKS if word in shown], shown


async def test_a_page_opened_during_an_outage_loads_by_itself_when_postgresql_is_back(
    tmp_path: Path, page: Page
) -> None:
    url = await create_pg_database()
    relay = Relay(make_url(PG_ADMIN_URL).port or 5432)
    await relay.open()
    server: LiveServer | None = None
    try:
        relayed = make_url(url).set(port=relay.port).render_as_string(hide_password=False)
        server = await asyncio.to_thread(start_server, tmp_path, extra_env={"DATABASE_URL": relayed})
        await login(page, server)
        await expect(page.get_by_test_id("page-title")).to_have_text("Dashboard")

        await relay.close()
        await page.goto(server.url + "/devices")
        await expect(page.get_by_text("The database cannot be reached.")).to_be_visible()
        await expect(page.get_by_role("button", name="Retry")).to_be_visible()
        await assert_no_exception_text(page)
        await page.evaluate("window.__same_document = true")

        await relay.open()  # the panel's timer retries (2 s, then 4 s ...): no click, no reload
        await expect(page.get_by_test_id("page-title")).to_have_text("Devices", timeout=30_000)
        await expect(page.get_by_text("The database cannot be reached.")).to_have_count(0)
        assert await page.evaluate("window.__same_document === true"), "the page was reloaded"
        await assert_no_exception_text(page)
    finally:
        if server is not None:
            assert await asyncio.to_thread(server.stop) == 0, server.log()[-3000:]
        if relay.server is not None:
            await relay.close()
        await drop_pg_database(url)
