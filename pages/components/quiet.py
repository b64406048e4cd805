"""Quiet failures of repeating work: a page's timer or re-check that needs the database.

While the database is away such a job fails on every tick. ``Quiet`` logs the first failure of a
streak (an outage as one warning line, anything else with its traceback) and the repeats only at
debug level, says so once when the job works again, and never raises: the page keeps what it shows.

``building(client)`` marks the time a page is being built (``pages.components.retry``): a load that
fails then must raise, so that the whole page shows its error state instead of a half-empty page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from weakref import WeakSet

from nicegui import Client

from ddms import db

logger = logging.getLogger(__name__)


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached (``ddms.db.is_outage``): no one's fault, worth retrying."""
    return db.is_outage(exc)


_building: WeakSet[Client] = WeakSet()


@contextmanager
def building(client: Client) -> Iterator[None]:
    _building.add(client)
    try:
        yield
    finally:
        _building.discard(client)


def is_building(client: Client) -> bool:
    return client in _building


class Quiet:
    """The log of one repeating job: its first failure in a row loud, the repeats quiet."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.failures > 1:
            logger.debug("%s failed again (%d in a row): %s", self.what, self.failures, type(exc).__name__)
        elif is_outage(exc):
            logger.warning("%s: database unavailable (%s: %s)", self.what, type(exc).__name__, exc)
        else:
            logger.error("%s failed", self.what, exc_info=exc)

    def succeeded(self) -> None:
        if self.failures:
            logger.info("%s works again after %d failure(s)", self.what, self.failures)
        self.failures = 0

    async def run(self, job: Callable[[], Awaitable[object]]) -> bool:
        """Run ``job``; a failure is logged (not raised) and the answer is False."""
        try:
            await job()
        except Exception as exc:
            self.failed(exc)
            return False
        self.succeeded()
        return True
