"""Buckets as chart points: where the line must break, and which stretches had no readings at all.

A chart that joins every bucket to the next draws a two-hour outage as a straight diagonal, as if
values had been read all along. Here a gap between two buckets breaks the line (a point whose values
are ``None``: ECharts leaves a hole there) and is returned as a stretch to shade. A gap is a distance
between consecutive buckets longer than both the bucket width (so an empty bucket always breaks the
line) and three sampling intervals (so 1-second buckets over readings 10 s apart stay one line).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ddms.services.readings import Bucket

Point = list[Any]  # [ISO time, avg, min, max, count]; avg None: the line breaks here
GAP_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class Shaped:
    points: list[Point]
    gaps: list[tuple[str, str]]  # [start ISO, end ISO): no readings at all


def point(bucket: Bucket) -> Point:
    return [bucket.timestamp.isoformat(), bucket.avg, bucket.min, bucket.max, bucket.count]


def hole(moment: datetime) -> Point:
    return [moment.isoformat(), None, None, None, 0]


def shape(
    buckets: Iterable[tuple[Bucket, int]],
    sampling_seconds: float,
    until: datetime | None = None,
) -> Shaped:
    """``(bucket, its width in seconds)`` pairs, oldest first, as points with holes in every gap.

    ``until``: the end of the shown window; a silence from the last bucket to it longer than the gap
    rule allows (a device offline until now) is shaded too, without a hole (nothing follows it).
    """
    points: list[Point] = []
    gaps: list[tuple[str, str]] = []
    sampling = timedelta(seconds=max(sampling_seconds, 0) * GAP_INTERVALS)
    previous: tuple[Bucket, int] | None = None
    for bucket, width in buckets:
        if previous is not None:
            before, before_width = previous
            after_before = before.timestamp + timedelta(seconds=before_width)
            # Where the zoomed window's fine buckets meet the range's coarse ones (at the window's
            # edges, off screen) the buckets between were left out on purpose: no gap there.
            spacing = bucket.timestamp - before.timestamp
            if before_width == width and spacing > max(timedelta(seconds=width), sampling):
                points.append(hole(after_before))
                gaps.append((after_before.isoformat(), bucket.timestamp.isoformat()))
        points.append(point(bucket))
        previous = bucket, width
    if previous is not None and until is not None:
        last, width = previous
        silent_from = last.timestamp + timedelta(seconds=width)
        if until - silent_from > max(timedelta(seconds=width), sampling):  # a bucket still filling is no gap
            gaps.append((silent_from.isoformat(), until.isoformat()))
    return Shaped(points, gaps)


def merged(
    outer: Sequence[Bucket],
    outer_width: int,
    inner: Sequence[Bucket],
    inner_width: int,
    lo: datetime,
    hi: datetime,
) -> list[tuple[Bucket, int]]:
    """The coarse buckets of the whole range outside [lo, hi) and the fine ones of the zoomed window
    inside it, oldest first: the slider keeps its overview and a pan shows coarse data at once."""
    width = timedelta(seconds=outer_width)
    before = [(b, outer_width) for b in outer if b.timestamp + width <= lo]
    after = [(b, outer_width) for b in outer if b.timestamp >= hi]
    inside = [(b, inner_width) for b in inner if b.timestamp < hi]
    return before + inside + after
