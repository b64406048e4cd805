"""History charts that tell the truth: the min/max envelope keeps a short spike visible at every zoom
level, zooming fetches the visible window at screen resolution, gaps break the line, and the export,
the From/To fields and the URL follow what is visible."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from nicegui import ui
from nicegui.testing import User

from ddms.models import User as Account
from ddms.services.alarm_rules import AlarmEngine
from pages.components import charts
from tests.history.helpers import add_rows
from tests.pages.helpers import eventually, feed, make_device, make_group

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEZONE_JS = re.compile(r".*Intl\.DateTimeFormat.*")


def chart(user: User, marker: str = "history-chart") -> ui.echart:
    return user.find(marker=marker).elements.pop()


def line(user: User) -> list[list[Any]]:
    return chart(user).options["series"][0]["data"]


def envelope_top(user: User, key: str = "0", marker: str = "history-chart") -> float:
    return max(high for _t, _low, high in charts.envelope_bounds(chart(user, marker).options, key) if high)


def info(user: User) -> str:
    return user.find(marker="series-info").elements.pop().text


def ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def zoom(
    user: User, start: datetime, end: datetime, marker: str = "history-chart", width: int = 1000
) -> None:
    """What the browser sends when the visible window changes (wheel, touch, slider or toolbox)."""
    payload = {"start": ms(start), "end": ms(end), "width": width}
    user.find(marker=marker).trigger("chart:datazoom", payload)


async def store_day_with_spike(device_id, now: datetime) -> datetime:
    """A reading every 10 s at 40 °C for the last 24 h, and a 5-second spike to 95 °C 6 h ago (five
    readings a second apart); returns the spike's first instant."""
    start = now.replace(second=0, microsecond=0) - timedelta(hours=24)
    spike = now.replace(second=0, microsecond=0) - timedelta(hours=6) + timedelta(seconds=3)
    rows = [(device_id, start + timedelta(seconds=10 * i), 40.0) for i in range(24 * 360)]
    rows += [(device_id, spike + timedelta(seconds=s), 95.0) for s in range(5)]
    await add_rows(sorted(rows, key=lambda row: row[1]))
    return spike


async def test_a_five_second_spike_shows_in_the_envelope_at_24h_and_after_zoom(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler", threshold_warning_upper=50, threshold_critical_upper=55)
    spike = await store_day_with_spike(boiler.id, page_now)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: len(line(user)) > 500)
    # 24 h at 1000 points: 2-minute buckets. The average hardly moves, the band reaches 95.
    assert "bucket 120 s" in info(user)
    averages = [point[1] for point in line(user) if point[1] is not None]
    assert max(averages) < 95
    assert envelope_top(user) == 95.0
    spike_bucket = datetime.fromtimestamp(int(spike.timestamp()) // 120 * 120, UTC).isoformat()
    drawn = {t: (low, high) for t, low, high in charts.envelope_bounds(chart(user).options, "0")}
    assert drawn[spike_bucket] == (40.0, 95.0)

    # Zoom to the two minutes around the spike: fetched again at one bucket per pixel, raw readings.
    window = (spike - timedelta(seconds=60), spike + timedelta(seconds=60))
    zoom(user, *window)
    await eventually(lambda: "bucket 1 s" in info(user))
    inside = [p for p in line(user) if window[0].isoformat() <= p[0] < window[1].isoformat()]
    assert [p[1] for p in inside if p[1] == 95.0] == [95.0] * 5, "the spike's real shape: 5 s at 95"
    assert [p[0] for p in inside if p[1] == 95.0] == [
        (spike + timedelta(seconds=s)).isoformat() for s in range(5)
    ]
    assert envelope_top(user) == 95.0
    assert all(p[4] == 1 for p in inside if p[1] is not None), "one raw reading per point"
    assert not any(p[1] is None for p in line(user)), "readings 10 s apart are one line, not a gap per second"
    zoom_options = chart(user).options["dataZoom"][0]
    assert (zoom_options["startValue"], zoom_options["endValue"]) == (
        window[0].isoformat(),
        window[1].isoformat(),
    )
    # Outside the window the coarse buckets stay (the slider's overview).
    assert line(user)[0][0] < window[0].isoformat()
    # The range fields show the window (browser zone UTC here).
    assert user.find(marker="range-start").elements.pop().value == window[0].strftime("%Y-%m-%dT%H:%M")


async def test_zooming_out_to_the_whole_range_draws_the_range_again(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler")
    spike = await store_day_with_spike(boiler.id, page_now)
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: "bucket 120 s" in info(user))
    zoom(user, spike - timedelta(minutes=1), spike + timedelta(minutes=1))
    await eventually(lambda: "bucket 1 s" in info(user))
    zoom(user, page_now - timedelta(hours=25), page_now + timedelta(hours=1))  # zoomed all the way out
    await eventually(lambda: "bucket 120 s" in info(user))
    assert envelope_top(user) == 95.0
    assert chart(user).options["dataZoom"][0]["start"] == 0


async def test_a_gap_breaks_the_line_and_is_shaded(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler", sampling_interval=60)
    hole_start, hole_end = page_now - timedelta(hours=4), page_now - timedelta(hours=2)
    rows = [
        (boiler.id, page_now - timedelta(minutes=m), 20.0 + m % 7)
        for m in range(1, 6 * 60)
        if not hole_start <= page_now - timedelta(minutes=m) < hole_end
    ]
    await add_rows(sorted(rows, key=lambda row: row[1]))
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: len(line(user)) > 50)
    holes = [p for p in line(user) if p[1] is None]
    assert len(holes) == 1, "one break: the two hours without readings, not a diagonal across them"
    bucket = timedelta(minutes=2)  # 24 h at 1000 points
    assert (hole_start - bucket).isoformat() <= holes[0][0] <= hole_end.isoformat()
    lows = charts.envelope_bounds(chart(user).options, "0")
    assert [t for t, low, _high in lows if low is None] == [holes[0][0]], "the band breaks there too"
    grey = [
        area
        for area in chart(user).options["series"][0]["markArea"]["data"]
        if "xAxis" in area[0] and area[0]["itemStyle"]["color"] == charts.GAP_COLOUR
    ]
    assert len(grey) == 1
    shaded_from, shaded_to = (
        datetime.fromisoformat(grey[0][0]["xAxis"]),
        datetime.fromisoformat(grey[0][1]["xAxis"]),
    )
    assert shaded_from <= hole_start + timedelta(minutes=2)
    assert shaded_to >= hole_end - timedelta(minutes=2)
    assert shaded_to - shaded_from >= timedelta(hours=2) - timedelta(minutes=4)


async def test_export_after_zoom_writes_the_window_in_local_time_with_a_bom(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    user.javascript_rules[TIMEZONE_JS] = lambda _match: "Asia/Shanghai"
    boiler = await make_device("锅炉 1", unit="°C")
    start = page_now - timedelta(hours=3)
    await add_rows((boiler.id, start + timedelta(minutes=m), float(m)) for m in range(180))
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    await eventually(lambda: len(line(user)) > 10)
    window = (page_now - timedelta(minutes=70), page_now - timedelta(minutes=50))  # 20 minutes
    zoom(user, *window)
    await eventually(lambda: "bucket 2 s" in info(user) or "bucket 1 s" in info(user))
    user.find("Export CSV").click()
    response = await user.download.next()
    assert response.content.startswith("\ufeff".encode()), "a byte order mark for spreadsheets"
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["timestamp", "value", "unit"]
    stamps = [datetime.fromisoformat(row[0]) for row in rows[1:]]
    expected = [
        start + timedelta(minutes=m)
        for m in range(180)
        if window[0] <= start + timedelta(minutes=m) <= window[1]
    ]
    assert sorted(stamps) == expected, "exactly the 20 minutes shown, not the whole 24 h"
    assert all(row[0].endswith("+08:00") for row in rows[1:]), "the browser's zone, offset in each time"
    assert stamps[0].astimezone(SHANGHAI).isoformat(timespec="microseconds") == rows[1][0]
    assert {row[2] for row in rows[1:]} == {"°C"}


async def test_export_in_utc_without_bom_when_the_options_are_off(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    user.javascript_rules[TIMEZONE_JS] = lambda _match: "Asia/Shanghai"
    boiler = await make_device("Boiler")
    await add_rows((boiler.id, page_now - timedelta(minutes=m), 1.0) for m in range(1, 4))
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}")
    user.find(marker="export-local").elements.pop().value = False
    user.find(marker="export-bom").elements.pop().value = False
    user.find("Export CSV").click()
    response = await user.download.next()
    assert response.content.startswith(b"timestamp,value,unit\n")
    assert all(row.split(",")[0].endswith("+00:00") for row in response.content.decode().splitlines()[1:])


async def test_the_url_carries_the_range_and_opens_it_again(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler")
    await add_rows((boiler.id, page_now - timedelta(minutes=m), float(m)) for m in range(1, 600))
    await sign_in(reader)
    await user.open(f"/devices/{boiler.id}?range=1h")
    await eventually(lambda: "bucket 5 s" in info(user))  # 1 h at 1000 points
    assert user.find(marker="range-presets").elements.pop().value == "1h"
    window = (page_now - timedelta(minutes=40), page_now - timedelta(minutes=20))
    zoom(user, *window)
    await eventually(lambda: "bucket 2 s" in info(user))
    shared = user.find(marker="view-link").elements.pop().props["href"]
    query = parse_qs(urlsplit(shared).query)
    assert [datetime.fromisoformat(query["from"][0]), datetime.fromisoformat(query["to"][0])] == [
        window[0].replace(microsecond=0),
        window[1].replace(microsecond=0),
    ]
    await user.open(shared)  # a bookmark: the window is the range now
    await eventually(lambda: "bucket 2 s" in info(user) or "bucket 1 s" in info(user))
    assert user.find(marker="range-presets").elements.pop().value is None
    assert user.find(marker="range-start").elements.pop().value == window[0].strftime("%Y-%m-%dT%H:%M")
    assert min(p[0] for p in line(user)) >= window[0].replace(second=0).isoformat()


async def test_group_chart_draws_each_members_envelope_and_zooms(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler, pump = await make_device("Boiler"), await make_device("Pump")
    group = await make_group("Plant", [boiler, pump])
    spike = await store_day_with_spike(boiler.id, page_now)
    await add_rows((pump.id, page_now - timedelta(minutes=m), 5.0) for m in range(1, 600))
    await sign_in(reader)
    await user.open(f"/groups/{group.id}")
    await eventually(lambda: len(chart(user, "group-chart").options["series"]) == 6)
    assert envelope_top(user, "0", "group-chart") == 95.0
    assert envelope_top(user, "1", "group-chart") == 5.0
    zoom(user, spike - timedelta(minutes=1), spike + timedelta(minutes=1), marker="group-chart")

    def raw_spike() -> bool:
        boiler_line = chart(user, "group-chart").options["series"][0]["data"]
        return sum(1 for p in boiler_line if p[1] == 95.0) == 5

    await eventually(raw_spike)


async def test_group_chart_shades_its_members_alarm_episodes(
    user: User, reader: Account, sign_in, alarm_engine: AlarmEngine
) -> None:
    boiler = await make_device("Boiler", threshold_warning_upper=80, threshold_critical_upper=95)
    group = await make_group("Plant", [boiler, await make_device("Pump")])
    for value in (85.0, 97.0, 20.0):
        await feed(boiler, value)
    await sign_in(reader)
    await user.open(f"/groups/{group.id}")

    def episodes() -> list[Any]:
        first = chart(user, "group-chart").options["series"]
        return first[0].get("markArea", {}).get("data", []) if first else []

    await eventually(lambda: len(episodes()) == 1)
    assert episodes()[0][0]["itemStyle"]["color"] == "#c62828", "the episode's worst severity"
