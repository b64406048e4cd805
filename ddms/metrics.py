"""Prometheus metrics: one registry for the process and the ``GET /metrics`` route.

Poll accounting is not counted on the hot path: a custom collector reads the per-device
``PollStats`` the collector keeps on the bus at scrape time. The writer and the SSE stream update
the module-level metrics below directly (once per batch or snapshot, not per reading).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response

from ddms.bus import get_bus

REGISTRY = CollectorRegistry(auto_describe=True)

READINGS_WRITTEN = Counter("ddms_readings_written", "Readings committed to the database", registry=REGISTRY)
READINGS_DROPPED = Counter(
    "ddms_readings_dropped", "Readings dropped because the write buffer was full", registry=REGISTRY
)
WRITER_BUFFER = Gauge("ddms_writer_buffer_rows", "Readings waiting to be written", registry=REGISTRY)
WRITER_FAILURES = Counter("ddms_writer_failures", "Failed write attempts (retried)", registry=REGISTRY)
WRITER_FLUSH_SECONDS = Histogram(
    "ddms_writer_flush_seconds", "Time to write one batch", registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
POLL_LAG_SECONDS = Histogram(
    "ddms_poll_lag_seconds", "How long after its due time a poll started", registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
SSE_SUBSCRIBERS = Gauge("ddms_sse_subscribers", "Open /api/devices/stream connections", registry=REGISTRY)
SSE_SNAPSHOTS = Counter("ddms_sse_snapshots", "Snapshots built for the device stream", registry=REGISTRY)


class PollStatsCollector(Collector):
    """Per-device poll counters read from the bus at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        polls = CounterMetricFamily(
            "ddms_polls", "Polls per device by outcome (on_time, late, missed, deferred, failed)",
            labels=["device_id", "outcome"],
        )
        for device_id, stats in get_bus().poll_stats_all().items():
            key = str(device_id)
            polls.add_metric([key, "on_time"], stats.on_time)
            polls.add_metric([key, "late"], stats.late)
            polls.add_metric([key, "missed"], stats.missed)
            polls.add_metric([key, "deferred"], stats.deferred)
            polls.add_metric([key, "failed"], stats.failed)
        yield polls


REGISTRY.register(PollStatsCollector())

router = APIRouter(tags=["system"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus text exposition of every DDMS metric."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
