"""Alarm levels against a device's thresholds, with hysteresis on the way back down."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ddms.services.thresholds import Level, classify


@dataclass
class Limits:
    threshold_warning_lower: float | None = 10.0
    threshold_warning_upper: float | None = 80.0
    threshold_critical_lower: float | None = 0.0
    threshold_critical_upper: float | None = 90.0
    hysteresis: float = 2.0


N, W, C = Level.NORMAL, Level.WARNING, Level.CRITICAL


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (50, N),
        (79.99, N),
        (80, W),
        (89.9, W),
        (90, C),
        (1e9, C),
        (10.01, N),
        (10, W),
        (0.5, W),
        (0, C),
        (-5, C),
    ],
)
def test_plain_levels(value: float, level: Level) -> None:
    assert classify(value, Limits()) == level
    assert classify(value, Limits(hysteresis=0), previous=C) == level  # no hysteresis: no memory


@pytest.mark.parametrize(
    ("previous", "value", "level"),
    [
        (C, 89, C),
        (C, 88, C),
        (C, 87.9, W),
        (C, 50, N),
        (W, 79, W),
        (W, 78, W),
        (W, 77.9, N),
        (W, 95, C),
        (C, 1, C),
        (C, 2, C),
        (C, 2.1, W),
        (W, 11, W),
        (W, 12.1, N),
        (N, 79, N),
        (N, 85, W),
    ],
)
def test_hysteresis_holds_the_higher_level_within_the_band(
    previous: Level, value: float, level: Level
) -> None:
    assert classify(value, Limits(), previous=previous) == level


def test_missing_limits_are_ignored() -> None:
    limits = Limits(
        threshold_warning_lower=None, threshold_critical_lower=None, threshold_critical_upper=None
    )
    assert classify(-1e9, limits) == N
    assert classify(80, limits) == W
    assert classify(1e9, limits) == W
    nothing = Limits(None, None, None, None, 5)
    assert classify(123.0, nothing, previous=C) == N
