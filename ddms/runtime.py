"""What one running DDMS app owns: its database, bus, caches, throttle, probe and background services.

The app's lifespan (``ddms.main.create_api``) builds one ``Runtime``, installs it as the current one
and closes it at shutdown; the modules whose state it holds keep none of their own. They keep their
accessors (``db.current()``, ``get_bus()``, ``auth.throttle()``, ...) and read them from here, so a
second app in the same process (a test, a restart) starts from nothing and shares nothing.

Which runtime is current: the one bound to this task's context (``bind``: every request of an app,
and the tasks its lifespan started, see its own), else the one installed last (``install``: test
code and console commands, which run outside any request). A process that never installed one (a
console command, a script) gets an empty runtime on first use.

This module imports the owners of the state only when it builds them: they import it for their
accessors.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ddms.bus import Bus
    from ddms.cache import ReadCache
    from ddms.config import Settings
    from ddms.db import Database
    from ddms.modbus_types import ModbusTarget, ProbeReading
    from ddms.security import PasswordSlots
    from ddms.services.backup import BackupStatus
    from ddms.services.login_throttle import LoginThrottle

T = TypeVar("T")


class Service(Protocol):
    """A background part of the process (the collector, schedulers) started in the lifespan."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Probe = Callable[["ModbusTarget"], Awaitable["ProbeReading"]]
"""One real read of a target's registers with their decodings; raises when nothing could be read."""


def _bus() -> Bus:
    from ddms.bus import Bus

    return Bus()


def _throttle() -> LoginThrottle:
    from ddms.services.login_throttle import LoginThrottle

    return LoginThrottle()


def _password_slots() -> PasswordSlots:
    from ddms.security import PasswordSlots

    return PasswordSlots()


def _backup_status() -> BackupStatus:
    from ddms.services.backup import BackupStatus

    return BackupStatus()


def _no_language() -> str | None:
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class Runtime:
    """The state of one app (or one console command), from start-up to shutdown."""

    settings: Settings | None = None
    database: Database | None = None
    bus: Bus = field(default_factory=_bus)
    throttle: LoginThrottle = field(default_factory=_throttle)
    password_slots: PasswordSlots = field(default_factory=_password_slots)
    backup_status: BackupStatus = field(default_factory=_backup_status)
    probe: Probe | None = None
    """test-connection's Modbus read (the composition root passes the collector's)."""
    collectors: list[Any] = field(default_factory=list)
    """Collectors running in this app (``collector.runner.Collector``; test-connection reuses their links)."""
    live_config: dict[str, Any] = field(default_factory=dict)
    """The configuration row as last read or written (``services.system.live_setting``)."""
    hypertables: dict[str, bool] = field(default_factory=dict)
    """Per database URL: is ``readings`` a TimescaleDB hypertable (``db.is_timescale``)."""
    language_resolver: Callable[[], str | None] = _no_language
    """Which language the current page uses (``ddms.i18n``; the pages install theirs)."""
    clock: Callable[[], datetime] = _utcnow
    """Now (aware UTC) for the pages' time windows; tests fix it."""
    revisions: dict[str, int] = field(default_factory=dict)
    """Per table, how often this app wrote it (``ddms.cache``)."""
    caches: dict[Hashable, Any] = field(default_factory=dict)
    alarm_engine: Any = None
    """The collector's alarm engine (``services.alarms``; None without a collector in this app)."""
    services: list[Service] = field(default_factory=list)
    cluster: Any = None
    """This instance's ``services.cluster.Node`` on PostgreSQL (None: the only instance there can be)."""
    owner_password_generated: str | None = None

    def cache(self, name: Hashable, build: Callable[[], ReadCache[T]]) -> ReadCache[T]:
        """The read cache called ``name``, built with ``build()`` the first time it is asked for."""
        if name not in self.caches:
            self.caches[name] = build()
        cache: ReadCache[T] = self.caches[name]
        return cache

    async def close(self) -> None:
        """Stop the services (last started first), then dispose of the database."""
        while self.services:
            await self.services.pop().stop()
        if self.database is not None:
            await self.database.dispose()


_bound: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("ddms_runtime", default=None)
_installed: list[Runtime] = []


def current() -> Runtime:
    """The runtime of the app this code runs for (see the module docstring)."""
    runtime = _bound.get()
    if runtime is not None:
        return runtime
    if not _installed:
        _installed.append(Runtime())
    return _installed[-1]


def bind(runtime: Runtime) -> contextvars.Token[Runtime | None]:
    """Make ``runtime`` current in this task's context (and in the tasks it starts)."""
    return _bound.set(runtime)


def unbind(token: contextvars.Token[Runtime | None]) -> None:
    _bound.reset(token)


@contextmanager
def installed(runtime: Runtime) -> Iterator[Runtime]:
    """``runtime`` is current, outside requests too, while the block runs; the previous one after."""
    _installed.append(runtime)
    try:
        yield runtime
    finally:
        _installed.remove(runtime)
