"""Webhook delivery against a real HTTP receiver on loopback: signature, severity filter, retries
with back-off, giving up after 24 h (fake clock), and resuming after a restart."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from ddms import db, metrics
from ddms.services.delivery import DeliveryService, Senders
from tests.channels.conftest import (
    WEBHOOK_SECRET,
    Harness,
    Receiver,
    alarm,
    channel_state,
    eventually,
    make_channel,
    publish,
    webhook_fields,
)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/alarms-channels.md): HMAC of the raw body, constant-time compare."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-ddms-signature"])


def delivered(name: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "ddms_notification_deliveries_total", {"channel_type": "webhook", "result": name}
    )
    return value or 0.0


async def test_signed_event_reaches_the_channels_that_admit_its_severity(
    harness: Harness, receiver: Receiver
) -> None:
    everything = await make_channel(**webhook_fields(receiver, name="all", min_severity="warning"))
    critical_only = await make_channel(**webhook_fields(receiver, name="crit", min_severity="critical"))
    await make_channel(**webhook_fields(receiver, name="off", enabled=False))
    before = delivered("delivered")
    warning = alarm("warning")
    publish("raised", warning)
    await eventually(lambda: len(receiver.calls) >= 1, what="the warning was delivered")
    critical = alarm("critical")
    publish("escalated", critical)
    await eventually(lambda: len(receiver.calls) >= 3, what="the critical alarm reached both channels")

    events = [json.loads(call.body) for call in receiver.calls]
    assert [event["event"] for event in events] == ["raised", "escalated", "escalated"]
    assert events[0]["alarm"] == json.loads(warning.model_dump_json())
    assert events[1]["alarm"]["id"] == str(critical.id)
    assert set(events[0]) == {"event", "alarm", "sent_at"}
    assert datetime.fromisoformat(events[0]["sent_at"]) == harness.now()
    for call in receiver.calls:
        assert verify(WEBHOOK_SECRET, call.headers, call.body)
        assert call.headers["content-type"] == "application/json"
        assert not verify("another-secret-000", call.headers, call.body)
    tampered = receiver.calls[0].body.replace(b"Boiler 3", b"Boiler 4")
    assert not verify(WEBHOOK_SECRET, receiver.calls[0].headers, tampered)
    for channel in (everything, critical_only):
        state = await eventually(
            lambda channel=channel: _settled(channel.id), what="the channel recorded its delivery"
        )
        assert state.deliveries_pending == 0
        assert state.deliveries_failed == 0
        assert state.last_delivered_at == harness.now()
        assert state.last_error is None
    assert delivered("delivered") - before == 3


async def _settled(channel_id):  # type: ignore[no-untyped-def]
    state = await channel_state(channel_id)
    return state if state.last_delivered_at is not None and state.deliveries_pending == 0 else None


async def test_a_failing_receiver_is_retried_with_back_off_until_it_answers(
    harness: Harness, receiver: Receiver
) -> None:
    channel = await make_channel(**webhook_fields(receiver))
    receiver.script.extend([500, 503])
    publish("raised", alarm())
    await eventually(lambda: len(receiver.calls) == 1, what="first attempt")
    assert await harness.advance_to_next_attempt() == 10.0  # back-off: 10 s, then 20 s
    state = await channel_state(channel.id)
    assert (state.deliveries_pending, state.last_error) == (1, "webhook answered HTTP 500")
    await eventually(lambda: len(receiver.calls) == 2, what="second attempt")
    assert await harness.advance_to_next_attempt() == 20.0
    await eventually(lambda: len(receiver.calls) == 3, what="third attempt")
    state = await eventually(lambda: _settled(channel.id), what="delivered on the third attempt")
    assert state.last_error is None
    assert state.deliveries_failed == 0
    bodies = [json.loads(call.body) for call in receiver.calls]
    assert len({body["sent_at"] for body in bodies}) == 3  # each attempt says when it was sent...
    assert all(verify(WEBHOOK_SECRET, call.headers, call.body) for call in receiver.calls)  # ...signed
    assert len({json.dumps(body["alarm"]) for body in bodies}) == 1


async def test_after_24_hours_of_failures_the_delivery_is_marked_failed(
    harness: Harness, receiver: Receiver
) -> None:
    channel = await make_channel(**webhook_fields(receiver))
    receiver.script.extend([500] * 1000)
    before = delivered("failed")
    publish("raised", alarm())
    start = harness.now()
    await eventually(lambda: len(receiver.calls) == 1, what="first attempt")
    steps = []
    while True:
        state = await channel_state(channel.id)
        if state.deliveries_failed:
            break
        calls = len(receiver.calls)
        steps.append(await harness.advance_to_next_attempt())
        await eventually(lambda calls=calls: len(receiver.calls) > calls, what="next attempt")
        await eventually(lambda calls=calls: _attempts_recorded(channel.id, calls + 1), what="recorded")
    assert steps[:9] == [10, 20, 40, 80, 160, 320, 640, 1280, 2560]
    assert set(steps[9:-1]) == {3600.0}  # capped at one hour
    assert harness.now() - start == timedelta(hours=24)  # the last try is at the 24 h mark
    assert state.deliveries_pending == 0
    assert state.deliveries_failed == 1
    assert state.last_error == "webhook answered HTTP 500"
    assert delivered("failed") - before == 1
    calls = len(receiver.calls)
    harness.clock.advance(3600 * 24)  # nothing is tried any more
    publish("cleared", alarm())  # ...but the channel keeps working for new events
    await eventually(lambda: len(receiver.calls) == calls + 1, what="a new event is still attempted")
    assert json.loads(receiver.calls[-1].body)["event"] == "cleared"


async def _attempts_recorded(channel_id, calls: int):  # type: ignore[no-untyped-def]
    """The attempt ``calls`` has been written (its failure, or the final state)."""
    from sqlmodel import func, select

    from ddms import db
    from ddms.models import ChannelDelivery

    async with db.session_scope() as session:
        query = select(func.sum(ChannelDelivery.attempts)).where(ChannelDelivery.channel_id == channel_id)
        return (await session.exec(query)).one() == calls


async def test_pending_deliveries_survive_a_restart(harness: Harness, receiver: Receiver) -> None:
    channel = await make_channel(**webhook_fields(receiver))
    receiver.script.append(502)
    publish("raised", alarm())
    await eventually(lambda: _attempts_recorded(channel.id, 1), what="first attempt recorded")
    await harness.service.stop()
    harness.clock.advance(60)
    restarted = DeliveryService(clock=harness.clock, now=harness.now, senders=Senders())
    await restarted.start()
    try:
        await eventually(lambda: _settled(channel.id), what="delivered by the restarted service")
    finally:
        await restarted.stop()
    assert len(receiver.calls) == 2
    assert json.loads(receiver.calls[0].body)["alarm"] == json.loads(receiver.calls[1].body)["alarm"]


async def test_events_published_during_a_database_outage_are_queued_when_it_ends(
    database: db.Database, harness: Harness, receiver: Receiver
) -> None:
    from tests.collector.test_outage import _outage

    await make_channel(**webhook_fields(receiver))
    subject = alarm()
    async with _outage(database):
        publish("raised", subject)  # the bus listener returns at once; the intake cannot write
        deadline = await harness.clock.next_wakeup(within=60)  # the intake pauses after failing
        assert deadline - harness.clock.now == 5.0
        assert receiver.calls == []
    harness.clock.advance(5.0)  # the database is back: the intake tries again and queues the event
    await eventually(lambda: receiver.calls, what="queued and delivered after the outage")
    assert json.loads(receiver.calls[0].body)["alarm"]["id"] == str(subject.id)
