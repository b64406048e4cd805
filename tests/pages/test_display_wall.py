"""The wall display's pages: alarms first, paging driven by its rotation timer, new devices waiting.

The simulated browser runs no JavaScript, so the wall keeps its default layout (a 1920x1080 screen:
25 tiles a page at most). The rotation timer is driven by calling it (``?rotate=600`` keeps the real
one from moving the page during a test); the browser-measured layout is tests/e2e/test_wall_display.py.
"""

from __future__ import annotations

import uuid

from nicegui import ui
from nicegui.testing import User

from ddms.bus import StatusChange, get_bus
from ddms.models import Device, utcnow
from ddms.services.alarm_rules import AlarmEngine
from tests.pages.helpers import eventually, feed, make_device, publish

LIMITS = {"threshold_warning_upper": 80.0, "threshold_critical_upper": 95.0, "hysteresis": 1.0}
ROTATE = 600


def on_screen(user: User) -> list[uuid.UUID]:
    """The devices whose tiles are in the grid, in order."""
    grid = user.find(marker="tiles").elements.pop()
    return [
        uuid.UUID(str(child.props["data-testid"]).removeprefix("tile-"))
        for child in grid.default_slot.children
    ]


def indicator(user: User) -> ui.label:
    """The "Page 1 of 2" label (looked up in the layout: it is hidden while everything fits)."""
    assert user.client is not None
    found = [e for e in user.client.layout.descendants() if "page-indicator" in e._markers]
    assert len(found) == 1
    label = found.pop()
    assert isinstance(label, ui.label)
    return label


def turn(user: User, seconds: int = ROTATE) -> None:
    """``seconds`` ticks of the rotation timer, as if that much time passed."""
    timer = user.find(marker="rotation").elements.pop()
    assert isinstance(timer, ui.timer)
    assert timer.callback is not None
    for _ in range(seconds):
        timer.callback()


async def thirty_devices() -> list[Device]:
    made = [await make_device(f"Device {index:02d}", modbus_register=index, **LIMITS) for index in range(30)]
    for device in made:
        publish(device, 20.0)
    return made


async def test_alarms_are_on_the_first_page_and_the_rest_rotate_in_order(user: User) -> None:
    made = await thirty_devices()
    critical, warning, offline = made[29], made[17], made[3]
    publish(critical, 99.0, level="critical")
    publish(warning, 85.0, level="warning")
    get_bus().publish_status(StatusChange(offline.id, "offline", "timed out", utcnow(), previous="online"))
    normal = [device.id for device in made if device not in (critical, warning, offline)]

    await user.open(f"/display?rotate={ROTATE}")
    first = on_screen(user)
    assert len(first) == 15, "30 devices, at most 25 a page: two balanced pages"
    assert first == [critical.id, warning.id, offline.id, *normal[:12]]
    assert indicator(user).text == "Page 1 of 2"
    assert indicator(user).visible

    turn(user, ROTATE - 1)
    assert on_screen(user) == first, "a page stays for the whole interval"
    turn(user, 1)
    assert on_screen(user) == normal[12:]
    assert indicator(user).text == "Page 2 of 2"
    turn(user)
    assert on_screen(user) == first


async def test_a_new_alarm_brings_the_first_page_back_at_once(user: User, alarm_engine: AlarmEngine) -> None:
    made = await thirty_devices()
    await user.open(f"/display?rotate={ROTATE}")
    turn(user)
    assert indicator(user).text == "Page 2 of 2"
    late = made[-1]
    assert late.id in on_screen(user)

    await feed(late, 99.0)  # through the alarm engine: a critical alarm, not acknowledged
    await eventually(lambda: indicator(user).text == "Page 1 of 2")
    assert on_screen(user)[0] == late.id
    await user.should_see("Critical alarm, not acknowledged")


async def test_a_wall_that_fits_shows_every_tile_and_no_page_indicator(user: User) -> None:
    made = [await make_device(f"Pump {index}", modbus_register=index) for index in range(3)]
    await user.open("/display")
    assert sorted(on_screen(user)) == sorted(device.id for device in made)
    assert not indicator(user).visible
    await user.should_see(marker="clock")
    await user.should_see(marker="connection")


async def test_a_new_device_waits_for_its_first_reading_instead_of_showing_offline(user: User) -> None:
    fresh = await make_device("Fresh meter")
    await user.open("/display")
    with user.scope(marker=f"tile-{fresh.id}"):
        await user.should_see("Waiting for first reading")
        await user.should_not_see("Offline")
    tile = user.find(marker=f"tile-{fresh.id}").elements.pop()
    assert tile.props["data-level"] == "waiting"

    get_bus().publish_status(StatusChange(fresh.id, "offline", "timed out", utcnow(), previous="offline"))
    await eventually(lambda: tile.props["data-level"] == "offline")
    with user.scope(marker=f"tile-{fresh.id}"):
        await user.should_see("Offline")
        await user.should_not_see("Waiting for first reading")

    publish(fresh, 12.5)
    await eventually(lambda: tile.props["data-level"] == "normal")
    with user.scope(marker=f"tile-{fresh.id}"):
        await user.should_see("12.5")
        await user.should_see("Normal")


async def test_a_device_polled_before_shows_offline_not_waiting(user: User) -> None:
    old = await make_device("Old meter")
    publish(old, 3.0, status="offline")  # a reading once; the collector now says offline
    await user.open("/display")
    with user.scope(marker=f"tile-{old.id}"):
        await user.should_see("Offline")
        await user.should_not_see("Waiting for first reading")
