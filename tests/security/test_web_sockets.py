"""NiceGUI events count only on the socket of the page they name (``pages/sockets.py``), on ``ddms serve``.

Two anonymous visitors open the login page; the second replays the first one's "Log in" click (client
id, element id and listener id are all it needs) from its own socket. The replayed click must do
nothing; the same message on the first visitor's own socket runs the login attempt. The owner's
"confirm delete" replayed by a stranger is the same check in Chromium (tests/e2e/test_security_web.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LiveServer, start_server
from tests.security.nicegui_socket import PageSocket, PageView, open_page


@pytest.fixture(scope="module")
def socket_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("sockets"), extra_env={"COLLECTOR_ENABLED": "false"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def visitors(socket_server: LiveServer) -> AsyncIterator[tuple[PageView, PageView]]:
    """Two anonymous browsers on /login (separate cookie jars)."""
    async with (
        httpx.AsyncClient(base_url=socket_server.url) as first,
        httpx.AsyncClient(base_url=socket_server.url) as second,
    ):
        yield await open_page(first, "/login"), await open_page(second, "/login")


def failed_logins(server: LiveServer) -> int:
    return server.log().count("login failed")


async def logged_failures(server: LiveServer, count: int, within: float = 30.0) -> int:
    """Wait until the server has logged ``count`` failed logins (bcrypt runs after the first update)."""
    async with asyncio.timeout(within):
        while failed_logins(server) < count:  # noqa: ASYNC110 (another process's log file)
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # one that ran alongside would have been logged by now
    return failed_logins(server)


async def test_a_click_replayed_from_another_socket_is_ignored(
    socket_server: LiveServer, visitors: tuple[PageView, PageView]
) -> None:
    victim, stranger = visitors
    element_id, listener_id = victim.listeners("q-btn", "click")[-1]  # "Log in", the last button
    click = victim.event(element_id, listener_id)
    before = failed_logins(socket_server)
    async with (
        PageSocket(socket_server.url, victim) as victim_socket,
        PageSocket(socket_server.url, stranger) as stranger_socket,
    ):
        for _replay in range(3):
            await stranger_socket.emit("event", click)
        # The stranger's own click is handled after its earlier messages have been dispatched.
        own_id, own_listener = stranger.listeners("q-btn", "click")[-1]
        await stranger_socket.emit("event", stranger.event(own_id, own_listener))
        assert await logged_failures(socket_server, before + 1) == before + 1
        assert victim_socket.updates() == [], "a replayed click ran on the victim's page"

        await victim_socket.emit("event", click)  # the same message on the page's own socket
        await victim_socket.wait_for_update()
        assert await logged_failures(socket_server, before + 2) == before + 2


MALFORMED: list[tuple[str, object]] = [
    ("event", "not a dict"),
    ("event", {}),
    ("event", {"client_id": 42}),
    ("event", {"client_id": "00000000-0000-0000-0000-000000000000", "id": 1, "listener_id": "x"}),
    ("event", {"client_id": "random", "id": "1", "listener_id": None, "args": "x"}),
    ("javascript_response", {"client_id": "random"}),
    ("javascript_response", ["list"]),
    ("ack", {"client_id": "random", "next_message_id": "many"}),
    ("log", {"client_id": "random", "level": "critical", "message": "hi"}),
    ("handshake", {"client_id": "random"}),
    ("handshake", "not a dict"),
    ("handshake", None),
]


async def test_malformed_and_unknown_messages_leave_no_tracebacks(
    socket_server: LiveServer, visitors: tuple[PageView, PageView]
) -> None:
    page, _other = visitors
    element_id, listener_id = page.listeners("q-btn", "click")[-1]
    unreadable = page.event(element_id, listener_id) | {"args": ["{not json"]}
    async with PageSocket(socket_server.url, page) as own:
        for kind, message in [*MALFORMED, ("event", unreadable)]:
            await own.emit(kind, message)
        await own.sio.emit("event", ({"client_id": page.client_id}, "two", "arguments"))
        await asyncio.sleep(1.0)
    incomplete = PageView("00000000-0000-0000-0000-000000000000", {}, "")
    with pytest.raises(Exception, match=r"(?i)connect"):  # an implicit handshake for no client is refused
        async with PageSocket(socket_server.url, incomplete):
            pass
    async with httpx.AsyncClient(base_url=socket_server.url) as http:
        assert (await http.get("/api/health")).status_code == 200
    log = socket_server.log()
    assert "Traceback" not in log, log[-3000:]
    assert "handler error" not in log, log[-3000:]


def test_the_guard_is_installed_once(tmp_path: Path) -> None:
    """``install()`` is idempotent: wrapping twice would double the checks, not the protection."""
    from nicegui import core

    from pages import sockets

    sockets.install()
    first = dict(core.sio.handlers["/"])
    sockets.install()
    assert dict(core.sio.handlers["/"]) == first
    kinds = [*sockets.SHAPES, "handshake", "connect"]
    assert all(getattr(first[kind], "ddms_guarded", False) for kind in kinds)


def test_messages_shaped_as_nicegui_js_sends_them_pass_the_shape_check() -> None:
    """What nicegui.js emits (static/nicegui.js): the guard must never drop a real page's message."""
    from pages.sockets import well_formed

    client_id = "b41c2543-0372-4f03-895f-5f48f26c4397"
    assert well_formed(
        "event", {"id": 17, "client_id": client_id, "listener_id": "7a14df35", "args": ['"text"', None]}
    )
    assert well_formed("event", {"id": 5, "client_id": client_id, "listener_id": "l"})  # no args
    assert well_formed("javascript_response", {"request_id": "e1f0", "client_id": client_id, "result": 3})
    assert well_formed("ack", {"client_id": client_id, "next_message_id": 12})
    assert well_formed("log", {"client_id": client_id, "level": "error", "message": "too long"})
    assert not well_formed("event", {"id": True, "client_id": client_id, "listener_id": "l"})
