"""Where a history line breaks: empty buckets and silences longer than three sampling intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ddms.services.readings import Bucket
from pages.components import series_shape

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def bucket(seconds: int, value: float = 1.0) -> Bucket:
    return Bucket(T0 + timedelta(seconds=seconds), value, value, value, 1)


def test_an_empty_bucket_breaks_the_line_and_is_a_gap() -> None:
    shaped = series_shape.shape([(bucket(s), 60) for s in (0, 60, 240, 300)], sampling_seconds=10)
    assert [p[1] for p in shaped.points] == [1.0, 1.0, None, 1.0, 1.0]
    assert shaped.points[2][0] == (T0 + timedelta(seconds=120)).isoformat()
    assert shaped.gaps == [
        ((T0 + timedelta(seconds=120)).isoformat(), (T0 + timedelta(seconds=240)).isoformat())
    ]


def test_fine_buckets_between_sparse_readings_stay_one_line() -> None:
    """1-second buckets over readings 10 s apart: empty buckets, but no silence of 3 intervals."""
    shaped = series_shape.shape([(bucket(s), 1) for s in range(0, 100, 10)], sampling_seconds=10)
    assert None not in [p[1] for p in shaped.points]
    late = series_shape.shape([(bucket(0), 1), (bucket(31), 1)], sampling_seconds=10)
    assert [p[1] for p in late.points] == [1.0, None, 1.0]


def test_a_silence_until_the_end_is_shaded_without_a_hole() -> None:
    shaped = series_shape.shape(
        [(bucket(0), 60), (bucket(60), 60)], sampling_seconds=10, until=T0 + timedelta(hours=1)
    )
    assert None not in [p[1] for p in shaped.points]
    assert shaped.gaps == [((T0 + timedelta(seconds=120)).isoformat(), (T0 + timedelta(hours=1)).isoformat())]
    recent = series_shape.shape([(bucket(0), 60)], sampling_seconds=10, until=T0 + timedelta(seconds=90))
    assert recent.gaps == []


def test_the_zoomed_window_replaces_the_coarse_buckets_it_covers() -> None:
    coarse = [bucket(s, 5.0) for s in range(0, 600, 120)]
    fine = [bucket(s, 9.0) for s in range(240, 360, 10)]
    lo, hi = T0 + timedelta(seconds=250), T0 + timedelta(seconds=350)
    pairs = series_shape.merged(coarse, 120, fine, 10, lo, hi)
    times = [b.timestamp for b, _width in pairs]
    assert times == sorted(times)
    assert [(b.timestamp - T0).seconds for b, _w in pairs if b.avg == 5.0] == [0, 120, 360, 480]
    shaped = series_shape.shape(pairs, sampling_seconds=10)
    assert None not in [p[1] for p in shaped.points], "where fine meets coarse is no gap"
