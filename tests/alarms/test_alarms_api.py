"""/api/alarms and /api/notifications on both databases: acknowledgement by every role, own-only
notifications, bad input, and the per-user SSE stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select

from ddms import db
from ddms.bus import AlarmNotice, get_bus
from ddms.config import Settings
from ddms.models import AlarmEvent
from ddms.schemas.alarms import NotificationOut
from ddms.services import alarms
from ddms.services.alarm_rules import AlarmEngine
from tests.api import conftest as api_fixtures
from tests.api.conftest import Account
from tests.api.helpers import add_user, owner_user, tokens_for
from tests.api.test_stream import _serve

app, client, owner, admin, reader = (
    api_fixtures.app,
    api_fixtures.client,
    api_fixtures.owner,
    api_fixtures.admin,
    api_fixtures.reader,
)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Limits:
    def __init__(self, name: str) -> None:
        self.id, self.name = uuid.uuid4(), name
        self.threshold_warning_lower = self.threshold_critical_lower = None
        self.threshold_warning_upper, self.threshold_critical_upper, self.hysteresis = 80.0, 90.0, 1.0


async def raise_alarm(
    engine: AlarmEngine, name: str, value: float = 85.0, at: datetime = T0
) -> tuple[uuid.UUID, list[NotificationOut]]:
    """A threshold alarm stored through the writer's own path (store_changes), as the collector does."""
    device = Limits(name)
    _, changes = engine.reading(device, value, at)
    async with db.session_scope() as session:
        notices, items = await alarms.store_changes(session=session, changes=changes)
        await session.commit()
    get_bus().notifications(items)
    return notices[0].alarm.id, items


@pytest.fixture
def engine() -> Iterator[AlarmEngine]:
    engine = AlarmEngine()
    alarms.set_engine(engine)
    yield engine
    alarms.set_engine(None)


async def test_every_role_acknowledges_once_with_its_name_and_comment(
    client: httpx.AsyncClient, owner: Account, admin: Account, reader: Account, engine: AlarmEngine
) -> None:
    notices: list[AlarmNotice] = []
    get_bus().on_alarm_notices(notices.extend)
    for account in (owner, admin, reader):
        alarm_id, _ = await raise_alarm(engine, f"pump-{account.user.username}")
        assert alarms.active_summary().count_unacknowledged == 1
        first = await client.post(
            f"/api/alarms/{alarm_id}/acknowledge", headers=account.headers, json={"comment": "on it"}
        )
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["acknowledged_by"], body["comment"]) == (account.user.username, "on it")
        assert body["acknowledged_at"] is not None
        again = await client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=owner.headers, json={})
        assert again.status_code == 200
        assert again.json() == body  # idempotent: the first acknowledgement stays
        assert alarms.active_summary().count_unacknowledged == 0  # the bell drops at once
        async with db.session_scope() as session:
            events = (
                await session.exec(
                    select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(col(AlarmEvent.id))
                )
            ).all()
        assert [(e.transition, e.username, e.comment) for e in events] == [
            ("raised", None, None),
            ("acknowledged", account.user.username, "on it"),
        ]
    assert [(n.transition, n.alarm.acknowledged_by) for n in notices] == [
        ("acknowledged", a.user.username) for a in (owner, admin, reader)
    ]


async def test_acknowledge_all_takes_the_active_unacknowledged_ones(
    client: httpx.AsyncClient, reader: Account, engine: AlarmEngine
) -> None:
    first, _ = await raise_alarm(engine, "a")
    await raise_alarm(engine, "b")
    one = await client.get(f"/api/alarms/{first}", headers=reader.headers)
    device_id = one.json()["device_id"]
    answer = await client.post(
        "/api/alarms/acknowledge-all", headers=reader.headers, json={"device_id": device_id}
    )
    assert answer.json() == {"acknowledged": 1}
    assert (await client.post("/api/alarms/acknowledge-all", headers=reader.headers)).json() == {
        "acknowledged": 1
    }
    assert (await client.post("/api/alarms/acknowledge-all", headers=reader.headers, json={})).json() == {
        "acknowledged": 0
    }


async def test_the_alarm_list_filters_and_pages(
    client: httpx.AsyncClient, reader: Account, engine: AlarmEngine
) -> None:
    warm, _ = await raise_alarm(engine, "warm", 85, T0)
    hot, _ = await raise_alarm(engine, "hot", 95, T0 + timedelta(minutes=1))
    async with db.session_scope() as session:  # clear "warm" through the rules and the writer's path
        device = Limits("warm")
        device.id = (await alarms.get_alarm(session=session, alarm_id=warm)).device_id
        _, changes = engine.reading(device, 10, T0 + timedelta(minutes=2))
        await alarms.store_changes(session=session, changes=changes)
        await session.commit()

    async def ids(query: str) -> list[str]:
        answer = await client.get(f"/api/alarms{query}", headers=reader.headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] >= len(body["alarms"])
        return [item["id"] for item in body["alarms"]]

    assert await ids("") == [str(hot)]
    assert await ids("?state=cleared") == [str(warm)]
    assert await ids("?state=all") == [str(hot), str(warm)]  # newest raised first
    assert await ids("?state=all&severity=warning") == [str(warm)]
    assert await ids("?state=all&limit=1&offset=1") == [str(warm)]
    one = (await client.get(f"/api/alarms/{hot}", headers=reader.headers)).json()
    assert await ids(f"?state=all&device_id={one['device_id']}") == [str(hot)]
    assert set(one) == {
        "id", "device_id", "device_name", "kind", "severity", "state", "value", "peak_value", "threshold",
        "raised_at", "cleared_at", "acknowledged_at", "acknowledged_by", "comment",
    }  # fmt: skip
    assert (one["kind"], one["severity"], one["value"], one["threshold"]) == ("threshold", "critical", 95, 90)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/alarms/{unknown}/acknowledge", {}, 404),
        ("GET", "/api/alarms/{unknown}", None, 404),
        ("GET", "/api/alarms/not-a-uuid", None, 422),
        ("POST", "/api/alarms/{known}/acknowledge", {"comment": "x" * 501}, 422),
        ("POST", "/api/alarms/{known}/acknowledge", {"note": "unknown field"}, 422),
        ("POST", "/api/alarms/acknowledge-all", {"device_id": "nope"}, 422),
        ("GET", "/api/alarms?state=open", None, 422),
        ("GET", "/api/alarms?severity=fatal", None, 422),
        ("GET", "/api/alarms?limit=501", None, 422),
        ("GET", "/api/notifications?limit=0", None, 422),
        ("PUT", "/api/notifications/{unknown}/read", None, 404),
        ("DELETE", "/api/notifications/{unknown}", None, 404),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    admin: Account,
    engine: AlarmEngine,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
) -> None:
    known, _ = await raise_alarm(engine, "pump")
    before = (await client.get(f"/api/alarms/{known}", headers=admin.headers)).json()
    answer = await client.request(
        method, path.format(unknown=uuid.uuid4(), known=known), headers=admin.headers, json=body
    )
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["detail"], str)
    assert (await client.get(f"/api/alarms/{known}", headers=admin.headers)).json() == before
    ok = await client.post(
        f"/api/alarms/{known}/acknowledge", headers=admin.headers, json={"comment": "x" * 500}
    )
    assert ok.status_code == 200


async def test_a_notification_keeps_the_codes_and_values_its_english_was_rendered_from(
    client: httpx.AsyncClient, admin: Account, engine: AlarmEngine
) -> None:
    """``params`` (JSON) round-trips through the writer's insert on both databases, as REST serves it."""
    await raise_alarm(engine, "Boiler", value=97.25)
    stored = (await client.get("/api/notifications", headers=admin.headers)).json()["notifications"][0]
    assert (stored["title"], stored["message"]) == (
        "Boiler: critical (raised)",
        "value 97.25, limit 90, peak 97.25",
    )
    assert stored["params"] == {
        "title": "threshold_level",
        "message": "threshold_values",
        "name": "Boiler",
        "kind": "threshold",
        "severity": "critical",
        "transition": "raised",
        "value": 97.25,
        "threshold": 90.0,
        "peak": 97.25,
    }


async def test_notifications_are_each_users_own(
    client: httpx.AsyncClient, owner: Account, admin: Account, reader: Account, engine: AlarmEngine
) -> None:
    for minute in range(3):
        await raise_alarm(engine, f"pump-{minute}", at=T0 + timedelta(minutes=minute))
    page = await client.get("/api/notifications?limit=2", headers=admin.headers)
    body = page.json()
    assert (body["total"], body["unread_count"], body["limit"], body["offset"], body["has_more"]) == (
        3,
        3,
        2,
        0,
        True,
    )
    mine = body["notifications"]
    assert [n["title"].split(":")[0] for n in mine] == ["pump-2", "pump-1"]  # newest first
    assert set(mine[0]) >= {
        "id",
        "type",
        "severity",
        "title",
        "message",
        "device_id",
        "read_at",
        "created_at",
    }
    assert mine[0]["type"] == "threshold_warning"
    assert (await client.get("/api/notifications", headers=reader.headers)).json()["total"] == 0

    theirs = mine[0]["id"]
    for method, path in (
        ("PUT", f"/api/notifications/{theirs}/read"),
        ("DELETE", f"/api/notifications/{theirs}"),
    ):
        answer = await client.request(method, path, headers=owner.headers)
        assert answer.status_code == 404, (method, answer.text)
    assert (await client.get("/api/notifications/unread-count", headers=admin.headers)).json() == {
        "unread_count": 3
    }

    read = await client.put(f"/api/notifications/{theirs}/read", headers=admin.headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert (await client.get("/api/notifications?unread_only=true", headers=admin.headers)).json()[
        "total"
    ] == 2
    assert (await client.delete(f"/api/notifications/{theirs}", headers=admin.headers)).status_code == 204
    assert (await client.put("/api/notifications/read-all", headers=admin.headers)).json() == {"marked": 2}
    assert (await client.get("/api/notifications/unread-count", headers=admin.headers)).json() == {
        "unread_count": 0
    }
    assert (await client.get("/api/notifications/unread-count", headers=owner.headers)).json() == {
        "unread_count": 3
    }


async def test_the_stream_pushes_each_new_notification_to_its_user_only(
    database: db.Database, settings: Settings, engine: AlarmEngine
) -> None:
    async with asynccontextmanager(_serve)(settings) as base:
        owner = await owner_user()
        other = await add_user("other_admin", "admin")
        token = (await tokens_for(settings, owner)).access_token
        other_token = (await tokens_for(settings, other)).access_token
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.get(f"{base}/api/notifications/stream")
            assert refused.status_code == 401
            async with (
                http.stream("GET", f"{base}/api/notifications/stream?token={token}") as mine,
                http.stream(
                    "GET",
                    f"{base}/api/notifications/stream",
                    headers={"Authorization": f"Bearer {other_token}"},
                ) as theirs,
            ):
                assert mine.status_code == theirs.status_code == 200
                assert mine.headers["content-type"].startswith("text/event-stream")
                lines, other_lines = mine.aiter_lines(), theirs.aiter_lines()
                assert await anext(lines) == ": connected"
                assert await anext(other_lines) == ": connected"
                _, items = await raise_alarm(engine, "pump")
                expected = {str(item.id): item.user_id for item in items}
                for stream_lines, user_id in ((lines, owner.id), (other_lines, other.id)):
                    event = await asyncio.wait_for(_next_notification(stream_lines), 10)
                    assert event["user_id"] == str(user_id)
                    assert expected[event["id"]] == user_id
                    assert event["type"] == "threshold_warning"


async def _next_notification(lines: AsyncIterator[str]) -> dict[str, object]:
    async for line in lines:
        if line == "event: notification":
            data = await anext(lines)
            assert data.startswith("data: ")
            return dict(json.loads(data.removeprefix("data: ")))
    raise AssertionError("stream ended")


async def test_prometheus_counts_active_alarms_and_transitions(
    client: httpx.AsyncClient, reader: Account, engine: AlarmEngine
) -> None:
    async def samples(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        answer = await client.get("/metrics")
        assert answer.status_code == 200
        return {
            tuple(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
            if sample.name == name
        }

    acknowledged = (("kind", "threshold"), ("transition", "acknowledged"))
    before = (await samples("ddms_alarm_transitions_total")).get(acknowledged, 0.0)
    alarm_id, _ = await raise_alarm(engine, "pump", 95)
    await raise_alarm(engine, "fan", 85)
    active = await samples("ddms_alarms_active")
    assert active == {
        (("severity", "critical"),): 1,
        (("severity", "warning"),): 1,
        (("severity", "error"),): 0,
    }
    await client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=reader.headers)
    assert (await samples("ddms_alarm_transitions_total"))[acknowledged] == before + 1


async def test_deleting_a_device_without_an_engine_here_clears_its_alarms_into_the_history(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """A web-only instance (no collector, so no engine) still clears a deleted device's alarms."""
    created = await client.post(
        "/api/devices",
        headers=admin.headers,
        json={
            "name": "Kiln",
            "modbus_ip": "127.0.0.1",
            "modbus_port": 1502,
            "modbus_slave_id": 1,
            "modbus_register": 0,
        },
    )
    assert created.status_code == 201, created.text
    device = Limits("Kiln")
    device.id = uuid.UUID(created.json()["id"])
    engine = AlarmEngine()  # the collector's engine, in another process: not set in this runtime
    _, changes = engine.reading(device, 95.0, T0)
    async with db.session_scope() as session:
        (raised,), _ = await alarms.store_changes(session=session, changes=changes)
        await session.commit()
    notices: list[AlarmNotice] = []
    get_bus().on_alarm_notices(notices.extend)

    gone = await client.delete(f"/api/devices/{device.id}", headers=admin.headers)

    assert gone.status_code == 204
    kept = await client.get(f"/api/alarms/{raised.alarm.id}", headers=admin.headers)
    assert kept.status_code == 200, "the alarm stays in the history"
    assert (kept.json()["state"], kept.json()["cleared_at"] is not None) == ("cleared", True)
    async with db.session_scope() as session:
        events = (
            await session.exec(
                select(AlarmEvent).where(AlarmEvent.alarm_id == raised.alarm.id).order_by(col(AlarmEvent.id))
            )
        ).all()
    assert [e.transition for e in events] == ["raised", "cleared"]
    assert [(n.transition, n.alarm.id) for n in notices] == [("cleared", raised.alarm.id)]
