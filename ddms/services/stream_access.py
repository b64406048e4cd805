"""Who may watch live values when PUBLIC_STREAM is false, and keeping them checked while they watch.

A stream or a wall display is opened with a *grant*: an access token (JWT), a signed-in UI session or
a display link. Checking once at connect time is not enough (a stream stays open for days), so a
``Watch`` re-checks the grant at least every ``RecheckPolicy.interval`` (60 s), at the access token's
expiry, and at once when the bus announces a revocation that concerns it (a user deleted, their
password or role changed, a display link revoked). ``guarded`` ends an SSE body when the watch says so;
the wall display page asks ``Watch.due()`` on a timer and reloads when ``recheck()`` fails.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.bus import Bus, Revocation, get_bus
from ddms.config import Settings
from ddms.errors import Forbidden, Unauthorized
from ddms.models import utcnow
from ddms.services import auth, display_tokens, principals

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0
Devices = frozenset[uuid.UUID] | None
"""The devices a grant may watch (None: every device)."""


@dataclass(frozen=True, slots=True)
class RecheckPolicy:
    """How often a grant is re-checked and which clock tells token expiry (both injectable for tests)."""

    interval: float = RECHECK_SECONDS
    now: Callable[[], datetime] = utcnow


class Grant(Protocol):
    """What a stream or display was opened with."""

    @property
    def expires_at(self) -> datetime | None: ...

    def concerns(self, revocation: Revocation) -> bool: ...

    async def check(self, session: AsyncSession) -> Devices:
        """The devices still allowed; Unauthorized/Forbidden when the grant is no longer valid."""
        ...


@dataclass(frozen=True, slots=True)
class AccessTokenGrant:
    settings: Settings
    token: str
    user_id: uuid.UUID
    expires_at: datetime | None

    def concerns(self, revocation: Revocation) -> bool:
        return revocation.user_id == self.user_id

    async def check(self, session: AsyncSession) -> Devices:
        await auth.user_from_access_token(session=session, settings=self.settings, token=self.token)
        return None


@dataclass(frozen=True, slots=True)
class SessionGrant:
    user_id: uuid.UUID
    token_version: int
    expires_at: datetime | None = None

    def concerns(self, revocation: Revocation) -> bool:
        return revocation.user_id == self.user_id

    async def check(self, session: AsyncSession) -> Devices:
        await auth.session_user(session=session, user_id=self.user_id, token_version=self.token_version)
        return None


@dataclass(frozen=True, slots=True)
class DisplayGrant:
    secret: str
    token_id: uuid.UUID
    group_id: uuid.UUID | None  # the display page's group (None: the all-devices page or the stream)
    expires_at: datetime | None = None

    def concerns(self, revocation: Revocation) -> bool:
        return revocation.display_token_id == self.token_id

    async def check(self, session: AsyncSession) -> Devices:
        token = await display_tokens.verify(session=session, secret=self.secret)
        if self.group_id is not None:
            display_tokens.check_display(token, self.group_id)
        return await display_tokens.allowed_devices(session=session, token=token)


async def display_grant(
    *, session: AsyncSession, secret: str, group_id: uuid.UUID | None = None, page: bool = False
) -> tuple[DisplayGrant, Devices]:
    """A display link's grant; ``page``: for the wall display page of ``group_id`` (None: all devices)."""
    token = await display_tokens.verify(session=session, secret=secret)
    if page:
        display_tokens.check_display(token, group_id)
    grant = DisplayGrant(secret, token.id, group_id if page else None)
    return grant, await display_tokens.allowed_devices(session=session, token=token)


async def token_grant(*, settings: Settings, token: str) -> tuple[Grant, Devices]:
    """The grant of a stream caller: a display link (read-only, maybe one group) or an access token.

    An access token is checked through the principal cache (no session while the cache holds it);
    the re-checks (``AccessTokenGrant.check``) read the user's row itself, so a revocation by another
    process (the console) ends the stream too.
    """
    if display_tokens.is_display_token(token):
        async with db.session_scope() as session:  # closed before streaming starts
            return await display_grant(session=session, secret=token)
    principal = await principals.principal_from_access_token(settings=settings, token=token)
    claims = principals.verified_claims(settings, token)
    return AccessTokenGrant(settings, token, principal.id, claims.expires_at), None


async def user_grant(*, settings: Settings, token: str) -> AccessTokenGrant:
    """The grant of a per-user stream (notifications): an access token only, never a display link."""
    if display_tokens.is_display_token(token):
        raise Unauthorized("display_not_for_notifications")
    principal = await principals.principal_from_access_token(settings=settings, token=token)
    claims = principals.verified_claims(settings, token)
    return AccessTokenGrant(settings, token, principal.id, claims.expires_at)


@dataclass
class Watch:
    """One open stream's or display's grant, due for a re-check every interval and on revocation."""

    grant: Grant
    devices: Devices
    policy: RecheckPolicy = field(default_factory=RecheckPolicy)
    bus: Bus | None = None
    ended: bool = False
    _alarm: asyncio.Future[None] | None = None
    _due: float = 0.0
    _unregister: Callable[[], None] | None = None

    def open(self) -> None:
        """Start listening for revocations (call ``close`` when the stream or page goes away)."""
        loop = asyncio.get_running_loop()
        self._alarm = loop.create_future()
        self._due = loop.time() + self.policy.interval
        self._unregister = (self.bus or get_bus()).on_revocation(self._note)

    def close(self) -> None:
        if self._unregister is not None:
            self._unregister()
            self._unregister = None

    def _note(self, revocation: Revocation) -> None:
        if self.grant.concerns(revocation) and self._alarm is not None and not self._alarm.done():
            self._alarm.set_result(None)

    def _expired(self) -> bool:
        return self.grant.expires_at is not None and self.policy.now() >= self.grant.expires_at

    def seconds_until_due(self) -> float:
        left = self._due - asyncio.get_running_loop().time()
        if self.grant.expires_at is not None:
            left = min(left, (self.grant.expires_at - self.policy.now()).total_seconds())
        return max(0.0, left)

    def due(self) -> bool:
        return self.ended or bool(self._alarm and self._alarm.done()) or self.seconds_until_due() <= 0

    def alarm(self) -> asyncio.Future[None]:
        """Completed by a revocation that concerns this grant (a fresh one after each re-check)."""
        assert self._alarm is not None, "Watch.open() first"
        return self._alarm

    async def recheck(self) -> bool:
        """Whether the grant still holds; refreshes ``devices``. A database outage keeps the grant:
        nothing can be revoked while the database is down, and expiry is checked without it."""
        if self.ended:
            return False
        loop = asyncio.get_running_loop()
        self._alarm, self._due = loop.create_future(), loop.time() + self.policy.interval
        if self._expired():
            self.ended = True
            return False
        try:
            async with db.session_scope() as session:
                self.devices = await self.grant.check(session)
        except (Unauthorized, Forbidden):
            self.ended = True
        except Exception as exc:
            if not db.is_outage(exc):
                raise
            logger.warning("stream re-check postponed: database unavailable (%s)", type(exc).__name__)
        return not self.ended

    def allowed(self) -> Devices:
        return self.devices


async def _next(chunks: AsyncIterator[bytes]) -> bytes:
    return await anext(chunks)


async def guarded(chunks: AsyncGenerator[bytes, None], watch: Watch) -> AsyncIterator[bytes]:
    """``chunks`` for as long as ``watch`` allows: the body ends when a re-check fails."""
    watch.open()
    pending: asyncio.Task[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next(chunks))
            while not pending.done() and not watch.due():
                waiters: set[asyncio.Future[Any]] = {pending, watch.alarm()}
                await asyncio.wait(
                    waiters,
                    timeout=watch.seconds_until_due(),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if watch.due() and not await watch.recheck():
                return
            if pending.done():
                task, pending = pending, None
                try:
                    chunk = task.result()
                except StopAsyncIteration:
                    return
                yield chunk
    finally:
        watch.close()
        if pending is not None and not pending.done():
            pending.cancel()  # the feed's own clean-up runs inside that task
        else:
            await chunks.aclose()


def until_stopped(chunks: AsyncIterator[bytes], stop: asyncio.Event | None) -> AsyncIterator[bytes]:
    """``chunks`` until ``stop`` is set: the server is shutting down, so the body ends (and with it
    the response, which uvicorn would otherwise wait for until its graceful timeout)."""
    return chunks if stop is None else _until(chunks, stop)


async def _until(chunks: AsyncIterator[bytes], stop: asyncio.Event) -> AsyncIterator[bytes]:
    stopped = asyncio.ensure_future(stop.wait())
    pending: asyncio.Task[bytes] | None = None
    try:
        while not stop.is_set():
            pending = asyncio.ensure_future(_next(chunks))
            await asyncio.wait({pending, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not pending.done():
                return
            task, pending = pending, None
            try:
                chunk = task.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        stopped.cancel()
        if pending is not None and not pending.done():
            pending.cancel()  # the generator's own clean-up runs inside that task
            await asyncio.gather(pending, return_exceptions=True)
        elif (aclose := getattr(chunks, "aclose", None)) is not None:
            await aclose()
