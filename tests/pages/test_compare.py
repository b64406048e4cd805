"""Comparing devices in one chart without a group: picked from the dashboard or the device list, the
choice in the URL, a line and a band per device on its unit's own axis, the export of exactly them."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nicegui import ui
from nicegui.testing import User

from ddms.models import User as Account
from pages.components import charts
from tests.history.helpers import add_rows
from tests.pages.helpers import eventually, make_device


def chart(user: User) -> ui.echart:
    return user.find(marker="compare-chart").elements.pop()


def lines(user: User) -> list[dict[str, Any]]:
    return [
        s for s in chart(user).options["series"] if not str(s.get("id", "")).startswith(charts.ENVELOPE_ID)
    ]


def link_devices(user: User) -> list[str]:
    href = user.find(marker="view-link").elements.pop().props["href"]
    return parse_qs(urlsplit(href).query).get("devices", [""])[0].split(",")


async def an_hour_of(device_id: uuid.UUID, now: datetime, value: float) -> None:
    await add_rows((device_id, now - timedelta(minutes=m), value) for m in range(1, 60))


async def test_devices_with_different_units_each_get_their_own_axis(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler", unit="°C")
    return_line = await make_device("Return", unit="°C", modbus_register=2)
    pump = await make_device("Pump", unit="bar", modbus_register=4)
    for device, value in ((boiler, 80.0), (return_line, 60.0), (pump, 4.0)):
        await an_hour_of(device.id, page_now, value)
    await sign_in(reader)  # a read-only user: comparing saves nothing
    await user.open(f"/compare?devices={boiler.id},{pump.id},{return_line.id}&range=6h")
    await eventually(lambda: len(lines(user)) == 3)

    options = chart(user).options
    assert [axis["name"] for axis in options["yAxis"]] == ["°C", "bar"]
    assert [axis["position"] for axis in options["yAxis"]] == ["left", "right"]
    by_name = {line["name"]: line for line in lines(user)}
    assert [by_name[name]["yAxisIndex"] for name in ("Boiler", "Pump", "Return")] == [0, 1, 0]
    assert {p[1] for p in by_name["Pump"]["data"] if p[1] is not None} == {4.0}
    bands = [s for s in options["series"] if str(s.get("id", "")).startswith(charts.ENVELOPE_ID)]
    assert len(bands) == 6
    assert all(s["yAxisIndex"] == (1 if s["name"] == "Pump" else 0) for s in bands)
    assert link_devices(user) == [str(boiler.id), str(pump.id), str(return_line.id)]

    user.find("Export CSV").click()
    response = await user.download.next()
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["device_name"] for row in rows} == {"Boiler", "Pump", "Return"}
    assert len(rows) == 3 * 59


async def test_changing_the_choice_redraws_the_chart_and_the_link(
    user: User, reader: Account, sign_in, page_now: datetime
) -> None:
    boiler = await make_device("Boiler")
    pump = await make_device("Pump", unit="bar", modbus_register=4)
    for device in (boiler, pump):
        await an_hour_of(device.id, page_now, 1.0)
    await sign_in(reader)
    await user.open(f"/compare?devices={boiler.id}")
    await eventually(lambda: len(lines(user)) == 1)
    await user.should_not_see(marker="compare-empty")

    select = user.find(marker="compare-devices").elements.pop()
    select.set_value([str(boiler.id), str(pump.id)])
    await eventually(lambda: [line["name"] for line in lines(user)] == ["Boiler", "Pump"])
    assert link_devices(user) == [str(boiler.id), str(pump.id)]

    select.set_value([])
    await eventually(lambda: lines(user) == [])
    await user.should_see(marker="compare-empty")


async def test_a_link_with_unknown_or_unreadable_devices_shows_the_rest_and_says_so(
    user: User, reader: Account, sign_in
) -> None:
    boiler = await make_device("Boiler")
    await sign_in(reader)
    await user.open(f"/compare?devices={boiler.id},not-a-device,{uuid.UUID(int=7)}")
    await user.should_see("2 of the devices in the link were not found and are left out.")
    await eventually(lambda: [line["name"] for line in lines(user)] == ["Boiler"])


async def test_the_dashboard_opens_the_devices_it_shows_in_one_chart(
    user: User, reader: Account, sign_in
) -> None:
    pumps = [await make_device(f"Pump {n}", modbus_register=2 * n) for n in range(3)]
    await make_device("Boiler", modbus_register=20)
    await sign_in(reader)
    await user.open("/")
    user.find(marker="search").type("pump")
    await user.should_see("3 of 4 devices")
    user.find(marker="compare").click()
    await user.should_see(marker="compare-dialog")
    chosen = user.find(marker="compare-devices").elements.pop().value
    assert chosen == [str(pump.id) for pump in pumps], "the shown devices, preselected"
    user.find(marker="compare-open").click()
    await user.should_see(marker="compare-chart")
    await eventually(lambda: [line["name"] for line in lines(user)] == ["Pump 0", "Pump 1", "Pump 2"])


async def test_the_device_list_and_a_device_page_lead_to_the_comparison(
    user: User, reader: Account, sign_in
) -> None:
    boiler = await make_device("Boiler")
    pump = await make_device("Pump", modbus_register=4)
    await sign_in(reader)
    await user.open("/devices")
    user.find(marker="compare").click()
    select = user.find(marker="compare-devices").elements.pop()
    assert select.value == [str(boiler.id), str(pump.id)]
    select.set_value([str(pump.id)])
    user.find(marker="compare-open").click()
    await user.should_see(marker="compare-chart")
    await eventually(lambda: [line["name"] for line in lines(user)] == ["Pump"])

    await user.open(f"/devices/{boiler.id}")
    link = user.find(marker="compare-link").elements.pop()
    assert link.props["href"] == f"/compare?devices={boiler.id}"
