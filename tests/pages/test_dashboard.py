"""Dashboard and wall display: cards, live values pushed from the bus, filters and summary counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nicegui.testing import User

from ddms.models import User as Account
from tests.pages.helpers import eventually, make_device, make_group, publish


def summary(user: User, level: str) -> str:
    card = user.find(marker=f"summary-{level}").elements.pop()
    return [label.text for label in card.descendants() if hasattr(label, "text")][-1]


async def test_card_value_updates_live_from_the_bus(user: User, reader: Account, sign_in) -> None:
    boiler = await make_device("Boiler", threshold_warning_upper=80, threshold_critical_upper=95)
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker=f"device-card-{boiler.id}")
    await user.should_see("No reading yet")
    publish(boiler, 42.5)
    await user.should_see("42.5", retries=100)
    await user.should_see("Online")
    publish(boiler, 97.25, level="critical")
    await user.should_see("97.25", retries=100)
    await eventually(lambda: summary(user, "critical") == "1")
    assert summary(user, "normal") == "0"


async def test_summary_counts_and_status_filter(user: User, reader: Account, sign_in) -> None:
    hot = await make_device("Hot", threshold_warning_upper=50)
    cold = await make_device("Cold")
    silent = await make_device("Silent")  # no reading: offline
    publish(hot, 60, level="warning")
    publish(cold, 20)
    await sign_in(reader)
    await user.open("/")
    await eventually(lambda: summary(user, "warning") == "1")
    assert (summary(user, "normal"), summary(user, "offline")) == ("1", "1")
    status = user.find(marker="status-filter").elements.pop()
    status.value = "warning"
    await user.should_see(marker=f"device-card-{hot.id}")
    await user.should_not_see(marker=f"device-card-{cold.id}")
    await user.should_not_see(marker=f"device-card-{silent.id}")


async def test_group_filter_shows_only_members(user: User, reader: Account, sign_in) -> None:
    pump = await make_device("Pump")
    fan = await make_device("Fan")
    group = await make_group("Water", [pump])
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker=f"device-card-{fan.id}")
    user.find(marker="group-filter").elements.pop().value = str(group.id)
    await user.should_not_see(marker=f"device-card-{fan.id}", retries=100)
    await user.should_see(marker=f"device-card-{pump.id}")


async def test_wall_display_needs_no_login_and_updates_live(user: User) -> None:
    boiler = await make_device("Boiler")
    await user.open("/display")
    await user.should_see(marker=f"tile-{boiler.id}")
    publish(boiler, 71.5)
    await user.should_see("71.5", retries=100)


async def test_group_wall_display_shows_the_group_only(user: User) -> None:
    pump = await make_device("Pump")
    fan = await make_device("Fan")
    group = await make_group("Water", [pump])
    await user.open(f"/display/{group.id}")
    await user.should_see(marker=f"tile-{pump.id}")
    await user.should_not_see(marker=f"tile-{fan.id}")
    await user.should_see("Water")


async def test_wall_display_follows_configuration_changes(user: User) -> None:
    boiler = await make_device("Boiler")
    await user.open("/display")
    await user.should_see(marker=f"tile-{boiler.id}")
    chiller = await make_device("Chiller")  # added elsewhere (REST or another browser)
    await user.should_see(marker=f"tile-{chiller.id}", retries=100)


def evaluated_props(element: Any) -> list[str]:
    """Props NiceGUI would evaluate as JavaScript in the browser (a ``:`` key), in ``element``'s tree."""
    return [key for item in (element, *element.descendants()) for key in item.props if key.startswith(":")]


async def test_hostile_names_are_text_and_keys_are_ids(user: User, reader: Account, sign_in) -> None:
    """A name that closes a props string (issue 8) stays a label: no ``:prop`` reaches the element."""
    name = 'Line pressure" :title="alert(1)" x="'
    device = await make_device(name, unit="{{ 1 + 1 }}")
    await sign_in(reader)
    await user.open("/")
    card = user.find(marker=f"device-card-{device.id}").elements.pop()
    assert card.props["data-testid"] == f"device-card-{device.id}"
    assert evaluated_props(card) == []
    assert name in [getattr(element, "text", None) for element in card.descendants()]
    await user.open("/display")
    tile = user.find(marker=f"tile-{device.id}").elements.pop()
    assert evaluated_props(tile) == []
    await user.should_see(name)
    await user.should_see("{{ 1 + 1 }}")


def test_sparkline_scales_values_into_the_box() -> None:
    from pages.components.device_card import sparkline

    svg = sparkline([10.0, 20.0, 15.0])
    assert 'points="0.0,28.0 50.0,2.0 100.0,15.0"' in svg
    assert "polyline" not in sparkline([42.0])  # one value draws no line


async def test_card_trend_starts_from_stored_history(user: User, reader: Account, sign_in) -> None:
    import ddms.db
    from ddms.models import Reading, utcnow

    boiler = await make_device("Boiler")
    now = utcnow()
    async with ddms.db.session_scope() as session:
        session.add_all(
            Reading(
                device_id=boiler.id,
                timestamp=now.replace(second=0, microsecond=0) - timedelta(minutes=m),
                value=float(m),
            )
            for m in range(1, 11)
        )
        await session.commit()
    await sign_in(reader)
    await user.open("/")
    trend = user.find(marker="trend").elements.pop()
    points = trend.content.split('points="')[1].split('"')[0].split()
    assert 5 <= len(points) <= 10  # the last hour's readings, in the series service's buckets
    assert points[0].endswith(",2.0")  # oldest (largest value) at the top, newest at the bottom
    assert points[-1].endswith(",28.0")
