"""The alarm history (cleared alarms of a range) as CSV: one file for GET /api/export/alarms and the
/alarms page's download, streamed a page of the alarm service at a time (constant memory).

Names, users and comments are neutralised against spreadsheet formulas as in the readings export.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from ddms import db
from ddms.models import utcnow
from ddms.schemas.alarms import AlarmOut
from ddms.services import alarms, export

HEADER = [
    "raised_at",
    "cleared_at",
    "device_name",
    "kind",
    "severity",
    "value",
    "peak_value",
    "threshold",
    "acknowledged_at",
    "acknowledged_by",
    "comment",
]
CHUNK = 500  # the alarm service's largest page


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    """The filters of one export, checked before the response starts."""

    severity: str | None = None
    device_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def content_disposition(self) -> str:
        return export.content_disposition("alarms", utcnow())


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _num(value: float | None) -> str:
    return repr(float(value)) if value is not None else ""


def rows_csv(found: list[AlarmOut], *, header: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(HEADER)
    for alarm in found:
        writer.writerow(
            [
                _iso(alarm.raised_at),
                _iso(alarm.cleared_at),
                export.csv_text(alarm.device_name),
                alarm.kind,
                alarm.severity,
                _num(alarm.value),
                _num(alarm.peak_value),
                _num(alarm.threshold),
                _iso(alarm.acknowledged_at),
                export.csv_text(alarm.acknowledged_by),
                export.csv_text(alarm.comment),
            ]
        )
    return buffer.getvalue().encode("utf-8")


async def _page(query: AlarmQuery, limit: int, offset: int) -> tuple[list[AlarmOut], int]:
    async with db.session_scope() as session:
        return await alarms.list_alarms(
            session=session,
            state="cleared",
            severity=query.severity,
            device_id=query.device_id,
            group_id=query.group_id,
            since=query.since,
            until=query.until,
            limit=limit,
            offset=offset,
        )


async def check(query: AlarmQuery) -> AlarmQuery:
    """Run the filters once (a bad one raises ``Invalid`` now, not mid-stream)."""
    await _page(query, 1, 0)
    return query


async def stream(query: AlarmQuery) -> AsyncIterator[bytes]:
    """The header, then the cleared alarms newest raised first, a service page at a time."""
    yield rows_csv([], header=True)
    offset = 0
    while True:
        found, total = await _page(query, CHUNK, offset)
        if found:
            yield rows_csv(found)
        offset += len(found)
        if not found or offset >= total:
            return
