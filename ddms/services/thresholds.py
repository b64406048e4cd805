"""Alarm level of a value against a device's thresholds, with hysteresis. Pure functions."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Level(StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    CRITICAL = "critical"


_RANK = {Level.NORMAL: 0, Level.WARNING: 1, Level.CRITICAL: 2}


class HasThresholds(Protocol):
    """Read-only, so frozen configuration copies (the collector's DeviceConfig) qualify too."""

    @property
    def threshold_warning_lower(self) -> float | None: ...
    @property
    def threshold_warning_upper(self) -> float | None: ...
    @property
    def threshold_critical_lower(self) -> float | None: ...
    @property
    def threshold_critical_upper(self) -> float | None: ...
    @property
    def hysteresis(self) -> float: ...


def _raw_level(value: float, limits: HasThresholds, margin: float) -> Level:
    """Level with every limit moved ``margin`` towards normal (margin 0: the plain limits)."""
    if limits.threshold_critical_upper is not None and value >= limits.threshold_critical_upper - margin:
        return Level.CRITICAL
    if limits.threshold_critical_lower is not None and value <= limits.threshold_critical_lower + margin:
        return Level.CRITICAL
    if limits.threshold_warning_upper is not None and value >= limits.threshold_warning_upper - margin:
        return Level.WARNING
    if limits.threshold_warning_lower is not None and value <= limits.threshold_warning_lower + margin:
        return Level.WARNING
    return Level.NORMAL


def classify(value: float, limits: HasThresholds, previous: Level | None = None) -> Level:
    """normal, warning or critical.

    A value at or beyond a limit raises the level at once. To come back down, the value must return
    past the limit by the device's hysteresis: while it stays within that band the previous, higher
    level holds, so a signal hovering at a limit does not flap.
    """
    level = _raw_level(value, limits, 0.0)
    if previous is None or limits.hysteresis <= 0 or _RANK[level] >= _RANK[previous]:
        return level
    sticky = _raw_level(value, limits, limits.hysteresis)
    return previous if _RANK[sticky] >= _RANK[previous] else max(level, sticky, key=_RANK.__getitem__)
