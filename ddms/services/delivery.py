"""Alarm events to the notification channels: a durable outbox and one worker per channel.

How an alarm transition leaves the building:

1. The alarm engine publishes ``AlarmNotice`` batches on the bus after they are committed.
   ``DeliveryService.notify`` (the bus listener) only appends them to an in-memory inbox: nothing
   on the poll path waits for a channel or the database.
2. The intake task writes one ``channel_deliveries`` row per (notice, enabled channel whose
   ``min_severity`` admits the alarm), a whole inbox batch in one transaction, and wakes the
   channels' workers. From here the event survives a restart.
3. Each channel with pending rows has its own worker task, which sends its due rows one after
   another (webhook: ``ddms.services.webhook``, e-mail: ``ddms.services.mailer``) with a timeout.
   A channel that is down only delays itself: the others have their own workers. A failed attempt
   is retried after 10 s, doubling up to 1 h, for 24 h from the event; then the row is marked
   ``failed`` and the channel shows the count and the last error. Idle channels have no task.

Time is injected (``clock`` for sleeping, ``now`` for the wall time stored in the rows), so the
retry schedule is tested by moving a fake clock rather than by waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, delete, select

from ddms import db, metrics
from ddms.bus import AlarmNotice, get_bus
from ddms.clock import LOOP_CLOCK, Clock
from ddms.config import Settings
from ddms.models import ChannelDelivery, ChannelType, DeliveryState, NotificationChannel, utcnow
from ddms.schemas.channels import ChannelTestResult
from ddms.services import channels, cluster, mailer, webhook
from ddms.services.webhook import DeliveryFailed

logger = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 10.0
RETRY_MAX_SECONDS = 3600.0
GIVE_UP_AFTER = timedelta(hours=24)
OUTAGE_PAUSE_SECONDS = 5.0
INBOX_LIMIT = 10_000
KEEP_DELIVERED = timedelta(days=7)
KEEP_FAILED = timedelta(days=30)
PURGE_EVERY = timedelta(hours=1)
LEADER_SCAN_SECONDS = 2.0


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: 10, 20, 40, ... capped at 1 h."""
    return float(min(RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def next_attempt(created_at: datetime, attempted_at: datetime, attempts: int) -> datetime | None:
    """When to try again after a failed attempt, or None once 24 h have passed since the event.

    The last retry is placed at the 24 h mark itself, so a receiver back at hour 23.5 still gets it.
    """
    deadline = created_at + GIVE_UP_AFTER
    if attempted_at >= deadline:
        return None
    return min(attempted_at + timedelta(seconds=retry_delay(attempts)), deadline)


def test_event(at: datetime) -> dict[str, Any]:
    """The contract event ``test``, with an alarm-shaped example the receiver can parse."""
    alarm = {
        "id": str(uuid.uuid4()),
        "device_id": str(uuid.UUID(int=0)),
        "device_name": "DDMS test",
        "kind": "threshold",
        "severity": "warning",
        "state": "active",
        "value": None,
        "peak_value": None,
        "threshold": None,
        "raised_at": at.isoformat(),
        "cleared_at": None,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "comment": None,
    }
    return {"event": "test", "alarm": alarm}


@dataclass
class Senders:
    """How attempts are made: timeouts per attempt and the TLS trust for SMTP (tests inject a CA)."""

    webhook_timeout: float = 10.0
    smtp_timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for webhooks: no redirects followed, no proxy from the environment."""
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.webhook_timeout), follow_redirects=False, trust_env=False
        )

    async def send(
        self, channel: NotificationChannel, event: dict[str, Any], client: httpx.AsyncClient
    ) -> None:
        """One attempt; raises ``DeliveryFailed`` with the reason."""
        if channel.type == ChannelType.WEBHOOK:
            await webhook.post(client, channel.url or "", channel.secret or "", event)
        else:
            await mailer.send(channel, event, time_limit=self.smtp_timeout, tls_context=self.tls_context)


TEST_SENDERS = Senders(webhook_timeout=5.0, smtp_timeout=10.0)


async def send_test(
    *, channel_id: uuid.UUID, senders: Senders = TEST_SENDERS, now: Callable[[], datetime] = utcnow
) -> ChannelTestResult:
    """Send the ``test`` event to one channel now (not queued, not retried) and say how it went."""
    async with db.session_scope() as session:
        channel = await channels.get_row(session=session, channel_id=channel_id)
    moment = now()
    event = test_event(moment) | {"sent_at": moment.isoformat()}
    limit = max(senders.webhook_timeout, senders.smtp_timeout) + 1.0
    try:
        async with senders.client() as client, asyncio.timeout(limit):
            await senders.send(channel, event, client)
    except DeliveryFailed as exc:
        return ChannelTestResult(success=False, error=str(exc))
    except TimeoutError:
        return ChannelTestResult(success=False, error="timed out")
    logger.info("test event delivered", extra={"channel_id": str(channel_id)})
    return ChannelTestResult(success=True, error=None)


def event_of(notice: AlarmNotice) -> dict[str, Any]:
    """The contract event without ``sent_at``: ``{event, alarm}``."""
    return {"event": notice.transition, "alarm": notice.alarm.model_dump(mode="json")}


class DeliveryService:
    """The background service (``ddms/main.py`` starts it): intake task and per-channel workers."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock = LOOP_CLOCK,
        now: Callable[[], datetime] = utcnow,
        senders: Senders | None = None,
    ) -> None:
        self.clock = clock
        self.now = now
        self.senders = senders or Senders()
        self._inbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._arrived = asyncio.Event()
        self._intake_task: asyncio.Task[None] | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self._workers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wakes: dict[uuid.UUID, asyncio.Event] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._last_purge: datetime | None = None
        self.dropped = 0

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self._client = self.senders.client()
        self._unsubscribe = get_bus().on_alarm_notices(self.notify)
        self._intake_task = asyncio.create_task(self._intake(), name="ddms-channel-intake")
        if cluster.current() is not None:
            self._lead_task = asyncio.create_task(self._follow_lead(), name="ddms-channel-lead")
        await self._resume()

    async def _follow_lead(self) -> None:
        """Several instances: only the leader sends (a webhook fires once), looking for rows every
        instance queued; an instance that stops leading stops its workers."""
        while True:
            await asyncio.sleep(LEADER_SCAN_SECONDS)
            if cluster.leading():
                try:
                    await self._resume()
                except Exception:
                    logger.warning("pending channel deliveries not looked for", exc_info=True)
            else:
                for task in list(self._workers.values()):
                    task.cancel()
                self._workers.clear()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [
            task for task in (self._intake_task, self._lead_task, *self._workers.values()) if task is not None
        ]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._intake_task = self._lead_task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _resume(self) -> None:
        """After a restart: a worker for every channel that still has pending deliveries."""
        try:
            async with db.session_scope() as session:
                query = (
                    select(ChannelDelivery.channel_id)
                    .where(ChannelDelivery.state == DeliveryState.PENDING)
                    .distinct()
                )
                pending = list((await session.exec(query)).all())
        except Exception as exc:
            if not db.is_outage(exc):
                raise
            logger.warning("pending channel deliveries not resumed: database unavailable")
            return
        for channel_id in pending:
            self._wake(channel_id)

    # --- intake --------------------------------------------------------------------------------
    def notify(self, notices: Sequence[AlarmNotice]) -> None:
        """The bus listener: keep the events for the intake task (no I/O, never blocks)."""
        for notice in notices:
            if len(self._inbox) >= INBOX_LIMIT:
                self._inbox.popleft()
                self.dropped += 1
            self._inbox.append((notice.alarm.severity, event_of(notice)))
        self._arrived.set()

    async def _intake(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            batch = [self._inbox.popleft() for _ in range(len(self._inbox))]
            try:
                await self.enqueue(batch)
            except asyncio.CancelledError:
                self._inbox.extendleft(reversed(batch))
                raise
            except Exception as exc:
                # Not only outages as ``db.is_outage`` knows them: a database refusing connections
                # (PostgreSQL "not accepting connections") is a plain DBAPIError. Events are kept.
                if db.is_outage(exc):
                    logger.warning("channel deliveries wait: database unavailable")
                else:
                    logger.warning("channel deliveries could not be queued; retrying", exc_info=True)
                self._inbox.extendleft(reversed(batch))  # first in line again, in order
                self._arrived.set()
                await self.clock.sleep(OUTAGE_PAUSE_SECONDS)

    async def enqueue(self, events: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Queue each ``(severity, event)`` for every enabled channel that admits it; one transaction."""
        events = list(events)
        if not events:
            return 0
        moment = self.now()
        async with db.session_scope() as session:
            targets = await channels.enabled_rows(session=session)
            rows: list[ChannelDelivery] = []
            for index, (severity, event) in enumerate(events):
                at = moment + timedelta(microseconds=index)  # keeps the batch's order within a channel
                rows.extend(
                    ChannelDelivery(channel_id=channel.id, event=event, next_attempt_at=at, created_at=at)
                    for channel in targets
                    if channels.admits(channel, severity)
                )
            session.add_all(rows)
            await session.commit()
        for channel_id in dict.fromkeys(row.channel_id for row in rows):
            self._wake(channel_id)
        try:  # housekeeping: a failure here must not queue the batch again
            await self._purge(moment)
        except Exception:
            logger.warning("old channel deliveries not purged this time", exc_info=True)
        return len(rows)

    async def _purge(self, moment: datetime) -> None:
        """Delivered rows after 7 days, failed ones after 30 (at most once an hour)."""
        if self._last_purge is not None and moment - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = moment
        async with db.session_scope() as session:
            for state, keep in (
                (DeliveryState.DELIVERED, KEEP_DELIVERED),
                (DeliveryState.FAILED, KEEP_FAILED),
            ):
                await session.exec(
                    delete(ChannelDelivery).where(
                        col(ChannelDelivery.state) == state, col(ChannelDelivery.created_at) < moment - keep
                    )
                )
            await session.commit()

    # --- per-channel workers -------------------------------------------------------------------
    def _wake(self, channel_id: uuid.UUID) -> None:
        if not cluster.leading():
            return  # the leader sends it (it looks for pending rows every LEADER_SCAN_SECONDS)
        task = self._workers.get(channel_id)
        if task is None or task.done():
            self._wakes[channel_id] = asyncio.Event()
            self._workers[channel_id] = asyncio.create_task(
                self._work(channel_id), name=f"ddms-channel-{channel_id}"
            )
        else:
            self._wakes[channel_id].set()

    async def _work(self, channel_id: uuid.UUID) -> None:
        wake = self._wakes[channel_id]
        while True:
            wake.clear()  # before the query: a wake-up during it makes the loop look again
            try:
                async with db.session_scope() as session:
                    channel = await session.get(NotificationChannel, channel_id)
                    query = (
                        select(ChannelDelivery)
                        .where(
                            ChannelDelivery.channel_id == channel_id,
                            ChannelDelivery.state == DeliveryState.PENDING,
                        )
                        .order_by(col(ChannelDelivery.next_attempt_at), col(ChannelDelivery.created_at))
                        .limit(1)
                    )
                    due = (await session.exec(query)).first()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage = db.is_outage(exc)
                logger.warning("channel worker waits: database unavailable", exc_info=not outage)
                await self._pause(wake, OUTAGE_PAUSE_SECONDS)
                continue
            if channel is None or due is None:
                if wake.is_set():
                    continue
                del self._workers[channel_id]  # no await since the check: a wake now starts a new worker
                return
            wait = (due.next_attempt_at - self.now()).total_seconds()
            if wait > 0:
                await self._pause(wake, wait)
                continue
            try:
                await self._attempt(channel, due)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outcome could not be stored: the row is tried again
                outage = db.is_outage(exc)
                logger.warning("channel attempt not recorded; will retry", exc_info=not outage)
                await self._pause(wake, OUTAGE_PAUSE_SECONDS)

    async def _pause(self, wake: asyncio.Event, seconds: float) -> None:
        """Sleep on the injected clock until ``seconds`` pass or the worker is woken."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)

    async def _attempt(self, channel: NotificationChannel, due: ChannelDelivery) -> None:
        attempted_at = self.now()
        error: str | None = None
        assert self._client is not None
        try:
            await self.senders.send(channel, due.event | {"sent_at": attempted_at.isoformat()}, self._client)
        except DeliveryFailed as exc:
            error = str(exc)
        except Exception as exc:
            logger.exception("channel delivery raised", extra={"channel_id": str(channel.id)})
            error = webhook.describe(exc)
        await self._record(channel, due.id, attempted_at, error)

    async def _record(
        self, channel: NotificationChannel, delivery_id: uuid.UUID, attempted_at: datetime, error: str | None
    ) -> None:
        """Store the attempt's outcome on the delivery and on the channel, count it, log it."""
        async with db.session_scope() as session:
            delivery = await session.get(ChannelDelivery, delivery_id)
            row = await session.get(NotificationChannel, channel.id)
            if delivery is None or row is None:  # the channel was deleted meanwhile
                return
            delivery.attempts += 1
            if error is None:
                delivery.state, delivery.delivered_at, delivery.last_error = (
                    DeliveryState.DELIVERED,
                    attempted_at,
                    None,
                )
                row.last_delivered_at, row.last_error = attempted_at, None
                result = "delivered"
            else:
                retry_at = next_attempt(delivery.created_at, attempted_at, delivery.attempts)
                delivery.last_error = error
                if retry_at is None:
                    delivery.state, result = DeliveryState.FAILED, "failed"
                else:
                    delivery.next_attempt_at, result = retry_at, "retry"
                row.last_error, row.last_error_at = error, attempted_at
            attempts = delivery.attempts
            session.add_all([delivery, row])
            await session.commit()
        metrics.NOTIFICATION_DELIVERIES.labels(channel_type=channel.type, result=result).inc()
        extra = {"channel_id": str(channel.id), "attempts": attempts}
        if result == "failed":
            logger.warning("channel delivery given up after 24 h: %s", error, extra=extra)
        elif result == "retry" and attempts == 1:
            logger.warning("channel delivery failed, will retry: %s", error, extra=extra)
        elif result == "retry":
            logger.debug("channel delivery failed again: %s", error, extra=extra)
