"""Dashboard and wall display: cards, live values pushed from the bus, filters and summary counts."""

from __future__ import annotations

from nicegui.testing import User

from ddms.bus import get_bus
from ddms.models import User as Account
from tests.pages.helpers import eventually, make_device, make_group, publish


def summary(user: User, level: str) -> str:
    card = user.find(marker=f"summary-{level}").elements.pop()
    return [label.text for label in card.descendants() if hasattr(label, "text")][-1]


async def test_card_value_updates_live_from_the_bus(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler", threshold_warning_upper=80, threshold_critical_upper=95)
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker="device-card-Boiler")
    await user.should_see("No reading yet")
    publish(boiler, 42.5)
    await user.should_see("42.5", retries=100)
    await user.should_see("Online")
    publish(boiler, 97.25, level="critical")
    await user.should_see("97.25", retries=100)
    await eventually(lambda: summary(user, "critical") == "1")
    assert summary(user, "normal") == "0"


async def test_open_dashboard_subscribes_to_the_bus(user: User, reader: Account, sign_in) -> None:
    await make_device("Boiler")
    await sign_in(reader)
    before = get_bus().subscriber_count
    await user.open("/")
    assert get_bus().subscriber_count == before + 1


async def test_summary_counts_and_status_filter(user: User, reader: Account, sign_in) -> None:
    hot = await make_device("Hot", threshold_warning_upper=50)
    cold = await make_device("Cold")
    await make_device("Silent")  # no reading: offline
    publish(hot, 60, level="warning")
    publish(cold, 20)
    await sign_in(reader)
    await user.open("/")
    await eventually(lambda: summary(user, "warning") == "1")
    assert (summary(user, "normal"), summary(user, "offline")) == ("1", "1")
    status = user.find(marker="status-filter").elements.pop()
    status.value = "warning"
    await user.should_see(marker="device-card-Hot")
    await user.should_not_see(marker="device-card-Cold")
    await user.should_not_see(marker="device-card-Silent")


async def test_group_filter_shows_only_members(user: User, reader: Account, sign_in) -> None:
    pump = await make_device("Pump")
    await make_device("Fan")
    group = await make_group("Water", [pump])
    await sign_in(reader)
    await user.open("/")
    user.find(marker="group-filter").elements.pop().value = str(group.id)
    await user.should_not_see(marker="device-card-Fan", retries=100)
    await user.should_see(marker="device-card-Pump")


async def test_wall_display_needs_no_login_and_updates_live(user: User) -> None:
    boiler = await make_device("Boiler")
    await user.open("/display")
    await user.should_see(marker="tile-Boiler")
    publish(boiler, 71.5)
    await user.should_see("71.5", retries=100)


async def test_group_wall_display_shows_the_group_only(user: User) -> None:
    pump = await make_device("Pump")
    await make_device("Fan")
    group = await make_group("Water", [pump])
    await user.open(f"/display/{group.id}")
    await user.should_see(marker="tile-Pump")
    await user.should_not_see(marker="tile-Fan")
    await user.should_see("Water")


async def test_wall_display_follows_configuration_changes(user: User) -> None:
    await make_device("Boiler")
    await user.open("/display")
    await user.should_see(marker="tile-Boiler")
    await make_device("Chiller")  # added elsewhere (REST or another browser)
    await user.should_see(marker="tile-Chiller", retries=100)
