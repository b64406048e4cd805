"""Browser sessions on disk: none for anonymous visitors, and stale ones are swept.

Against ``ddms serve``: 50 anonymous views of /display and /login (each a new browser, some with the
page's socket connected and the language switched) leave the session directory empty, while one login
through the page's socket writes a session there (so the empty directory is not for want of looking in
the right place). The sweep itself runs on an injected clock.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import ddms.db
from ddms.config import load_settings
from ddms.models import BrowserSession
from pages import session_store
from tests.api.helpers import add_user
from tests.e2e.conftest import OWNER, OWNER_PASSWORD, LiveServer, start_server
from tests.security.nicegui_socket import PageSocket, open_page


@pytest.fixture(scope="module")
def session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("sessions"), extra_env={"COLLECTOR_ENABLED": "false"})
    try:
        yield server
    finally:
        server.stop()


def stored_sessions(server: LiveServer) -> list[str]:
    directory = server.data_dir / session_store.DIRECTORY_NAME
    return sorted(path.name for path in directory.glob("storage-*"))


async def test_anonymous_page_views_store_nothing(session_server: LiveServer) -> None:
    for view in range(50):
        path = "/display" if view % 2 else "/login"
        async with httpx.AsyncClient(base_url=session_server.url) as browser:  # a new browser each time
            page = await open_page(browser, path)
            if view % 10 == 0:  # the page's socket too (dark mode sent back), and the language switch
                ((dark, listener),) = page.listeners("nicegui-dark_mode", "update:value")
                async with PageSocket(session_server.url, page) as socket:
                    await socket.emit("event", page.event(dark, listener, [True]))
                    await asyncio.sleep(0.2)
                switched = await browser.get(f"/language/zh?next={path}", follow_redirects=True)
                assert switched.status_code == 200
                assert "中文" in switched.text
    await asyncio.sleep(1.0)  # NiceGUI writes a changed storage from a background task
    assert stored_sessions(session_server) == []


async def test_a_login_stores_its_session_in_the_data_directory(session_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=session_server.url) as browser:
        page = await open_page(browser, "/login")
        inputs = page.listeners("nicegui-input", "update:value")
        (username, name_listener), (password, password_listener) = inputs
        button, click = page.listeners("q-btn", "click")[-1]
        async with PageSocket(session_server.url, page) as socket:
            await socket.emit("event", page.event(username, name_listener, [OWNER]))
            await socket.emit("event", page.event(password, password_listener, [OWNER_PASSWORD]))
            await socket.emit("event", page.event(button, click))
            async with asyncio.timeout(30):
                while not stored_sessions(session_server):  # noqa: ASYNC110 (another process writes it)
                    await asyncio.sleep(0.1)
        session_id = browser.cookies["session"]
    assert len(stored_sessions(session_server)) == 1
    assert session_id


def make_session(directory: Path, session_id: str, age: float, now: float) -> Path:
    path = directory / f"storage-user-{session_id}.json"
    path.write_text("{}", encoding="utf-8")
    os.utime(path, (now - age, now - age))
    return path


WEEK = 7 * 86400.0
NOW = 1_800_000_000.0


def test_sessions_unused_for_longer_than_the_refresh_lifetime_are_deleted(tmp_path: Path) -> None:
    stale = make_session(tmp_path, "stale", WEEK + 60, NOW)
    recent = make_session(tmp_path, "recent", WEEK - 60, NOW)
    active = make_session(tmp_path, "active", 30 * 86400, NOW)
    leftover = tmp_path / "storage-user-crashed.json.tmp"
    leftover.write_text("{", encoding="utf-8")
    os.utime(leftover, (NOW - WEEK - 1, NOW - WEEK - 1))
    other = tmp_path / "notes.txt"
    other.write_text("not a session", encoding="utf-8")
    os.utime(other, (0, 0))

    removed = session_store.sweep(tmp_path, now=NOW, max_age=WEEK, active={"active"})

    assert removed == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([recent.name, active.name, other.name])
    assert active.stat().st_mtime == NOW  # used since the last sweep: its clock starts again
    assert not stale.exists()


async def test_the_sweeper_refreshes_sessions_seen_since_its_last_run(
    tmp_path: Path, database: ddms.db.Database
) -> None:
    """The file here and the shared row (any instance rebuilds a session from it) alike."""
    settings = load_settings(ddms_data_dir=tmp_path, refresh_token_expire_days=7)
    directory = session_store.session_directory(settings)
    directory.mkdir()
    clock = [NOW]
    sweeper = session_store.SessionSweeper(settings, clock=lambda: clock[0])
    kept = make_session(directory, "kept", WEEK - 1, NOW)
    user = await add_user("sweeper-test", "read_only")
    written = datetime.fromtimestamp(NOW - WEEK + 1, UTC)
    async with ddms.db.session_scope() as session:
        for browser in ("kept", "elsewhere"):
            session.add(BrowserSession(browser_id=browser, user_id=user.id, token_version=0, used_at=written))
        await session.commit()
    session_store.note_active("kept")
    assert await sweeper.sweep_once() == 0
    clock[0] = NOW + WEEK - 1  # a week after the refresh, not after the file was written
    assert await sweeper.sweep_once() == 1, "the row nobody used since it was written"
    clock[0] = NOW + WEEK + 1  # not seen again: now it goes
    assert await sweeper.sweep_once() == 2, "its file and its row"
    assert not kept.exists()
    async with ddms.db.session_scope() as session:
        assert await session.get(BrowserSession, "kept") is None
