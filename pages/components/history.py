"""Where charts get their data: the history service's bucketed series (one switchable call).

Pages never query readings themselves: ``load_series`` asks ``ddms.services.readings.series`` for
at most ``max_points`` buckets (avg/min/max/count) of one device between two instants.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ddms import db
from ddms.services import readings


@dataclass(frozen=True, slots=True)
class Point:
    timestamp: datetime
    avg: float
    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class Series:
    points: list[Point]
    bucket_seconds: float
    source: str


def _field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


async def load_series(device_id: uuid.UUID, start: datetime, end: datetime, max_points: int = 1000) -> Series:
    async with db.session_scope() as session:
        result = await readings.series(
            session=session, device_id=device_id, start_time=start, end_time=end, max_points=max_points)
    points = [Point(_field(p, "timestamp"), _field(p, "avg"), _field(p, "min"), _field(p, "max"),
                    _field(p, "count")) for p in _field(result, "points")]
    return Series(points, float(_field(result, "bucket_seconds")), str(_field(result, "source")))
