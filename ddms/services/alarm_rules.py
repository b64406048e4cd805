"""The alarm rules: pure state machine, no I/O, no clock (every call is given its time).

One ``AlarmEngine`` per polling process holds, per device, the threshold level it is in (so
hysteresis works across readings), its failed polls in a row and its active alarms. The poller asks
it once per reading (``reading``) and once per failed poll (``failure``); it answers the alarm level
of the reading and the alarm ``Change``s that happened (almost always none: the common path is a
dictionary look-up and one ``classify``). The caller queues the changes on the writer, which stores
them with the readings and publishes them after commit.

Rules (CONTRACT.md, Alarms):

- threshold: raised when a reading enters warning or critical (``thresholds.classify`` with the
  device's hysteresis); warning → critical escalates and critical → warning de-escalates the SAME
  alarm; back to normal clears it. ``threshold`` is the limit crossed, ``peak_value`` the reading
  furthest from normal while active. New limits apply at the next reading.
- offline: raised after ``FAILED_POLLS`` consecutive polls without an answer; cleared by the next reading.
- device_error: raised after ``FAILED_POLLS`` consecutive exception or garbage answers; cleared
  by the next good reading.
- at most one active alarm per (device, kind); a deleted device's alarms are cleared.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final, Protocol

from ddms.schemas.alarms import AlarmOut
from ddms.services.thresholds import HasThresholds, Level, classify

FAILED_POLLS: Final = 3
"""Failed polls in a row before an offline or device_error alarm is raised (reported once)."""

THRESHOLD, OFFLINE, DEVICE_ERROR = "threshold", "offline", "device_error"
RAISED, ESCALATED, DEESCALATED, CLEARED, ACKNOWLEDGED, UPDATED = (
    "raised",
    "escalated",
    "deescalated",
    "cleared",
    "acknowledged",
    "updated",
)
_RANK = {"warning": 1, "error": 1, "critical": 2}
NO_CHANGES: Final[tuple[Change, ...]] = ()


@dataclass(slots=True)
class LiveAlarm:
    """The in-memory copy of one alarm (active, or cleared but not yet acknowledged)."""

    id: uuid.UUID
    device_id: uuid.UUID
    device_name: str
    kind: str
    severity: str
    state: str
    value: float | None
    peak_value: float | None
    threshold: float | None
    raised_at: datetime
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    comment: str | None = None
    upper: bool = True  # the side of the limit (peak = max above an upper limit, min below a lower one)

    def out(self) -> AlarmOut:
        return AlarmOut(
            id=self.id,
            device_id=self.device_id,
            device_name=self.device_name,
            kind=self.kind,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            state=self.state,  # type: ignore[arg-type]
            value=self.value,
            peak_value=self.peak_value,
            threshold=self.threshold,
            raised_at=self.raised_at,
            cleared_at=self.cleared_at,
            acknowledged_at=self.acknowledged_at,
            acknowledged_by=self.acknowledged_by,
            comment=self.comment,
        )

    @classmethod
    def from_out(cls, alarm: AlarmOut) -> LiveAlarm:
        live = cls(**{name: getattr(alarm, name) for name in AlarmOut.model_fields})
        if alarm.threshold is not None and alarm.peak_value is not None:
            live.upper = alarm.peak_value >= alarm.threshold
        return live


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to an alarm: a transition, or ``updated`` (a new peak, a new name).

    ``alarm`` is a snapshot after the change; ``value`` the reading that caused it, if any.
    """

    transition: str
    alarm: LiveAlarm
    at: datetime
    value: float | None = None


@dataclass(slots=True)
class DeviceAlarms:
    level: Level = Level.NORMAL
    offline_streak: int = 0
    error_streak: int = 0
    active: dict[str, LiveAlarm] = field(default_factory=dict)


class Limits(HasThresholds, Protocol):
    """What ``reading`` needs of a device: id, name and thresholds (DeviceConfig or Device)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...


def limit_crossed(level: Level, value: float, limits: HasThresholds) -> tuple[float | None, bool]:
    """The limit of ``level`` on the side of ``value`` and whether it is an upper limit."""
    if level is Level.CRITICAL:
        lower, upper = limits.threshold_critical_lower, limits.threshold_critical_upper
    else:
        lower, upper = limits.threshold_warning_lower, limits.threshold_warning_upper
    if upper is not None and (lower is None or value >= (lower + upper) / 2):
        return upper, True
    return lower, False


class AlarmEngine:
    """Alarm state of every device polled by this process (see the module docstring)."""

    def __init__(self) -> None:
        self.devices: dict[uuid.UUID, DeviceAlarms] = {}
        self.latched: dict[uuid.UUID, LiveAlarm] = {}
        """Cleared alarms nobody acknowledged yet (the cards keep their latched look)."""

    # --- restore and queries ------------------------------------------------------------------------
    def restore(self, alarms: Iterable[AlarmOut]) -> None:
        """Take over alarms from the database after a restart: the same alarms continue."""
        for alarm in alarms:
            live = LiveAlarm.from_out(alarm)
            if alarm.state == "active":
                state = self.devices.setdefault(alarm.device_id, DeviceAlarms())
                state.active[alarm.kind] = live
                if alarm.kind == THRESHOLD:
                    state.level = Level(alarm.severity)
                elif alarm.kind == OFFLINE:
                    state.offline_streak = FAILED_POLLS
                else:
                    state.error_streak = FAILED_POLLS
            elif alarm.acknowledged_at is None:
                self.latched[alarm.id] = live

    def level(self, device_id: uuid.UUID) -> Level | None:
        state = self.devices.get(device_id)
        return state.level if state is not None else None

    def active(self) -> list[LiveAlarm]:
        return [alarm for state in self.devices.values() for alarm in state.active.values()]

    def active_for(self, device_id: uuid.UUID) -> list[LiveAlarm]:
        state = self.devices.get(device_id)
        return list(state.active.values()) if state is not None else []

    def latched_for(self, device_id: uuid.UUID) -> list[LiveAlarm]:
        return [alarm for alarm in self.latched.values() if alarm.device_id == device_id]

    # --- the poll path ----------------------------------------------------------------------------
    def reading(self, device: Limits, value: float, at: datetime) -> tuple[Level, tuple[Change, ...]]:
        """The level of ``value`` and the alarm changes it causes."""
        state = self.devices.get(device.id)
        if state is None:
            state = self.devices[device.id] = DeviceAlarms()
        previous = state.level
        level = classify(value, device, previous)
        state.level = level
        if level is previous and not state.active and not state.offline_streak and not state.error_streak:
            return level, NO_CHANGES  # the common path: nothing abnormal
        changes: list[Change] = []
        state.offline_streak = state.error_streak = 0
        for kind in (OFFLINE, DEVICE_ERROR):
            if kind in state.active:
                changes.append(self._clear(state, kind, at, value))
        alarm = state.active.get(THRESHOLD)
        if level is Level.NORMAL:
            if alarm is not None:
                changes.append(self._clear(state, THRESHOLD, at, value))
        elif alarm is None:
            limit, upper = limit_crossed(level, value, device)
            alarm = LiveAlarm(
                id=uuid.uuid4(),
                device_id=device.id,
                device_name=device.name,
                kind=THRESHOLD,
                severity=str(level),
                state="active",
                value=value,
                peak_value=value,
                threshold=limit,
                raised_at=at,
                upper=upper,
            )
            state.active[THRESHOLD] = alarm
            changes.append(Change(RAISED, replace(alarm), at, value))
        else:
            changed = False
            if alarm.severity != level:
                transition = ESCALATED if _RANK[level] > _RANK[alarm.severity] else DEESCALATED
                alarm.severity = str(level)
                alarm.threshold, alarm.upper = limit_crossed(level, value, device)
                changed = True
            else:
                transition = UPDATED
            if alarm.peak_value is None or (
                value > alarm.peak_value if alarm.upper else value < alarm.peak_value
            ):
                alarm.peak_value = value
                changed = True
            if alarm.device_name != device.name:
                alarm.device_name = device.name
                changed = True
            if changed:
                changes.append(Change(transition, replace(alarm), at, value))
        return level, tuple(changes)

    def failure(
        self, device: Limits, *, offline: bool, at: datetime, error: str | None = None
    ) -> tuple[Change, ...]:
        """A poll without a reading: no answer (``offline``) or an exception/garbage answer."""
        state = self.devices.get(device.id)
        if state is None:
            state = self.devices[device.id] = DeviceAlarms()
        if offline:
            state.offline_streak += 1
            state.error_streak = 0
            streak, kind = state.offline_streak, OFFLINE
        else:
            state.error_streak += 1
            state.offline_streak = 0
            streak, kind = state.error_streak, DEVICE_ERROR
        if streak < FAILED_POLLS or kind in state.active:
            return NO_CHANGES
        alarm = LiveAlarm(
            id=uuid.uuid4(),
            device_id=device.id,
            device_name=device.name,
            kind=kind,
            severity="error",
            state="active",
            value=None,
            peak_value=None,
            threshold=None,
            raised_at=at,
            comment=None,
        )
        state.active[kind] = alarm
        return (Change(RAISED, replace(alarm), at),)

    def device_deleted(self, device_id: uuid.UUID, at: datetime) -> tuple[Change, ...]:
        """Clear every active alarm of a deleted device (they stay in the history)."""
        state = self.devices.pop(device_id, None)
        for alarm_id in [a.id for a in self.latched.values() if a.device_id == device_id]:
            del self.latched[alarm_id]
        if state is None:
            return NO_CHANGES
        changes = tuple(self._clear(state, kind, at, None) for kind in list(state.active))
        for change in changes:
            self.latched.pop(change.alarm.id, None)
        return changes

    def acknowledged(self, alarm: AlarmOut) -> None:
        """An acknowledgement was committed (by any process): keep the in-memory copy in step."""
        self.latched.pop(alarm.id, None)
        state = self.devices.get(alarm.device_id)
        live = state.active.get(alarm.kind) if state is not None else None
        if live is not None and live.id == alarm.id:
            live.acknowledged_at, live.acknowledged_by = alarm.acknowledged_at, alarm.acknowledged_by
            live.comment = alarm.comment

    def _clear(self, state: DeviceAlarms, kind: str, at: datetime, value: float | None) -> Change:
        alarm = state.active.pop(kind)
        alarm.state, alarm.cleared_at = "cleared", at
        if kind == THRESHOLD:
            state.level = Level.NORMAL
        if alarm.acknowledged_at is None:
            self.latched[alarm.id] = alarm
        return Change(CLEARED, replace(alarm), at, value)
