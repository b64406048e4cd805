"""Where charts get their data: the history service's bucketed series (never a query of their own).

``ddms.services.readings.series`` picks the raw table or the rollup that fits the range and never
returns more than ``max_points`` buckets (avg/min/max/count), so a 30-day chart stays light.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ddms import db
from ddms.services import readings
from ddms.services.readings import Series


async def load_series(device_id: uuid.UUID, start: datetime, end: datetime, max_points: int = 1000) -> Series:
    async with db.session_scope() as session:
        return await readings.series(session, device_id, start, end, max_points)


async def load_group_series(device_ids: list[uuid.UUID], start: datetime, end: datetime,
                            max_points: int = 1000) -> dict[uuid.UUID, Series]:
    """One series per device, in one query (a group chart)."""
    if not device_ids:
        return {}
    async with db.session_scope() as session:
        return await readings.series_many(session, device_ids, start, end, max_points)
