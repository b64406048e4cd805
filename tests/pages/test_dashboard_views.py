"""Dashboard at scale (issue 12): search, sort, summary tiles as filters, the compact list and pages of
1000 devices, 'waiting for first reading', and the live device list."""

from __future__ import annotations

from typing import Any

from nicegui.testing import User

import ddms.db
from ddms.models import Device
from ddms.models import User as Account
from ddms.services import devices
from tests.pages.conftest import log_in
from tests.pages.helpers import eventually, make_device, publish


def drawn(user: User) -> list[str]:
    """The test ids of the cards or rows the dashboard draws, in order."""
    container = user.find(marker="cards").elements.pop()
    return [child.props.get("data-testid", "") for child in container.default_slot.children]


def card_ids(*found: Device, kind: str = "device-card") -> list[str]:
    return [f"{kind}-{device.id}" for device in found]


def element(user: User, marker: str) -> Any:
    """The one element with ``marker``, shown or hidden (``user.find`` sees shown ones only)."""
    assert user.client is not None
    found = [item for item in user.client.layout.descendants() if marker in item._markers]
    assert len(found) == 1, f"{len(found)} elements marked {marker}"
    return found[0]


async def many_devices(count: int) -> list[Device]:
    """``count`` devices in one commit (the service's one-by-one checks would take a minute here; the
    page reads them through the same ``list_devices``). Names sort as their numbers."""
    made = [
        Device(name=f"Meter {i:04d}", modbus_ip="127.0.0.1", modbus_slave_id=1, modbus_register=i, unit="kW")
        for i in range(count)
    ]
    async with ddms.db.session_scope() as session:
        session.add_all(made)
        await session.commit()
        listed = await devices.list_devices(session=session)
    assert len(listed) == count
    return listed


async def test_search_keeps_the_devices_whose_name_matches(user: User, reader: Account, sign_in) -> None:
    pump, fan, sump = await make_device("Pump"), await make_device("Fan"), await make_device("Sump pump")
    await sign_in(reader)
    await user.open("/")
    await eventually(lambda: len(drawn(user)) == 3)
    user.find(marker="search").type("PUMP")
    await eventually(lambda: sorted(drawn(user)) == sorted(card_ids(pump, sump)))
    assert card_ids(fan)[0] not in drawn(user)
    assert element(user, "shown-count").text == "2 of 3 devices"
    user.find(marker="search").clear()
    await eventually(lambda: len(drawn(user)) == 3)


async def test_alarm_state_orders_by_default_and_name_or_status_on_request(
    user: User, reader: Account, sign_in
) -> None:
    calm, hot, warm = await make_device("A calm"), await make_device("B hot"), await make_device("C warm")
    lost = await make_device("D lost")
    publish(calm, 20)
    publish(hot, 99, level="critical")
    publish(warm, 70, level="warning")
    publish(lost, 1, status="error")
    await sign_in(reader)
    await user.open("/")
    # worst first: critical, warning, offline (in error), normal
    await eventually(lambda: drawn(user) == card_ids(hot, warm, lost, calm))
    element(user, "sort").value = "name"
    await eventually(lambda: drawn(user) == card_ids(calm, hot, warm, lost))
    element(user, "sort").value = "status"
    await eventually(lambda: drawn(user)[0] == card_ids(lost)[0])
    element(user, "sort").value = "severity"
    await eventually(lambda: drawn(user)[0] == card_ids(hot)[0])
    publish(calm, 120, level="critical")  # live: a device turning critical moves up
    publish(hot, 30)
    await eventually(lambda: drawn(user)[:2] == card_ids(calm, warm))


async def test_summary_tiles_filter_and_a_second_press_clears(user: User, reader: Account, sign_in) -> None:
    hot, cold = await make_device("Hot"), await make_device("Cold")
    publish(hot, 60, level="warning")
    publish(cold, 20)
    await sign_in(reader)
    await user.open("/")
    await eventually(lambda: len(drawn(user)) == 2)
    user.find(marker="summary-warning").click()
    await eventually(lambda: drawn(user) == card_ids(hot))
    assert element(user, "status-filter").value == "warning"
    assert element(user, "summary-warning").props["aria-pressed"] == "true"
    assert element(user, "summary-normal").props["aria-pressed"] == "false"
    user.find(marker="summary-normal").click()
    await eventually(lambda: drawn(user) == card_ids(cold))
    user.find(marker="summary-normal").click()
    await eventually(lambda: len(drawn(user)) == 2)
    assert element(user, "status-filter").value == ""


async def test_a_thousand_devices_draw_one_page_of_the_compact_list(
    user: User, reader: Account, sign_in
) -> None:
    made = await many_devices(1000)
    await sign_in(reader)
    await user.open("/")
    await eventually(lambda: len(drawn(user)) == 100)  # the list is the default beyond 100 devices
    assert drawn(user) == card_ids(*made[:100], kind="list-row")  # all normal: by name
    pager = element(user, "pager")
    assert (pager.max, pager.visible) == (10, True)
    assert user.client is not None
    elements = sum(1 for _ in user.client.layout.descendants())
    assert elements < 1500, f"{elements} elements for one page of 100 rows"  # not 1000 devices' worth
    assert element(user, "shown-count").text == "1,000 of 1,000 devices"

    pager.set_value(10)
    await eventually(lambda: drawn(user) == card_ids(*made[900:], kind="list-row"))
    publish(made[950], 5)  # a value for a drawn row arrives live
    await user.should_see("5 kW", retries=100)
    publish(made[950], 500, level="critical")  # and a critical one moves it to the top, off this page
    await eventually(lambda: card_ids(made[950], kind="list-row")[0] not in drawn(user))

    element(user, "view").value = "cards"
    await eventually(lambda: len(drawn(user)) == 24)
    assert drawn(user)[0] == card_ids(made[950])[0]  # back to page 1, the critical one first
    assert element(user, "pager").max == 42
    user.find(marker="search").type("Meter 099")
    await eventually(lambda: drawn(user) == card_ids(*made[990:]))
    assert not element(user, "pager").visible


async def test_the_chosen_view_is_kept_for_the_next_visit(user: User, reader: Account, sign_in) -> None:
    await make_device("Pump")
    await sign_in(reader)
    await user.open("/")
    element(user, "view").value = "list"
    await eventually(lambda: drawn(user)[0].startswith("list-row-"))
    await user.open("/")
    await eventually(lambda: bool(drawn(user)) and drawn(user)[0].startswith("list-row-"))


def card_texts(user: User, device: Device) -> list[str]:
    card = element(user, f"device-card-{device.id}")
    return [text for item in card.descendants() if item.visible and (text := getattr(item, "text", ""))]


async def test_a_new_device_is_waiting_for_its_first_reading_not_offline(
    user: User, reader: Account, sign_in
) -> None:
    fresh = await make_device("Fresh")
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker=f"device-card-{fresh.id}")
    assert "Waiting for first reading" in card_texts(user, fresh)
    assert "Offline" not in card_texts(user, fresh)
    publish(fresh, 12.5)
    await eventually(lambda: "Online" in card_texts(user, fresh))
    assert "Waiting for first reading" not in card_texts(user, fresh)


async def test_a_device_that_failed_its_poll_is_offline(user: User, reader: Account, sign_in) -> None:
    from ddms.bus import StatusChange, get_bus
    from ddms.models import utcnow

    gone = await make_device("Gone")
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker=f"device-card-{gone.id}")
    get_bus().publish_status(StatusChange(gone.id, "offline", "connection refused", utcnow()))
    await eventually(lambda: "Offline" in card_texts(user, gone))


async def test_device_list_follows_changes_made_elsewhere(user: User, reader: Account) -> None:
    pump = await make_device("Pump")
    # straight to the list: the simulated browser would also act on a dashboard opened before it
    # (the dashboard reloads itself when devices change; a real browser has left that page)
    await log_in(user, reader.username, page="/login?redirect_to=/devices")
    await user.should_see(marker="page-title", retries=100)
    await user.should_see(marker=f"device-row-{pump.id}")
    row = element(user, f"device-row-{pump.id}")
    assert "Waiting for first reading" in [getattr(e, "text", "") for e in row.descendants()]
    user.find(marker="search").type("p")
    fan = await make_device("Fan")  # another browser or the REST API adds devices
    pipe = await make_device("Pipe")
    await user.should_see(marker=f"device-row-{pipe.id}", retries=100)
    await user.should_not_see(marker=f"device-row-{fan.id}")  # the search still applies
    publish(pump, 3.0, status="online")
    await eventually(
        lambda: (
            "Online" in [getattr(e, "text", "") for e in element(user, f"device-row-{pump.id}").descendants()]
        )
    )
    async with ddms.db.session_scope() as session:
        await devices.delete_device(session=session, device_id=pipe.id, keep_data=False)
    await user.should_not_see(marker=f"device-row-{pipe.id}", retries=100)
