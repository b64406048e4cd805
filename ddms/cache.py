"""Read caches for hot paths, kept correct by table revisions that every write of this app bumps.

A revision is a counter per table (kept by the app's ``Runtime``). Session events bump it for every
table an ORM flush or an ``update()``/``delete()``/``insert()`` statement writes, once when the write
is sent and again when it is committed; SQL text statements mark their tables with
``wrote(session, table)``. A cached value remembers the revisions it was built under and is used only
while they are unchanged, so a read after a commit of this app never sees the old value, and a value
built from data read between a flush and its commit is dropped at the commit. Writes by other
processes (the console, another instance) are not seen: no value older than ``2 * ttl`` is ever
answered (``ReadCache``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ddms import runtime

T = TypeVar("T")
logger = logging.getLogger(__name__)

_WRITTEN = "ddms_written_tables"


def revision(table: str) -> int:
    """The table's revision: it changes whenever this app writes the table."""
    return runtime.current().revisions.get(table, 0)


def bump(tables: Iterable[str], into: runtime.Runtime | None = None) -> None:
    """Move the tables' revisions in the current runtime (or ``into``): their cached reads go stale."""
    revisions = (into or runtime.current()).revisions
    for table in tables:
        revisions[table] = revisions.get(table, 0) + 1


def wrote(session: Any, *tables: str) -> None:
    """Mark ``tables`` as written by ``session`` (for SQL text the session events cannot read).

    ``session`` is a Session or an AsyncSession; the revisions move now and again at its commit.
    """
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault(_WRITTEN, set()).update(tables)
    bump(tables)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: UOWTransaction) -> None:
    tables = {
        getattr(type(instance), "__tablename__", "")
        for instance in (*session.new, *session.dirty, *session.deleted)
    }
    if tables:
        session.info.setdefault(_WRITTEN, set()).update(tables)
        bump(tables)


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(getattr(state.statement, "table", None), "name", None)
        if table:
            wrote(state.session, table)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _ended(session: Session) -> None:
    tables = session.info.pop(_WRITTEN, None)
    if tables:
        bump(tables)


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    bind: object
    revisions: tuple[int, ...]
    built: float


class ReadCache(Generic[T]):
    """Values built from ``tables`` by key, reused while the tables' revisions hold.

    Within ``ttl`` of its build a value is answered as it is. Between ``ttl`` and ``2 * ttl`` (only
    another process can have changed it) it is still answered while one refresh runs in the
    background, so readers never queue behind a periodic refresh; later, or once this process wrote
    one of the tables, the value is rebuilt before anyone gets it. One build per key runs at a time:
    concurrent readers of a missing key wait for it instead of each querying. Entries remember
    the database (its engine) they came from.
    """

    def __init__(
        self,
        tables: tuple[str, ...],
        ttl: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tables = tables
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.builds = 0
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._refreshing: dict[Hashable, asyncio.Task[None]] = {}

    def _current(self, key: Hashable, bind: object) -> tuple[_Entry[T] | None, float]:
        """The entry still valid for this database and these revisions, and its age."""
        entry = self._entries.get(key)
        if entry is None or entry.bind is not bind or entry.revisions != self._revisions():
            return None, 0.0
        return entry, self.clock() - entry.built

    def _revisions(self) -> tuple[int, ...]:
        revisions = runtime.current().revisions
        return tuple(revisions.get(table, 0) for table in self.tables)

    async def get(self, key: Hashable, bind: object, build: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key`` in the database ``bind``, built with ``build()`` if stale.

        ``build`` opens its own session: a hit touches no session and no connection.
        """
        entry, age = self._current(key, bind)
        if entry is not None and age < self.ttl:
            return entry.value
        if entry is not None and age < 2 * self.ttl:
            if key not in self._refreshing:
                refresh = self._refresh(key, bind, build)
                self._refreshing[key] = asyncio.get_running_loop().create_task(refresh)
            return entry.value
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry, age = self._current(key, bind)
            if entry is not None and age < self.ttl:
                return entry.value
            return await self._build(key, bind, build)

    async def _build(self, key: Hashable, bind: object, build: Callable[[], Awaitable[T]]) -> T:
        revisions, built = self._revisions(), self.clock()  # read before the data, never after
        value = await build()
        self.builds += 1
        if len(self._entries) >= self.max_entries:  # many keys (users): start again, stay bounded
            self._entries.clear()
            self._locks = {k: held for k, held in self._locks.items() if held.locked()}
        self._entries[key] = _Entry(value, bind, revisions, built)
        return value

    async def _refresh(self, key: Hashable, bind: object, build: Callable[[], Awaitable[T]]) -> None:
        try:
            async with self._locks.setdefault(key, asyncio.Lock()):
                await self._build(key, bind, build)
        except Exception as exc:  # the next reader past 2 * ttl builds it and sees the error
            logger.debug("background refresh of %r failed: %s", key, type(exc).__name__)
        finally:
            self._refreshing.pop(key, None)

    async def settle(self) -> None:
        """Wait for the background refreshes running now (tests)."""
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    def clear(self) -> None:
        self._entries.clear()
