"""Prometheus metrics: one registry for the process (served by ``ddms/api/routes/metrics.py``).

Poll accounting is not counted on the hot path: a custom collector reads the per-device
``PollStats`` the collector keeps on the bus at scrape time. The writer and the SSE stream update
the module-level metrics below directly (once per batch or snapshot, not per reading). HTTP
requests are counted by ``ddms.api.middleware.HTTPMetricsMiddleware``; ``ddms_devices`` is set
by the metrics route when it is scraped. No web framework here: services import this module.
"""

from __future__ import annotations

from collections.abc import Iterator

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

from ddms.bus import get_bus

REGISTRY = CollectorRegistry(auto_describe=True)

READINGS_WRITTEN = Counter("ddms_readings_written", "Readings committed to the database", registry=REGISTRY)
READINGS_DROPPED = Counter(
    "ddms_readings_dropped", "Readings never written (a full buffer or spool dropped them)", registry=REGISTRY
)
# Exact: a row a full buffer pops while its batch is in flight counts only if that batch fails.
WRITER_DROPPED = Counter(
    "ddms_writer_dropped",
    "Rows never written, by what: readings, alarm_changes (full buffer or full spool)",
    ["what"],
    registry=REGISTRY,
)
WRITER_BUFFER = Gauge("ddms_writer_buffer_rows", "Readings waiting in memory", registry=REGISTRY)
WRITER_SPOOL_ROWS = Gauge("ddms_writer_spool_rows", "Readings waiting in the disk spool", registry=REGISTRY)
WRITER_SPOOL_BYTES = Gauge("ddms_writer_spool_bytes", "Payload bytes in the disk spool", registry=REGISTRY)
WRITER_FAILURES = Counter("ddms_writer_failures", "Failed write attempts (retried)", registry=REGISTRY)
WRITER_FLUSH_SECONDS = Histogram(
    "ddms_writer_flush_seconds",
    "Time to write one batch",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
POLL_LAG_SECONDS = Histogram(
    "ddms_poll_lag_seconds",
    "How long after its due time a poll started",
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
ALARM_TRANSITIONS = Counter(
    "ddms_alarm_transitions", "Alarm transitions committed", ["kind", "transition"], registry=REGISTRY
)
SSE_SUBSCRIBERS = Gauge("ddms_sse_subscribers", "Open /api/devices/stream connections", registry=REGISTRY)
SSE_SNAPSHOTS = Counter("ddms_sse_snapshots", "Snapshots built for the device stream", registry=REGISTRY)

# Labels: method (known methods, else "other"), route template ("/api/devices/{device_id}", never a
# raw path; "unmatched" for every path no route answers), status code. Bounded by the routes.
HTTP_LABELS = ("method", "route", "status")
HTTP_REQUESTS = Counter(
    "ddms_http_requests",
    "HTTP requests answered, by method, route template and status",
    HTTP_LABELS,
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "ddms_http_request_duration_seconds",
    "Seconds from a request's arrival to the start of its answer (for streams: the first byte)",
    HTTP_LABELS,
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# result: delivered (an attempt got through), retry (an attempt failed; tried again later),
# failed (given up after 24 h of retries). Bounded: two channel types times three results.
NOTIFICATION_DELIVERIES = Counter(
    "ddms_notification_deliveries",
    "Attempts to deliver an alarm event to a notification channel, by channel type and result",
    ["channel_type", "result"],
    registry=REGISTRY,
)
# direction: send (collecting this instance's readings and building the NOTIFY payloads), receive
# (parsing the others' payloads and publishing them here). Process CPU of that code, in seconds.
CLUSTER_BRIDGE_SECONDS = Counter(
    "ddms_cluster_bridge_cpu_seconds",
    "CPU spent relaying live values between instances (LISTEN/NOTIFY), by direction",
    ["direction"],
    registry=REGISTRY,
)
DEVICES = Gauge(
    "ddms_devices",
    "Devices by connection status (live status from the collector, else the stored one)",
    ["status"],
    registry=REGISTRY,
)


class PollStatsCollector(Collector):
    """Per-device poll counters read from the bus at scrape time."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        polls = CounterMetricFamily(
            "ddms_polls",
            "Polls per device by outcome (on_time, late, missed, deferred, failed)",
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


class ActiveAlarmsCollector(Collector):
    """``ddms_alarms_active{severity}`` from the collector's alarm engine at scrape time (every severity)."""

    HELP = "Active alarms held by the collector, by severity"

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Without it, registering (at import) would run ``collect`` and import the alarm service,
        which imports this module: a circular import whenever the service is imported first."""
        yield GaugeMetricFamily("ddms_alarms_active", self.HELP, labels=["severity"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from ddms.services.alarms import SEVERITIES, get_engine  # the services import this module

        gauge = GaugeMetricFamily("ddms_alarms_active", self.HELP, labels=["severity"])
        engine = get_engine()
        active = engine.active() if engine is not None else []
        for severity in SEVERITIES:
            gauge.add_metric([severity], sum(1 for alarm in active if alarm.severity == severity))
        yield gauge


REGISTRY.register(PollStatsCollector())
REGISTRY.register(ActiveAlarmsCollector())


def exposition() -> tuple[bytes, str]:
    """The text exposition of every DDMS metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
