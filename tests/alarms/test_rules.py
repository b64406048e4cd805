"""The alarm rules on synthetic readings and timestamps (no clock, no I/O): every rule of the contract."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from ddms.services.alarm_rules import FAILED_POLLS, AlarmEngine, Change

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dev:
    id: uuid.UUID
    name: str = "boiler"
    threshold_warning_lower: float | None = None
    threshold_warning_upper: float | None = 80.0
    threshold_critical_lower: float | None = None
    threshold_critical_upper: float | None = 90.0
    hysteresis: float = 2.0


def feed(engine: AlarmEngine, device: Dev, values: list[float], start: int = 0) -> list[Change]:
    changes: list[Change] = []
    for second, value in enumerate(values, start):
        changes.extend(engine.reading(device, value, T0 + timedelta(seconds=second))[1])
    return changes


def transitions(changes: list[Change]) -> list[tuple[str, str, str]]:
    return [(c.transition, c.alarm.severity, c.alarm.state) for c in changes if c.transition != "updated"]


def test_a_value_inside_the_hysteresis_band_holds_the_alarm_until_it_leaves_the_band() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    changes = feed(engine, device, [70, 80, 79, 78.5, 78.01, 77.99, 79.9, 80])
    assert transitions(changes) == [
        ("raised", "warning", "active"),  # at the limit
        ("cleared", "warning", "cleared"),  # only below 80 - 2
        ("raised", "warning", "active"),  # a new episode, a new alarm
    ]
    first, second = (c.alarm.id for c in changes if c.transition == "raised")
    assert first != second
    raised = changes[0]
    assert (raised.alarm.value, raised.alarm.threshold) == (80, 80)


def test_escalation_and_de_escalation_keep_the_same_alarm_and_its_peak() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    changes = feed(engine, device, [81, 85, 91, 95, 89, 87.9, 83, 77])
    assert transitions(changes) == [
        ("raised", "warning", "active"),
        ("escalated", "critical", "active"),
        ("deescalated", "warning", "active"),  # below 90 - 2 only
        ("cleared", "warning", "cleared"),
    ]
    assert len({c.alarm.id for c in changes}) == 1
    escalated = next(c for c in changes if c.transition == "escalated")
    assert escalated.alarm.threshold == 90
    cleared = changes[-1]
    assert (cleared.alarm.value, cleared.alarm.peak_value, cleared.alarm.cleared_at) == (
        81,
        95,
        T0 + timedelta(seconds=7),
    )


def test_a_lower_limit_tracks_the_lowest_value_as_its_peak() -> None:
    engine = AlarmEngine()
    device = Dev(uuid.uuid4(), threshold_warning_lower=10, threshold_critical_lower=5, hysteresis=1)
    changes = feed(engine, device, [20, 9, 4, 3, 6.5, 12])
    assert transitions(changes) == [
        ("raised", "warning", "active"),
        ("escalated", "critical", "active"),
        ("deescalated", "warning", "active"),
        ("cleared", "warning", "cleared"),
    ]
    assert changes[-1].alarm.peak_value == 3
    assert changes[0].alarm.threshold == 10


def test_ten_minutes_of_noise_around_a_limit_raise_at_most_one_alarm() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    noise = random.Random(7)
    values = [80 + noise.uniform(-1.9, 1.9) for _ in range(600)]  # 1 s readings inside the band
    changes = feed(engine, device, values)
    raised = [c for c in changes if c.transition == "raised"]
    assert len(raised) == 1
    assert not [c for c in changes if c.transition == "cleared"]


def test_offline_after_three_failed_polls_once_and_its_recovery() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    feed(engine, device, [50])
    changes: list[Change] = []
    for second in range(1, 11):
        changes.extend(engine.failure(device, offline=True, at=T0 + timedelta(seconds=second)))
    assert [(c.transition, c.alarm.kind, c.alarm.severity) for c in changes] == [
        ("raised", "offline", "error")
    ]
    assert changes[0].at == T0 + timedelta(seconds=FAILED_POLLS)
    recovery = feed(engine, device, [50], start=11)
    assert transitions(recovery) == [("cleared", "error", "cleared")]
    assert recovery[0].alarm.id == changes[0].alarm.id


def test_two_failures_then_a_reading_raise_nothing() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    for round_ in range(5):
        engine.failure(device, offline=True, at=T0 + timedelta(seconds=3 * round_))
        engine.failure(device, offline=True, at=T0 + timedelta(seconds=3 * round_ + 1))
        assert not feed(engine, device, [50], start=3 * round_ + 2)
    assert engine.active() == []


def test_device_error_for_exception_or_garbage_answers() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    changes = [
        c for s in range(5) for c in engine.failure(device, offline=False, at=T0 + timedelta(seconds=s))
    ]
    assert [(c.transition, c.alarm.kind) for c in changes] == [("raised", "device_error")]
    # An unreachable device while in error: a separate condition of its own kind.
    more = [
        c for s in range(5, 8) for c in engine.failure(device, offline=True, at=T0 + timedelta(seconds=s))
    ]
    assert [(c.transition, c.alarm.kind) for c in more] == [("raised", "offline")]
    cleared = feed(engine, device, [50], start=9)
    assert sorted(c.alarm.kind for c in cleared if c.transition == "cleared") == ["device_error", "offline"]


def test_new_thresholds_apply_at_the_next_reading() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    raised = feed(engine, device, [85])
    assert transitions(raised) == [("raised", "warning", "active")]
    lowered = replace(device, threshold_critical_upper=84.0, threshold_warning_upper=70.0)
    assert transitions(feed(engine, lowered, [85], start=1)) == [("escalated", "critical", "active")]
    removed = replace(device, threshold_warning_upper=None, threshold_critical_upper=None)
    assert transitions(feed(engine, removed, [85], start=2)) == [("cleared", "critical", "cleared")]


def test_deleting_a_device_clears_its_alarms_and_restore_continues_them() -> None:
    engine, device = AlarmEngine(), Dev(uuid.uuid4())
    raised = feed(engine, device, [95])
    restarted = AlarmEngine()
    restarted.restore([raised[0].alarm.out()])
    assert restarted.level(device.id) == "critical"
    # Inside the band after the restart: the same alarm holds, nothing is raised twice.
    assert transitions(feed(restarted, device, [89, 88.5], start=1)) == []
    changes = restarted.device_deleted(device.id, T0 + timedelta(seconds=5))
    assert [(c.transition, c.alarm.id) for c in changes] == [("cleared", raised[0].alarm.id)]
    assert restarted.active() == []
