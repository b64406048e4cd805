"""Where charts get their data: the history service's bucketed series (never a query of their own).

``ddms.services.readings.series`` picks the raw table or the rollup that fits the range and never
returns more than ``max_points`` buckets (avg/min/max/count), so a 30-day chart stays light.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ddms import db
from ddms.services import readings
from ddms.services.readings import Series
from pages.session import current_time


async def load_series(device_id: uuid.UUID, start: datetime, end: datetime, max_points: int = 1000) -> Series:
    async with db.session_scope() as session:
        return await readings.series(session, device_id, start, end, max_points)


async def load_group_series(
    device_ids: list[uuid.UUID],
    start: datetime,
    end: datetime,
    max_points: int = 1000,
    sampling_interval: float | None = None,
) -> dict[uuid.UUID, Series]:
    """One series per device, in one query (a group chart); ``sampling_interval``: the fastest of
    theirs, when the page has the devices (else the service reads it)."""
    if not device_ids:
        return {}
    async with db.session_scope() as session:
        return await readings.series_many(session, device_ids, start, end, max_points, sampling_interval)


TREND_SPAN = timedelta(hours=1)
Trend = list[tuple[datetime, float]]


async def recent_trends(device_ids: list[uuid.UUID], points: int = 60) -> dict[uuid.UUID, Trend]:
    """The last hour of each device as at most ``points`` averages: the cards' small trend lines.

    One query for all cards when a page opens; from then on the bus extends them.
    """
    end = current_time()
    series = await load_group_series(device_ids, end - TREND_SPAN, end, points)
    return {device_id: [(p.timestamp, p.avg) for p in s.points] for device_id, s in series.items()}
