"""The alarm UI: the bell in the frame, /alarms (filters, acknowledgement), the drawer, latched cards.

Alarms come from the real engine (``alarm_engine``) fed readings the way the collector does, and are
stored by the real service; the pages learn of them from the bus only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from nicegui import ui
from nicegui.testing import User

import ddms.db
from ddms.models import Role, utcnow
from ddms.models import User as Account
from ddms.services import alarms, notifications
from ddms.services.alarm_rules import AlarmEngine
from tests.pages.helpers import eventually, feed, make_device, make_group, texts
from tests.pages.test_i18n import english_words

LIMITS = {"threshold_warning_upper": 80.0, "threshold_critical_upper": 95.0, "hysteresis": 1.0}


def badge(user: User) -> ui.badge:
    """The bell's badge (hidden while the count is 0, so looked up in the layout, not by sight)."""
    assert user.client is not None
    found = [e for e in user.client.layout.descendants() if "alarm-count" in e._markers]
    assert len(found) == 1
    element = found.pop()
    assert isinstance(element, ui.badge)
    return element


def bell_count(user: User) -> str:
    element = badge(user)
    return element.text if element.visible else "0"


def title(user: User) -> str:
    assert user.client is not None
    return user.client.title or ""


async def acknowledge_in_dialog(user: User, comment: str | None = None) -> None:
    if comment is not None:
        user.find(marker="ack-comment").type(comment)
    user.find(marker="confirm-ack").click()


async def test_bell_counts_and_acknowledging_on_alarms_drops_it(
    user: User, reader: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    boiler = await make_device("Boiler", **LIMITS)
    pump = await make_device("Pump", **LIMITS)
    await sign_in(reader)
    await user.open("/")
    assert bell_count(user) == "0"
    assert not title(user).startswith("(")

    assert await feed(boiler, 97.0) == "critical"
    assert await feed(pump, 85.0) == "warning"
    await eventually(lambda: bell_count(user) == "2")
    assert "#c62828" in badge(user).style["background"], "coloured by the worst severity (critical)"
    assert title(user).startswith("(2) ")

    await user.open("/alarms")
    assert bell_count(user) == "2"
    boiler_alarm = next(a for a in alarms.active_summary().active_for(boiler.id))
    row = f"alarm-{boiler_alarm.id}"
    await user.should_see(marker=row)
    with user.scope(marker=row):
        user.find(marker="ack").click()
    await acknowledge_in_dialog(user, "steam valve opened")
    await eventually(lambda: bell_count(user) == "1")
    assert "#f59e0b" in badge(user).style["background"], "the worst left is the warning"
    await user.should_see("Acknowledged by operator")
    await user.should_see("steam valve opened")
    async with ddms.db.session_scope() as session:
        stored = await alarms.get_alarm(session=session, alarm_id=boiler_alarm.id)
    assert (stored.acknowledged_by, stored.comment) == ("operator", "steam valve opened")

    user.find(marker="ack-all").click()
    await acknowledge_in_dialog(user)
    await eventually(lambda: bell_count(user) == "0")
    assert title(user).startswith("Alarms · "), title(user)


async def test_filters_select_severity_device_group_and_state(
    user: User, admin: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    boiler = await make_device("Boiler", **LIMITS)
    pump = await make_device("Pump", **LIMITS)
    await make_group("Steam", [boiler])
    await feed(boiler, 97.0)
    await feed(pump, 85.0)
    await feed(pump, 50.0)  # back to normal: cleared (latched until acknowledged)
    await sign_in(admin)
    await user.open("/alarms")
    active = {a.device_id: a.id for a in alarms.active_summary().by_device[boiler.id]}
    boiler_row = f"alarm-{active[boiler.id]}"
    pump_alarm = alarms.active_summary().by_device[pump.id][0]
    pump_row = f"alarm-{pump_alarm.id}"
    assert pump_alarm.latched
    await user.should_see(marker=boiler_row)
    await user.should_not_see(marker=pump_row)  # state filter: active by default
    await user.should_see(marker=f"history-{pump_alarm.id}")

    def choose(marker: str, value: str) -> None:
        user.find(marker=marker).elements.pop().value = value

    choose("filter-state", "all")
    await user.should_see(marker=pump_row)
    choose("filter-severity", "warning")
    await user.should_not_see(marker=boiler_row)
    await user.should_see(marker=pump_row)
    choose("filter-severity", "")
    choose("filter-device", str(pump.id))
    await user.should_not_see(marker=boiler_row)
    choose("filter-device", "")
    steam = next(
        k for k, v in user.find(marker="filter-group").elements.pop().options.items() if v == "Steam"
    )
    choose("filter-group", steam)  # the group's members are read first: wait for the rows to go
    await user.should_not_see(marker=pump_row, retries=100)
    await user.should_see(marker=boiler_row)
    await user.should_not_see(marker=f"history-{pump_alarm.id}", retries=100)


async def test_drawer_lists_marks_read_and_dismisses(
    user: User, admin: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    boiler = await make_device("Boiler", **LIMITS)
    await feed(boiler, 85.0)
    await sign_in(admin)
    await user.open("/devices")
    user.find(marker="alarm-bell").click()
    await user.should_see(marker="notification-drawer")
    await user.should_see("1 unread")
    await user.should_see("Warning limit crossed")
    await feed(boiler, 97.0)  # escalated: pushed into the open drawer
    await user.should_see("Critical limit crossed", retries=100)
    await user.should_see("2 unread")

    async with ddms.db.session_scope() as session:
        page = await notifications.list_for_user(session=session, user_id=admin.id)
    newest, oldest = page.notifications
    with user.scope(marker=f"notification-{newest.id}"):
        user.find(marker="mark-read").click()
    await user.should_see("1 unread")
    with user.scope(marker=f"notification-{oldest.id}"):
        await user.should_see(marker="mark-read")
    user.find(marker="mark-all-read").click()
    await user.should_see("0 unread")
    await user.should_not_see(marker="mark-read")
    async with ddms.db.session_scope() as session:
        assert await notifications.unread_count(session=session, user_id=admin.id) == 0

    with user.scope(marker=f"notification-{oldest.id}"):
        user.find(marker="dismiss").click()
    await user.should_not_see(marker=f"notification-{oldest.id}")
    await user.should_see(marker=f"notification-{newest.id}")
    async with ddms.db.session_scope() as session:
        page = await notifications.list_for_user(session=session, user_id=admin.id)
    assert [item.id for item in page.notifications] == [newest.id]


async def test_cards_and_tiles_stay_latched_until_acknowledged(
    user: User,
    make_account: Callable[..., Awaitable[Account]],
    sign_in: Callable[[Account], Awaitable[None]],
    alarm_engine: AlarmEngine,
) -> None:
    quiet = await make_device("A quiet one", **LIMITS)
    boiler = await make_device("Boiler", **LIMITS)
    await feed(quiet, 20.0)
    await feed(boiler, 20.0)
    operator = await make_account("night", Role.READ_ONLY)
    await sign_in(operator)
    await user.open("/")
    await user.should_see(marker=f"device-card-{boiler.id}")
    await feed(boiler, 97.0)
    await user.should_see("Critical alarm, not acknowledged", retries=100)
    await feed(boiler, 20.0)  # the value is normal again; the alarm stays until acknowledged
    await user.should_see("Critical alarm cleared, not acknowledged", retries=100)
    element = user.find(marker=f"device-card-{boiler.id}").elements.pop()  # redrawn: alarms sort first
    assert "ddms-latched" in element.classes

    await user.open("/display")
    tiles = user.find(marker="tiles").elements.pop()
    order = [child.props.get("data-testid") for child in tiles.default_slot.children]
    assert order[0] == f"tile-{boiler.id}", "the wall shows alarms first"
    await user.should_see("Critical alarm cleared, not acknowledged")

    latched = alarms.active_summary().active_for(boiler.id)[0]
    async with ddms.db.session_scope() as session:
        await alarms.acknowledge(session=session, alarm_id=latched.id, username="night")
    await user.should_not_see("Critical alarm cleared, not acknowledged", retries=100)
    await eventually(
        lambda: next(c.props.get("data-testid") for c in tiles.default_slot.children) == f"tile-{quiet.id}"
    )


async def test_device_detail_shows_alarm_history_and_episodes(
    user: User, reader: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    boiler = await make_device("Boiler", **LIMITS)
    await feed(boiler, 85.0)
    await feed(boiler, 97.0)
    await feed(boiler, 20.0)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    history = user.find(marker="alarm-history")
    await user.should_see(marker="alarm-event")
    transitions = [
        marker
        for element in history.elements.pop().descendants()
        for marker in element._markers
        if marker in ("raised", "escalated", "cleared")
    ]
    assert transitions == ["cleared", "escalated", "raised"]
    chart = user.find(marker="history-chart").elements.pop()
    areas = chart.options["series"][0]["markArea"]["data"]
    episodes = [area for area in areas if "xAxis" in area[0]]
    assert len(episodes) == 1
    assert episodes[0][0]["itemStyle"]["color"] == "#c62828", "the episode's worst severity"


async def test_history_exports_as_csv_for_a_signed_in_browser(
    user: User, reader: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    anonymous = await user.http_client.get("/ui/export/alarms")
    assert anonymous.status_code == 401
    hostile = await make_device("=HYPERLINK(1)", **LIMITS)
    start = utcnow() - timedelta(minutes=1)
    await feed(hostile, 97.0)
    await feed(hostile, 20.0)  # cleared: in the history
    await sign_in(reader)
    latched = alarms.active_summary().active_for(hostile.id)[0]
    async with ddms.db.session_scope() as session:
        await alarms.acknowledge(session=session, alarm_id=latched.id, username="operator", comment="+1 ok")
    window = {"start_time": start.isoformat(), "end_time": (utcnow() + timedelta(minutes=1)).isoformat()}
    reply = await user.http_client.get("/ui/export/alarms", params=window)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["content-disposition"].startswith("attachment; filename=alarms_")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0][:5] == ["raised_at", "cleared_at", "device_name", "kind", "severity"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["device_name"], row["severity"], row["peak_value"]) == ("'=HYPERLINK(1)", "critical", "97.0")
    assert (row["acknowledged_by"], row["comment"]) == ("operator", "'+1 ok")
    bad = await user.http_client.get("/ui/export/alarms", params={"severity": "loud"})
    assert bad.status_code == 400
    empty = await user.http_client.get("/ui/export/alarms", params={**window, "severity": "warning"})
    assert empty.text.splitlines() == [",".join(rows[0])]


async def test_alarms_and_notifications_in_chinese_show_no_english(
    user: User,
    make_account: Callable[..., Awaitable[Account]],
    sign_in: Callable[[Account], Awaitable[None]],
    alarm_engine: AlarmEngine,
) -> None:
    boss = await make_account("boss", Role.OWNER, language="zh")
    boiler = await make_device("Boiler", unit="bar", **LIMITS)
    for value in (85.0, 97.0, 85.0, 20.0, 97.0):  # raised, escalated, de-escalated, cleared, raised
        await feed(boiler, value)
    await sign_in(boss)
    await user.open("/alarms")
    user.find(marker="alarm-bell").click()
    await user.should_see("超出严重限值")  # "Critical limit crossed": the drawer has loaded
    shown = texts(user)
    assert english_words(shown, {"Boiler", "boss", "bar", "Plant DDMS", "DDMS"}) == []
    assert "Boiler：严重（升级）" in shown, "the engine's English title, translated"
    assert any(text.startswith("数值 97") for text in shown)


def listen_for_beeps(user: User, beeps: list[str]) -> None:
    """Record the WebAudio beeps the page sends to the browser (messages of this client)."""
    assert user.client is not None
    outbox = user.client.outbox
    send = outbox._emit

    async def emit(message: Any) -> None:
        _target, kind, data = message
        if kind == "run_javascript" and "createOscillator" in data.get("code", ""):
            beeps.append("beep")
        await send(message)

    outbox._emit = emit  # type: ignore[method-assign]


async def test_sound_is_off_by_default_and_beeps_once_per_new_critical_when_on(
    user: User, reader: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    beeps: list[str] = []
    boiler = await make_device("Boiler", **LIMITS)
    pump = await make_device("Pump", **LIMITS)
    await sign_in(reader)
    await user.open("/profile")
    listen_for_beeps(user, beeps)
    switch = user.find(marker="profile-alarm-sound").elements.pop()
    assert switch.value is False, "off by default"
    await feed(boiler, 97.0)
    await eventually(lambda: bell_count(user) == "1")
    assert beeps == []

    switch.value = True  # kept per user, like dark mode: the drawer's switch shows it too
    await user.open("/")
    listen_for_beeps(user, beeps)
    assert user.find(marker="alarm-sound").elements.pop().value is True
    await feed(pump, 85.0)  # a warning: no sound
    await eventually(lambda: bell_count(user) == "2")
    assert beeps == []
    await feed(pump, 97.0)  # escalated to critical: one beep
    await eventually(lambda: beeps == ["beep"])
    await feed(pump, 98.0)  # still critical, a new peak: no transition, no beep
    await user.should_see(marker=f"device-card-{pump.id}")
    assert beeps == ["beep"]


async def test_a_cleared_alarm_is_acknowledged_from_the_history(
    user: User, reader: Account, sign_in: Callable[[Account], Awaitable[None]], alarm_engine: AlarmEngine
) -> None:
    pump = await make_device("Pump", **LIMITS)
    await feed(pump, 85.0)
    await feed(pump, 20.0)  # cleared, nobody acknowledged it: latched
    latched = alarms.active_summary().active_for(pump.id)[0]
    assert latched.latched
    await sign_in(reader)
    await user.open("/alarms")
    with user.scope(marker=f"history-{latched.id}"):
        user.find(marker="ack").click()
    await acknowledge_in_dialog(user, "seen in the morning")
    await user.should_not_see(marker="ack-dialog", retries=100)  # closed once the history is re-read
    with user.scope(marker=f"history-{latched.id}"):
        await user.should_see("operator", retries=100)
        await user.should_not_see(marker="ack")
    assert alarms.active_summary().active_for(pump.id) == [], "no longer latched on the cards"
