"""The group page's summary and ``GET /api/groups/{id}``'s alert_summary count with one function
(``live.display_level``), so they agree even while the stored status lags behind the bus."""

from __future__ import annotations

from nicegui.testing import User

import ddms.db
from ddms.bus import StatusChange, get_bus
from ddms.models import User as Account
from ddms.models import utcnow
from ddms.services import groups
from tests.pages.helpers import eventually, make_device, make_group, publish
from tests.pages.test_dashboard import summary

LEVELS = ("normal", "warning", "critical", "offline")


async def test_group_page_summary_equals_the_api_alert_summary(user: User, reader: Account, sign_in) -> None:
    # Stored status is "offline" for all three (never polled); the bus knows better for two of them.
    pump, fan, valve = [await make_device(name) for name in ("Pump", "Fan", "Valve")]
    group = await make_group("Water", [pump, fan, valve])
    publish(pump, 88.0, level="warning")  # polled: online, in warning
    publish(valve, 1.0, level="critical")
    get_bus().publish_status(StatusChange(valve.id, "error", "exception 2", utcnow(), previous="online"))
    await sign_in(reader)
    await user.open(f"/groups/{group.id}")
    await user.should_see(marker=f"device-card-{pump.id}")
    async with ddms.db.session_scope() as session:
        api = (await groups.group_detail(session=session, group_id=group.id)).alert_summary
    assert api.model_dump() == {"normal": 0, "warning": 1, "critical": 0, "offline": 2}
    await eventually(lambda: {level: int(summary(user, level)) for level in LEVELS} == api.model_dump())
