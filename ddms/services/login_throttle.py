"""The login throttle: failed logins per (username, client address) and per username, in the database.

Rules, in a sliding window of 15 minutes: 5 failures for one username from one client address lock
that address out for the name (so a stranger cannot lock the owner out everywhere); 50 failures for
one username from all addresses together lock the name out (so guessing from many addresses is
bounded too). A refused attempt costs no bcrypt round and is not counted.

An attempt is *reserved* before its password is checked, as a failure, and released only when the
password was right. Reservations are serialized per username (``db.serialize``), so however many
attempts arrive at once at most ``limit`` passwords are checked per window; an attempt cancelled
mid-check stays counted.

The rows live in the database (table ``login_failures``): ``ddms user reset-password`` in another
process and the owner's Unlock on the Users page clear a lock-out, and several instances on one
PostgreSQL share one throttle. Time comes from ``clock`` so tests control the window.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ddms import db
from ddms.errors import RateLimited
from ddms.models import LoginFailure, utcnow

logger = logging.getLogger(__name__)

LOGIN_FAILURE_LIMIT = 5
LOGIN_USER_LIMIT = 50
LOGIN_WINDOW_SECONDS = 15 * 60
MAX_USERNAME = 200
MAX_CLIENT = 64


def username_key(username: str) -> str:
    """Usernames fold case for the throttle (``Admin`` and ``admin`` share one count)."""
    return username.lower()[:MAX_USERNAME]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved attempt; ``lockout_until`` is set when its failure would start a lock-out."""

    id: int
    username: str
    client: str
    lockout_until: datetime | None


def _free_at(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    """When fewer than ``limit`` of the sorted ``times`` remain in the window; None if already so."""
    if len(times) < limit:
        return None
    return times[len(times) - limit] + window


class LoginThrottle:
    """Counts, reserves and clears failed logins; one instance holds the rules and the clock."""

    def __init__(
        self,
        limit: int = LOGIN_FAILURE_LIMIT,
        window: float = LOGIN_WINDOW_SECONDS,
        user_limit: int = LOGIN_USER_LIMIT,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.limit = limit
        self.user_limit = user_limit
        self.window = timedelta(seconds=window)
        self.clock = clock

    async def reserve(self, *, session: AsyncSession, username: str, client: str) -> Attempt:
        """Count this attempt as a failure now, or RateLimited if the name is locked for this client.

        Commits (or rolls back), so the session holds no connection afterwards.
        """
        key, client = username_key(username), client[:MAX_CLIENT]
        now = self.clock()
        await db.serialize(session, f"login:{key}")
        row = LoginFailure(username=key, client=client, at=now)
        session.add(row)
        await session.flush()  # the write comes first: on SQLite it takes the write lock before we read
        earlier = (
            await session.exec(
                select(LoginFailure.at, LoginFailure.client)
                .where(
                    col(LoginFailure.username) == key,
                    col(LoginFailure.at) > now - self.window,
                    col(LoginFailure.id) != row.id,
                )
                .order_by(col(LoginFailure.at))
            )
        ).all()
        from_client = [at for at, address in earlier if address == client]
        everyone = [at for at, _address in earlier]
        locked = [
            moment
            for moment in (
                _free_at(from_client, self.limit, self.window),
                _free_at(everyone, self.user_limit, self.window),
            )
            if moment
        ]
        if locked:
            await session.rollback()
            retry_after = max(1, math.ceil((max(locked) - now).total_seconds()))
            params = {"minutes": retry_after // 60 + 1}
            raise RateLimited("login_locked", retry_after=retry_after, params=params)
        assert row.id is not None
        attempt = Attempt(row.id, key, client, self._lockout_after(from_client, everyone, now))
        await session.commit()
        return attempt

    def _lockout_after(
        self, from_client: list[datetime], everyone: list[datetime], now: datetime
    ) -> datetime | None:
        """The end of the lock-out this attempt's failure starts (it is the limit-th), if any."""
        ends = [
            _free_at([*times, now], limit, self.window)
            for times, limit in ((from_client, self.limit), (everyone, self.user_limit))
            if len(times) + 1 == limit
        ]
        return max((end for end in ends if end), default=None)

    def failed(self, attempt: Attempt) -> None:
        """The reserved attempt's password was wrong: it stays counted; a lock-out it starts is logged."""
        if attempt.lockout_until is not None:
            logger.warning(
                "login locked out",
                extra={
                    "username": attempt.username,
                    "client": attempt.client,
                    "until": attempt.lockout_until.isoformat(timespec="seconds"),
                },
            )

    async def succeed(self, *, session: AsyncSession, attempt: Attempt) -> None:
        """Right password: forget this client's failures for the name (others' still count)."""
        await session.exec(
            delete(LoginFailure).where(
                col(LoginFailure.username) == attempt.username,
                col(LoginFailure.client) == attempt.client,
                col(LoginFailure.id) <= attempt.id,
            )
        )
        await session.commit()

    async def release(self, *, session: AsyncSession, attempt: Attempt) -> None:
        """Un-count one reserved attempt whose password was never judged (earlier failures stay)."""
        await session.exec(delete(LoginFailure).where(col(LoginFailure.id) == attempt.id))
        await session.commit()

    async def locked_until(self, *, session: AsyncSession, usernames: Iterable[str]) -> dict[str, datetime]:
        """Each locked-out name of ``usernames`` -> when its last lock-out (one client's, or overall) ends."""
        now = self.clock()
        names = {username_key(name): name for name in usernames}
        rows = (
            await session.exec(
                select(LoginFailure.username, LoginFailure.client, LoginFailure.at)
                .where(col(LoginFailure.at) > now - self.window, col(LoginFailure.username).in_(list(names)))
                .order_by(col(LoginFailure.at))
            )
        ).all()
        per_client: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        per_user: dict[str, list[datetime]] = defaultdict(list)
        for key, address, at in rows:
            per_client[key, address].append(at)
            per_user[key].append(at)
        ends: dict[str, datetime] = {}
        for key, times, limit in [
            *((key, times, self.limit) for (key, _address), times in per_client.items()),
            *((key, times, self.user_limit) for key, times in per_user.items()),
        ]:
            end = _free_at(times, limit, self.window)
            if end is not None and end > now:
                ends[names[key]] = max(end, ends.get(names[key], end))
        return ends

    async def purge(self, *, session: AsyncSession) -> int:
        """Delete failures that left the window (they no longer count); returns how many."""
        result = await session.exec(
            delete(LoginFailure).where(col(LoginFailure.at) <= self.clock() - self.window)
        )
        await session.commit()
        return int(result.rowcount or 0)


async def clear(*, session: AsyncSession, username: str) -> int:
    """Forget every failure of ``username`` (all clients): an unlock; returns how many were dropped."""
    result = await session.exec(
        delete(LoginFailure).where(col(LoginFailure.username) == username_key(username))
    )
    await session.commit()
    cleared = int(result.rowcount or 0)
    if cleared:
        logger.info("login failures cleared", extra={"username": username_key(username), "failures": cleared})
    return cleared
