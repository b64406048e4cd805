"""A wall-display tab leaves nothing behind once it is closed: no client, bus listener or timer.

Each round opens /display through a display link (so the admission re-check runs too), lets a few
readings arrive, then closes the tab the way a browser does (its socket disconnects; NiceGUI deletes
the client after the reconnect timeout, shortened here). After N rounds the counts must be back
where they started: NiceGUI clients (registered and still alive in memory), the bus's listeners of
every kind, and running NiceGUI timers. Counts, not megabytes, so the outcome does not depend on the
allocator or the machine.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest
from nicegui import Client, core
from nicegui.elements.timer import Timer
from nicegui.testing import User

import ddms.db
from ddms.bus import Bus, get_bus
from ddms.config import Settings, load_settings
from ddms.schemas.display_tokens import DisplayTokenCreate
from ddms.services import display_tokens
from tests.pages import harness
from tests.pages.helpers import make_device, publish

ROUNDS = 12


@pytest.fixture
def ui_settings(ui_settings: Settings) -> Settings:
    private = load_settings(**(ui_settings.model_dump() | {"public_stream": False}))
    harness.current_settings = private
    return private


@pytest.fixture
def quick_reconnect_timeout(user: User) -> Iterator[None]:
    """Closed tabs are deleted 50 ms after their socket goes (the app's setting is made by ``ui.run``)."""
    config = core.app.config
    saved = config.reconnect_timeout
    config.reconnect_timeout = 0.05
    try:
        yield
    finally:
        config.reconnect_timeout = saved


def listeners(bus: Bus) -> dict[str, int]:
    """Every listener list the bus keeps, by name (callbacks, device changes, revocations, ...)."""
    return {name: len(value) for name, value in vars(bus).items() if isinstance(value, list)}


def alive(kind: type, *, but: object = None) -> int:
    """Objects of ``kind`` still in memory (``but``: one the test itself still holds)."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is kind and obj is not but)


async def until(check: object, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def close_tab(client: Client) -> None:
    """What a browser closing the tab does: its sockets disconnect; then wait for the deletion."""
    for socket_id in list(client._socket_to_document_id):
        client.handle_disconnect(socket_id)
    await until(lambda: client.is_deleted and not client._delete_tasks)


@pytest.mark.usefixtures("quick_reconnect_timeout")
async def test_opening_and_closing_the_display_leaves_nothing_behind(user: User) -> None:
    devices = [await make_device(f"Tile {n}") for n in range(3)]
    async with ddms.db.session_scope() as session:
        link = await display_tokens.create_token(session=session, data=DisplayTokenCreate(name="Lobby"))
    bus = get_bus()
    baseline_listeners = listeners(bus)
    baseline_clients = len(Client.instances)
    baseline_alive = alive(Client)

    for round_ in range(ROUNDS):
        client = await user.open(f"/display?token={link.secret}")
        await user.should_see(marker=f"tile-{devices[0].id}")
        assert listeners(bus) != baseline_listeners  # the open tab listens (else this test proves nothing)
        for device in devices:
            publish(device, float(round_))
        await user.should_see(f"{round_}", retries=100)
        await close_tab(client)
        del client

    await until(lambda: len(Client.instances) == baseline_clients)
    assert listeners(bus) == baseline_listeners
    await until(lambda: alive(Timer) == 0)  # each page's timers stopped and were collected
    # No closed client is kept alive in memory (by a listener, a timer's task or a closure); the
    # simulated browser itself keeps a reference to the last one it opened.
    await until(lambda: alive(Client, but=user.client) == baseline_alive)
