"""Device detail: history chart from the series service, thresholds, presets, live extension, export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User

import ddms.db
from ddms.bus import PollStats, get_bus
from ddms.models import Reading, utcnow
from ddms.models import User as Account
from tests.pages.helpers import eventually, make_device, publish, texts


async def store_readings(device_id, minutes: int, now: datetime | None = None) -> None:
    """One reading a minute, the newest a minute before ``now``."""
    now = now or utcnow().replace(microsecond=0)
    async with ddms.db.session_scope() as session:
        session.add_all(
            Reading(device_id=device_id, timestamp=now - timedelta(minutes=m), value=float(m))
            for m in range(1, minutes + 1)
        )
        await session.commit()


def chart(user: User) -> ui.echart:
    return user.find(marker="history-chart").elements.pop()


def readings_shown(user: User) -> int:
    """How many readings the chart's buckets hold (each point is [time, avg, min, max, count])."""
    return sum(point[4] for point in chart(user).options["series"][0]["data"])


async def test_history_chart_shows_stored_readings_with_threshold_lines(
    user: User, reader: Account, sign_in
) -> None:
    boiler = await make_device("Boiler", threshold_warning_upper=80, threshold_critical_upper=95)
    await store_readings(boiler.id, 30)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: chart(user).options["series"][0]["data"])
    series = chart(user).options["series"][0]
    assert readings_shown(user) == 30
    assert len(series["data"]) < 30  # 24 h with at most 1000 points: readings share 2-minute buckets
    assert [line["yAxis"] for line in series["markLine"]["data"]] == [80, 95]
    assert series["markArea"]["data"]  # coloured normal / warning / critical bands
    assert chart(user).options["dataZoom"][0]["type"] == "inside"


async def test_presets_change_the_range(user: User, reader: Account, sign_in, page_now: datetime) -> None:
    boiler = await make_device("Boiler")
    await store_readings(boiler.id, 120, page_now)  # the oldest of the last hour exactly 1 h before now
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: chart(user).options["series"][0]["data"])
    assert readings_shown(user) == 120  # every stored reading falls in the last 24 h
    user.find(marker="range-presets").elements.pop().value = "1h"
    await eventually(lambda: readings_shown(user) < 120)
    assert readings_shown(user) == 60  # one per minute of the last hour, its first instant included
    starts = [datetime.fromisoformat(point[0]) for point in chart(user).options["series"][0]["data"]]
    hour_ago = page_now - timedelta(hours=1)
    first_bucket = datetime.fromtimestamp(int(hour_ago.timestamp()) // 5 * 5, UTC)  # 1 h, 1000 points: 5 s
    assert min(starts) == first_bucket
    assert max(starts) <= page_now
    # The From/To fields show the preset's window (browser zone: UTC in the simulated client).
    assert user.find(marker="range-start").elements.pop().value == hour_ago.strftime("%Y-%m-%dT%H:%M")
    assert user.find(marker="range-end").elements.pop().value == page_now.strftime("%Y-%m-%dT%H:%M")


async def test_live_reading_extends_the_line(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler")
    await store_readings(boiler.id, 5)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: chart(user).options["series"][0]["data"])
    shown = len(chart(user).options["series"][0]["data"])
    publish(boiler, 123.0)
    await eventually(lambda: len(chart(user).options["series"][0]["data"]) == shown + 1)
    assert chart(user).options["series"][0]["data"][-1][1] == 123.0


async def test_export_downloads_csv_of_the_shown_range(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler", unit="=1+1")
    await store_readings(boiler.id, 3)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    user.find("Export CSV").click()
    response = await user.download.next()
    assert response.content.startswith("\ufeff".encode())  # for spreadsheets (an option, on by default)
    body = response.content.decode("utf-8-sig")
    assert body.splitlines()[0] == "timestamp,value,unit"
    assert len(body.splitlines()) == 4
    assert {line.split(",")[-1] for line in body.splitlines()[1:]} == {"'=1+1"}  # never a formula


async def test_unknown_device_says_not_found(user: User, reader: Account, sign_in) -> None:
    await sign_in(reader)
    await user.open("/devices/00000000-0000-0000-0000-000000000000")
    await user.should_see("Device not found")


async def test_custom_range_shows_only_that_range(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler")
    await store_readings(boiler.id, 120)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: readings_shown(user) == 120)
    now = utcnow()  # the browser's zone is UTC in these tests
    local = "%Y-%m-%dT%H:%M"
    user.find(marker="range-start").elements.pop().value = (now - timedelta(minutes=90)).strftime(local)
    user.find(marker="range-end").elements.pop().value = (now - timedelta(minutes=30)).strftime(local)
    user.find(marker="range-apply").click()
    await eventually(lambda: readings_shown(user) in (59, 60, 61))
    assert user.find(marker="range-presets").elements.pop().value is None


async def test_custom_range_must_end_after_it_starts(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler")
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    user.find(marker="range-start").elements.pop().value = "2026-01-02T00:00"
    user.find(marker="range-end").elements.pop().value = "2026-01-01T00:00"
    user.find(marker="range-apply").click()
    await user.should_see("The end must be after the start", retries=100)


async def test_export_needs_a_signed_in_browser(user: User) -> None:
    boiler = await make_device("Boiler")
    response = await user.http_client.get(f"/ui/export/device/{boiler.id}")
    assert response.status_code == 401


async def test_a_long_live_tail_is_re_bucketed(
    user: User, reader: Account, sign_in, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pages import device_detail

    boiler = await make_device("Boiler")
    await store_readings(boiler.id, 5)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: readings_shown(user) == 5)
    monkeypatch.setattr(device_detail, "MAX_APPENDED", 3)
    start = utcnow()
    for second in range(1, 3):
        publish(boiler, 100.0 + second, at=start + timedelta(seconds=second))
        await eventually(lambda second=second: readings_shown(user) == 5 + second)
    publish(boiler, 103.0, at=start + timedelta(seconds=3))
    # the third live point triggers a reload from the series service, which holds the 5 stored readings
    await eventually(lambda: readings_shown(user) == 5)


async def test_detail_follows_an_edit_made_elsewhere(user: User, reader: Account, sign_in) -> None:
    from ddms.schemas.devices import DeviceUpdate
    from ddms.services import devices

    boiler = await make_device("Boiler", unit="°C")
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    assert "°C" in texts(user)
    async with ddms.db.session_scope() as session:
        await devices.update_device(session=session, device_id=boiler.id, data=DeviceUpdate(unit="K"))
    await eventually(lambda: "K" in texts(user) and "°C" not in texts(user))  # the page was rebuilt


async def test_device_page_shows_the_collectors_poll_accounting(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler")
    stats = PollStats(on_time=1234, late=5, missed=2, failed=7)
    get_bus().track_poll_stats(boiler.id, stats)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await user.should_see("Polls on time")
    await eventually(lambda: user.find(marker="poll-on_time").elements.pop().text == "1,234")
    assert [user.find(marker=f"poll-{key}").elements.pop().text for key in ("late", "missed", "failed")] == [
        "5",
        "2",
        "7",
    ]
    stats.late = 6  # the collector counts on; the page follows from memory
    await eventually(lambda: user.find(marker="poll-late").elements.pop().text == "6")  # next 2 s refresh
