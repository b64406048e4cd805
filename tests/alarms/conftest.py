"""Alarm fixtures: the collector's (real Modbus servers on loopback, a collector on each database),
and a recorder of the alarm notices and notifications the bus publishes after commit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ddms.bus import AlarmNotice, get_bus
from ddms.schemas.alarms import NotificationOut
from tests.collector.conftest import (  # noqa: F401  (fixtures)
    collector,
    collector_settings,
    eventually,
    raw_server,
)


class Published:
    """What the bus published: alarm notices and notifications, in order."""

    def __init__(self) -> None:
        self.notices: list[AlarmNotice] = []
        self.notifications: list[NotificationOut] = []
        get_bus().on_alarm_notices(self.notices.extend)
        get_bus().on_notifications(self.notifications.extend)

    def transitions(self, kind: str | None = None) -> list[tuple[str, str]]:
        return [
            (n.transition, n.alarm.severity) for n in self.notices if kind is None or n.alarm.kind == kind
        ]

    async def wait(self, check: Callable[[list[AlarmNotice]], bool], within: float = 15.0) -> None:
        await eventually(lambda: check(self.notices), within=within)


@pytest.fixture
def published() -> Published:
    return Published()
