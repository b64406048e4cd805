"""Read caches for hot paths, kept correct by table revisions that every write of this process bumps.

A revision is a counter per table. Session events bump it for every table an ORM flush or an
``update()``/``delete()``/``insert()`` statement writes, once when the write is sent and again when it
is committed; SQL text statements mark their tables with ``wrote(session, table)``. A cached value
remembers the revisions it was built under and is used only while they are unchanged, so a read
after a commit of this process never sees the old value, and a value built from data read between
a flush and its commit is dropped at the commit. Writes by other processes (the console, another
instance) are not seen: ``ttl`` bounds how long such a value may be used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

T = TypeVar("T")

_revisions: dict[str, int] = {}
_WRITTEN = "ddms_written_tables"


def revision(table: str) -> int:
    """The table's revision: it changes whenever this process writes the table."""
    return _revisions.get(table, 0)


def bump(tables: Iterable[str]) -> None:
    for table in tables:
        _revisions[table] = _revisions.get(table, 0) + 1


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
    expires: float


class ReadCache(Generic[T]):
    """Values built from ``tables`` by key, reused while the tables' revisions hold and for ``ttl`` seconds.

    Entries also remember the database (its engine) they came from. One build per key runs at a
    time; concurrent readers of a missing key wait for it instead of each querying.
    """

    def __init__(self, tables: tuple[str, ...], ttl: float, max_entries: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tables = tables
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.builds = 0
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    def _fresh(self, key: Hashable, bind: object) -> _Entry[T] | None:
        entry = self._entries.get(key)
        if entry is None or entry.bind is not bind or self.clock() >= entry.expires:
            return None
        return entry if entry.revisions == tuple(revision(t) for t in self.tables) else None

    async def get(self, key: Hashable, bind: object, build: Callable[[], Awaitable[T]]) -> T:
        """The cached value of ``key`` in the database ``bind``, built with ``build()`` if stale.

        ``build`` opens its own session: a hit touches no session and no connection.
        """
        entry = self._fresh(key, bind)
        if entry is not None:
            return entry.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._fresh(key, bind)
            if entry is not None:
                return entry.value
            revisions = tuple(revision(t) for t in self.tables)  # read before the data, never after
            expires = self.clock() + self.ttl
            value = await build()
            self.builds += 1
            if len(self._entries) >= self.max_entries:  # many keys (users): start again, stay bounded
                self._entries.clear()
                self._locks = {k: held for k, held in self._locks.items() if held.locked()}
            self._entries[key] = _Entry(value, bind, revisions, expires)
            return value

    def clear(self) -> None:
        self._entries.clear()
