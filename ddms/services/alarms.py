"""Alarms: reading and acknowledging them, their history, and the live summary for cards and the bell.

The alarm rules (``alarm_rules``) run in the collector; the transitions they produce are stored by
the collector's writer (``store_changes``, in the same batch as the readings) and published on the
bus after commit. This module is what REST and the pages use: queries, acknowledgement (stored
here, then published as an ``AlarmNotice``), and ``active_summary()`` from memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, Uuid, and_, bindparam, delete, func, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import cache, db, metrics, runtime
from ddms.bus import AlarmNotice, get_bus
from ddms.cache import ReadCache
from ddms.errors import Invalid, NotFound
from ddms.models import Alarm, AlarmEvent, DeviceGroup, Role, User, UTCDateTime, utcnow
from ddms.schemas.alarms import AlarmEventOut, AlarmOut, NotificationOut
from ddms.services import alarm_texts
from ddms.services.alarm_rules import (
    ACKNOWLEDGED,
    CLEARED,
    DEVICE_ERROR,
    OFFLINE,
    RAISED,
    UPDATED,
    AlarmEngine,
    Change,
    LiveAlarm,
)

STATES = ("active", "cleared", "all")
SEVERITIES = ("warning", "critical", "error")
MAX_LIMIT = 500
RECIPIENTS_CACHE_SECONDS = 30.0
RESTORE_LATCHED = 1000
"""Cleared-but-unacknowledged alarms taken back into memory at start (newest first)."""


# --- the in-memory view (no database) ----------------------------------------------------------
def set_engine(engine: AlarmEngine | None) -> None:
    """The collector installs its engine in the app's runtime (None: no collector in this process)."""
    runtime.current().alarm_engine = engine


def get_engine() -> AlarmEngine | None:
    engine: AlarmEngine | None = runtime.current().alarm_engine
    return engine


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """An alarm as cards and tiles show it; ``latched``: cleared, not yet acknowledged."""

    id: uuid.UUID
    device_id: uuid.UUID
    kind: str
    severity: str
    acknowledged: bool
    latched: bool


_WORST = {"critical": 3, "error": 2, "warning": 1}


@dataclass(frozen=True, slots=True)
class ActiveSummary:
    """Active alarms of this process's collector, for the bell and the latched look."""

    count_unacknowledged: int
    worst: Literal["critical", "error", "warning"] | None
    by_device: dict[uuid.UUID, list[ActiveAlarm]]

    def active_for(self, device_id: uuid.UUID) -> list[ActiveAlarm]:
        """Active alarms of the device, then its cleared-but-unacknowledged (latched) ones."""
        return self.by_device.get(device_id, [])


def _active(alarm: LiveAlarm, latched: bool) -> ActiveAlarm:
    return ActiveAlarm(
        alarm.id, alarm.device_id, alarm.kind, alarm.severity, alarm.acknowledged_at is not None, latched
    )


def active_summary() -> ActiveSummary:
    """From memory: the count of active unacknowledged alarms, the worst severity, per device."""
    engine = get_engine()
    if engine is None:
        return ActiveSummary(0, None, {})
    by_device: dict[uuid.UUID, list[ActiveAlarm]] = {}
    count, worst = 0, None
    for alarm in engine.active():
        by_device.setdefault(alarm.device_id, []).append(_active(alarm, False))
        if alarm.acknowledged_at is None:
            count += 1
            if worst is None or _WORST[alarm.severity] > _WORST[worst]:
                worst = alarm.severity
    for alarm in list(engine.latched.values()):
        by_device.setdefault(alarm.device_id, []).append(_active(alarm, True))
    return ActiveSummary(count, worst, by_device)  # type: ignore[arg-type]


# --- queries ---------------------------------------------------------------------------------------
def _out(alarm: Alarm) -> AlarmOut:
    return AlarmOut.model_validate(alarm)


def check_filters(state: str, severity: str | None, limit: int, offset: int) -> None:
    if state not in STATES:
        raise Invalid("one_of", field="state", params={"name": "state", "choices": ", ".join(STATES)})
    if severity is not None and severity not in SEVERITIES:
        choices = ", ".join(SEVERITIES)
        raise Invalid("one_of", field="severity", params={"name": "severity", "choices": choices})
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise Invalid("page_bounds", params={"max": MAX_LIMIT})


async def list_alarms(
    *,
    session: AsyncSession,
    state: str = "active",
    severity: str | None = None,
    device_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AlarmOut], int]:
    """Alarms newest raised first, with the total that match. Bad filters: Invalid."""
    check_filters(state, severity, limit, offset)
    conditions: list[Any] = []
    if state != "all":
        conditions.append(col(Alarm.state) == state)
    if severity is not None:
        conditions.append(col(Alarm.severity) == severity)
    if device_id is not None:
        conditions.append(col(Alarm.device_id) == device_id)
    if group_id is not None:
        members = select(DeviceGroup.device_id).where(DeviceGroup.group_id == group_id)
        conditions.append(col(Alarm.device_id).in_(members))
    if since is not None:
        conditions.append(col(Alarm.raised_at) >= since)
    if until is not None:
        conditions.append(col(Alarm.raised_at) <= until)
    where = and_(True, *conditions)
    total = (await session.exec(select(func.count()).select_from(Alarm).where(where))).one()
    query = (
        select(Alarm)
        .where(where)
        .order_by(col(Alarm.raised_at).desc(), col(Alarm.id))
        .limit(limit)
        .offset(offset)
    )
    return [_out(row) for row in (await session.exec(query)).all()], int(total)


async def get_alarm(*, session: AsyncSession, alarm_id: uuid.UUID) -> AlarmOut:
    alarm = await session.get(Alarm, alarm_id, populate_existing=True)
    if alarm is None:
        raise NotFound("alarm_not_found")
    return _out(alarm)


async def load_live(*, session: AsyncSession) -> list[AlarmOut]:
    """Active alarms and the newest cleared-but-unacknowledged ones: what a restarted engine restores."""
    active = (await session.exec(select(Alarm).where(col(Alarm.state) == "active"))).all()
    latched = (
        await session.exec(
            select(Alarm)
            .where(col(Alarm.state) == "cleared", col(Alarm.acknowledged_at).is_(None))
            .order_by(col(Alarm.cleared_at).desc())
            .limit(RESTORE_LATCHED)
        )
    ).all()
    return [_out(row) for row in [*active, *latched]]


# --- acknowledgement -------------------------------------------------------------------------------
async def _acknowledge_rows(
    session: AsyncSession, rows: Sequence[Alarm], username: str, comment: str | None
) -> list[AlarmNotice]:
    now = utcnow()
    notices = []
    for alarm in rows:
        alarm.acknowledged_at, alarm.acknowledged_by, alarm.comment = now, username, comment
        alarm.updated_at = now
        session.add(alarm)
        session.add(
            AlarmEvent(
                alarm_id=alarm.id,
                device_id=alarm.device_id,
                transition=ACKNOWLEDGED,
                severity=alarm.severity,
                value=alarm.value,
                at=now,
                username=username,
                comment=comment,
            )
        )
        notices.append(AlarmNotice(ACKNOWLEDGED, _out(alarm), now))
    await session.commit()
    for notice in notices:
        metrics.ALARM_TRANSITIONS.labels(kind=notice.alarm.kind, transition=ACKNOWLEDGED).inc()
    return notices


def _publish_acks(notices: list[AlarmNotice]) -> None:
    if not notices:
        return
    engine = get_engine()
    if engine is not None:
        for notice in notices:
            engine.acknowledged(notice.alarm)
    get_bus().alarm_notices(notices)


async def acknowledge(
    *, session: AsyncSession, alarm_id: uuid.UUID, username: str, comment: str | None = None
) -> AlarmOut:
    """Record who acknowledged the alarm; acknowledging again changes nothing. Unknown: NotFound."""
    alarm = await session.get(Alarm, alarm_id, populate_existing=True, with_for_update=True)
    if alarm is None:
        raise NotFound("alarm_not_found")
    if alarm.acknowledged_at is not None:
        return _out(alarm)
    notices = await _acknowledge_rows(session, [alarm], username, comment)
    _publish_acks(notices)
    return notices[0].alarm


async def acknowledge_all(
    *,
    session: AsyncSession,
    username: str,
    device_id: uuid.UUID | None = None,
    comment: str | None = None,
) -> int:
    """Acknowledge every active unacknowledged alarm (of one device, when given); returns how many."""
    query = select(Alarm).where(col(Alarm.state) == "active", col(Alarm.acknowledged_at).is_(None))
    if device_id is not None:
        query = query.where(col(Alarm.device_id) == device_id)
    rows = (await session.exec(query.with_for_update())).all()
    if not rows:
        return 0
    notices = await _acknowledge_rows(session, rows, username, comment)
    _publish_acks(notices)
    return len(notices)


# --- history ---------------------------------------------------------------------------------------
async def alarm_history(
    *,
    session: AsyncSession,
    device_id: uuid.UUID | None = None,
    alarm_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[AlarmEventOut]:
    """Transitions newest first (within one instant, the latest stored first)."""
    query = select(AlarmEvent)
    if device_id is not None:
        query = query.where(col(AlarmEvent.device_id) == device_id)
    if alarm_id is not None:
        query = query.where(col(AlarmEvent.alarm_id) == alarm_id)
    if since is not None:
        query = query.where(col(AlarmEvent.at) >= since)
    if until is not None:
        query = query.where(col(AlarmEvent.at) <= until)
    query = query.order_by(col(AlarmEvent.at).desc(), col(AlarmEvent.id).desc()).limit(max(1, limit))
    return [AlarmEventOut.model_validate(row) for row in (await session.exec(query)).all()]


# --- storing the engine's changes (called by the collector's writer) ---------------------------
_ALARM_COLUMNS = (
    "device_name",
    "severity",
    "state",
    "value",
    "peak_value",
    "threshold",
    "cleared_at",
    "updated_at",
)


def _alarm_row(alarm: LiveAlarm, at: datetime) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "device_id": alarm.device_id,
        "device_name": alarm.device_name,
        "kind": alarm.kind,
        "severity": alarm.severity,
        "state": alarm.state,
        "value": alarm.value,
        "peak_value": alarm.peak_value,
        "threshold": alarm.threshold,
        "raised_at": alarm.raised_at,
        "cleared_at": alarm.cleared_at,
        "updated_at": at,
    }


_DEVICE_TYPES = {OFFLINE: "device_offline", DEVICE_ERROR: "device_error"}


def notification_for(change: Change) -> tuple[str, str, dict[str, Any]]:
    """(type, severity, params) of the in-app notification of one transition.

    ``params`` names the title and message templates (``alarm_texts``) and holds what fills them;
    the English title and message are rendered from it, the pages translate from it.
    """
    alarm, transition = change.alarm, change.transition
    params: dict[str, Any] = {"name": alarm.device_name, "kind": alarm.kind, "transition": transition}
    if alarm.kind == "threshold":
        params |= {"value": change.value, "threshold": alarm.threshold, "peak": alarm.peak_value}
        params |= {"severity": alarm.severity, "message": "threshold_values"}
        if transition == CLEARED:
            return "threshold_cleared", "info", params | {"title": "threshold_cleared"}
        return f"threshold_{alarm.severity}", alarm.severity, params | {"title": "threshold_level"}
    cleared = transition == CLEARED
    kind = "device_online" if cleared else _DEVICE_TYPES[alarm.kind]
    severity = "info" if cleared else "error"
    params |= {"severity": severity, "message": "alarm_transition"}
    return kind, severity, params | {"title": f"{alarm.kind}_{CLEARED if cleared else RAISED}"}


def _recipients() -> ReadCache[list[uuid.UUID]]:
    return runtime.current().cache(
        "alarm-recipients", lambda: ReadCache(tables=("users",), ttl=RECIPIENTS_CACHE_SECONDS)
    )


async def _load_recipients() -> list[uuid.UUID]:
    async with db.session_scope() as session:
        query = select(User.id).where(col(User.role).in_([Role.OWNER, Role.ADMIN]))
        return list((await session.exec(query)).all())


async def recipients() -> list[uuid.UUID]:
    """Who receives device alerts: the owner and the admins (cached; a change here is seen at once)."""
    return await _recipients().get("device-alerts", db.current().engine, _load_recipients)


# A recipient deleted by another process meanwhile is skipped, not a refused batch.
_NOTIFICATION_SQL = text(
    "INSERT INTO notifications (id, user_id, type, severity, title, message, params, device_id, "
    "alarm_id, read_at, created_at) SELECT :id, :user_id, :type, :severity, :title, :message, :params, "
    ":device_id, :alarm_id, NULL, :created_at WHERE EXISTS (SELECT 1 FROM users WHERE id = :user_id)"
).bindparams(
    bindparam("params", type_=JSON()),
    bindparam("id", type_=Uuid()),
    bindparam("user_id", type_=Uuid()),
    bindparam("device_id", type_=Uuid()),
    bindparam("alarm_id", type_=Uuid()),
    bindparam("created_at", type_=UTCDateTime()),
)


def _upsert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(Alarm.__table__)  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={name: statement.excluded[name] for name in _ALARM_COLUMNS}
    )


async def store_changes(
    *, session: AsyncSession, changes: Sequence[Change], replay: bool = False
) -> tuple[list[AlarmNotice], list[NotificationOut]]:
    """Write a batch of engine changes in one transaction; returns what to publish after commit.

    Each alarm's newest snapshot is upserted (in the order of its last change, so a cleared alarm is
    stored before the next one of the same device and kind is inserted); every transition becomes an
    alarm_events row and one notification per recipient. Peak updates (``updated``) write the row only.
    The caller commits. ``replay``: the batch comes from the writer's spool and may have been
    committed before a crash; a transition already stored (same alarm, transition and time) is
    skipped with its notifications, so a replay stores nothing twice.
    """
    if not changes:
        return [], []
    latest: dict[uuid.UUID, tuple[int, dict[str, Any]]] = {}
    for seq, change in enumerate(changes):
        latest.pop(change.alarm.id, None)
        latest[change.alarm.id] = (seq, _alarm_row(change.alarm, change.at))
    dialect = db.dialect_of(session)
    rows = [row for _, row in sorted(latest.values(), key=lambda item: item[0])]
    await session.exec(_upsert(dialect), params=rows)
    transitions = [change for change in changes if change.transition != UPDATED]
    if replay and transitions:
        stored = await session.exec(
            select(AlarmEvent.alarm_id, AlarmEvent.transition, AlarmEvent.at).where(
                col(AlarmEvent.alarm_id).in_({c.alarm.id for c in transitions})
            )
        )
        seen = {(alarm_id, transition, at) for alarm_id, transition, at in stored}
        transitions = [c for c in transitions if (c.alarm.id, c.transition, c.at) not in seen]
    if not transitions:
        return [], []
    await session.exec(
        insert(AlarmEvent.__table__),  # type: ignore[attr-defined]
        params=[
            {
                "alarm_id": c.alarm.id,
                "device_id": c.alarm.device_id,
                "transition": c.transition,
                "severity": c.alarm.severity,
                "value": c.value,
                "at": c.at,
                "username": None,
                "comment": None,
            }
            for c in transitions
        ],
    )
    users = await recipients()
    items: list[NotificationOut] = []
    for change in transitions:
        kind, severity, params = notification_for(change)
        title, message = alarm_texts.title(params), alarm_texts.message(params)
        for user_id in users:
            items.append(
                NotificationOut(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    type=kind,  # type: ignore[arg-type]
                    severity=severity,  # type: ignore[arg-type]
                    title=title,
                    message=message,
                    params=params,
                    device_id=change.alarm.device_id,
                    alarm_id=change.alarm.id,
                    read_at=None,
                    created_at=change.at,
                )
            )
    if items:
        await session.exec(
            _NOTIFICATION_SQL,
            params=[  # type: ignore[call-overload]
                {
                    "id": item.id,
                    "user_id": item.user_id,
                    "type": item.type,
                    "severity": item.severity,
                    "title": item.title,
                    "message": item.message,
                    "params": item.params,
                    "device_id": item.device_id,
                    "alarm_id": item.alarm_id,
                    "created_at": item.created_at,
                }
                for item in items
            ],
        )
        cache.wrote(session, "notifications")
    notices = [AlarmNotice(c.transition, c.alarm.out(), c.at) for c in transitions]
    return notices, items


async def purge_before(*, session: AsyncSession, cutoff: datetime) -> tuple[int, int]:
    """Delete alarm history before ``cutoff`` and the alarms cleared before it (active ones stay)."""
    events = await session.exec(delete(AlarmEvent).where(col(AlarmEvent.at) < cutoff))
    gone = await session.exec(
        delete(Alarm).where(col(Alarm.state) == "cleared", col(Alarm.cleared_at) < cutoff)
    )
    await session.commit()
    return int(gone.rowcount or 0), int(events.rowcount or 0)


async def clear_deleted(*, session: AsyncSession, device_id: uuid.UUID) -> list[AlarmNotice]:
    """Clear a deleted device's active alarms when no alarm engine in this process holds them (a
    web-only instance): each clear is kept in the history and announced like the engine's. The
    caller commits (with the deletion, so the two cannot part)."""
    now = utcnow()
    rows = (
        await session.exec(
            select(Alarm).where(col(Alarm.device_id) == device_id, col(Alarm.state) == "active")
        )
    ).all()
    notices = []
    for alarm in rows:
        alarm.state, alarm.cleared_at, alarm.updated_at = "cleared", now, now
        session.add(alarm)
        session.add(
            AlarmEvent(
                alarm_id=alarm.id,
                device_id=alarm.device_id,
                transition=CLEARED,
                severity=alarm.severity,
                value=alarm.value,
                at=now,
            )
        )
        notices.append(AlarmNotice(CLEARED, _out(alarm), now))
    return notices


def announce(notices: list[AlarmNotice]) -> None:
    """After the commit: count the transitions and tell the bus (channels, pages)."""
    for notice in notices:
        metrics.ALARM_TRANSITIONS.labels(kind=notice.alarm.kind, transition=notice.transition).inc()
    if notices:
        get_bus().alarm_notices(notices)
