"""From a real Modbus device to a signed webhook: the running collector reads a value past the
critical limit, the alarm engine raises the alarm, and the delivery service posts it; acknowledging
the alarm posts that too. A channel for critical alarms only is not bothered by the warning."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from collector.runner import Collector
from ddms import db
from ddms.services import alarms
from tests.alarms.conftest import collector, collector_settings, raw_server  # noqa: F401  (fixtures)
from tests.alarms.test_collector_alarms import boiler
from tests.channels.conftest import (
    WEBHOOK_SECRET,
    Harness,
    Receiver,
    eventually,
    make_channel,
    webhook_fields,
)
from tests.collector.modbus_server import RawModbusServer


async def test_a_device_past_its_limit_reaches_the_webhook_signed(
    harness: Harness, collector: Collector, raw_server: RawModbusServer, receiver: Receiver
) -> None:
    await make_channel(**webhook_fields(receiver, name="everything"))
    await make_channel(**webhook_fields(receiver, name="critical only", min_severity="critical"))
    device_id, unit = await boiler(raw_server, value=50)
    unit.registers[0] = 85  # warning
    await eventually(lambda: len(receiver.calls) == 1, what="the warning reached one channel")
    unit.registers[0] = 95  # critical: the same alarm escalates
    await eventually(lambda: len(receiver.calls) == 3, what="the escalation reached both channels")
    events = [json.loads(call.body) for call in receiver.calls]
    assert [(e["event"], e["alarm"]["severity"]) for e in events] == [
        ("raised", "warning"),
        ("escalated", "critical"),
        ("escalated", "critical"),
    ]
    assert {e["alarm"]["device_id"] for e in events} == {str(device_id)}
    assert events[1]["alarm"]["peak_value"] == 95
    for call in receiver.calls:
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
        assert call.headers["x-ddms-signature"] == expected

    async with db.session_scope() as session:
        await alarms.acknowledge(
            session=session, alarm_id=uuid.UUID(events[0]["alarm"]["id"]), username="admin", comment="on it"
        )
    await eventually(lambda: len(receiver.calls) == 5, what="the acknowledgement reached both channels")
    acknowledged = json.loads(receiver.calls[-1].body)
    assert acknowledged["event"] == "acknowledged"
    assert (acknowledged["alarm"]["acknowledged_by"], acknowledged["alarm"]["comment"]) == ("admin", "on it")
