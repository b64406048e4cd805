"""A page whose data cannot be loaded says so in the user's words and tries again by itself.

``@retrying`` (under ``@ui.page``) runs the page function. When it raises (the database is down, or
any other error), what the attempt built is taken away again, with the bus listeners it registered
through ``client.on_delete``, and a panel says what is wrong in the user's language: never the
exception, which goes to the server log. The panel counts down to the next attempt (the delay grows
with each failure, ``BACKOFF``) and has a Retry button. The next attempt runs the page function again
in the same browser tab, so when the database is back the real page replaces the panel without a
reload.

Failures are logged by ``pages.components.quiet.Quiet`` (the first of a streak loudly, repeats at
debug level). ``page_failed`` is NiceGUI's error page for an exception that escapes a page anyway:
the same words, no exception text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec

from nicegui import Client, background_tasks, context, ui
from starlette.responses import Response

from ddms.errors import MESSAGES, DDMSError
from ddms.i18n import _, format_integer, translate_error
from pages.components.quiet import Quiet, building, is_outage
from pages.layout import apply_theme
from pages.session import app_title

logger = logging.getLogger(__name__)

P = ParamSpec("P")
PageResult = Response | None


@dataclass
class Backoff:
    """Seconds to wait after the n-th failure in a row: ``first``, doubling, at most ``most``."""

    first: float = 2.0
    most: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.most, self.first * 2.0 ** max(0, failures - 1))


BACKOFF = Backoff()  # tests lengthen it, so that only their clicks retry


def headline(exc: BaseException) -> str:
    """What the user reads: the database is away, a service refused (its own words), or a server error."""
    if is_outage(exc):
        return _("The database cannot be reached.")
    return _("This page could not be loaded.")


def explanation(exc: BaseException, *, retries: bool = True) -> str:
    if is_outage(exc):
        if not retries:
            return _("Reload the page in a moment.")
        return _("The page loads by itself as soon as the database answers again.")
    if isinstance(exc, DDMSError) and exc.code in MESSAGES:
        return translate_error(exc)
    return _("The error has been logged on the server.")


class _Attempt:
    """What one build of a page adds to its client, so that a failed build can be taken away whole:
    the content, the layout parts around it (header, drawers) and the delete handlers (bus listeners)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.layout = list(client.layout)
        self.handlers = len(client.delete_handlers)

    def undo(self) -> None:
        added = self.client.delete_handlers[self.handlers :]
        del self.client.delete_handlers[self.handlers :]
        for handler in added:  # e.g. a bus listener whose elements are about to go
            self.client.safe_invoke(handler)
        for element in list(self.client.layout):
            if all(element is not kept for kept in self.layout):
                self.client.layout.remove(element)
        self.client.content.clear()


class Recovery:
    """One browser tab's page: builds it, and after a failure shows the panel and builds it again."""

    def __init__(self, client: Client, build: Callable[[], Awaitable[PageResult]]) -> None:
        self.client = client
        self.build = build
        self.path = client.request.url.path if client.request is not None else "?"
        self.log = Quiet(f"page {self.path}")
        self.running = False

    async def attempt(self) -> PageResult:
        """Build the page; when that fails, undo the build and show why, with the next attempt due."""
        attempt = _Attempt(self.client)
        try:
            with building(self.client):
                result = await self.build()
        except Exception as exc:
            attempt.undo()
            self.log.failed(exc)
            with self.client:
                RetryPanel(exc, BACKOFF.delay(self.log.failures), self.retry)
            return None
        self.log.succeeded()
        return result

    def retry(self) -> None:
        """Start the next attempt now (the panel's timer or its button) in a task of its own: the panel,
        with the timer whose callback this may be, is deleted by the attempt."""
        if self.running or self.client.id not in Client.instances:
            return
        self.running = True
        background_tasks.create(self._retry(), name=f"retry page {self.path}")

    async def _retry(self) -> None:
        try:
            self.client.content.clear()
            with self.client:
                result = await self.attempt()
                if isinstance(result, Response):  # e.g. the session ended meanwhile: to the login page
                    location = result.headers.get("location")
                    if location:
                        ui.navigate.to(location)
                    else:
                        ui.navigate.reload()
        finally:
            self.running = False


class RetryPanel:
    """The error state: what is wrong, when the next attempt is, and a button to try now."""

    def __init__(self, exc: BaseException, delay: float, retry: Callable[[], None]) -> None:
        apply_theme()
        ui.page_title(app_title())
        loop = asyncio.get_running_loop()
        self.due = loop.time() + delay
        self.waiting = _("Retrying in {seconds} s…")  # translated now, read by the timer
        self.trying = _("Retrying…")
        with (
            ui.card()
            .classes("absolute-center items-center gap-3 p-6 w-[32rem] max-w-full text-center")
            .mark("page-error")
        ):
            ui.icon("cloud_off" if is_outage(exc) else "error_outline", size="3rem").classes("text-negative")
            ui.label(headline(exc)).classes("text-h6").mark("page-error-headline")
            ui.label(explanation(exc)).classes("text-grey-8").mark("page-error-detail")
            self.countdown = ui.label().classes("text-grey-7").mark("retry-countdown")
            ui.button(_("Retry"), icon="refresh", on_click=retry).mark("retry")
        self.show()
        ui.timer(1.0, self.show, immediate=False)
        ui.timer(delay, retry, once=True).mark("retry-timer")

    def show(self) -> None:
        left = math.ceil(self.due - asyncio.get_running_loop().time())
        text = self.waiting.format(seconds=format_integer(left)) if left > 0 else self.trying
        self.countdown.set_text(text)


def retrying(page: Callable[P, Awaitable[PageResult]]) -> Callable[P, Awaitable[PageResult]]:
    """Make a page function show the error state and retry instead of failing (see the module doc)."""

    @functools.wraps(page)
    async def run(*args: P.args, **kwargs: P.kwargs) -> PageResult:
        return await Recovery(context.client, functools.partial(page, *args, **kwargs)).attempt()

    return run


def page_failed(exc: Exception) -> None:
    """NiceGUI's page for an exception that escaped a page function (``app.on_page_exception``).

    NiceGUI logs the exception itself; the page shows only what the user can act on. Nothing here
    may raise (it would bring back NiceGUI's own page, which names the exception).
    """
    with (
        ui.card()
        .classes("absolute-center items-center gap-3 p-6 w-[32rem] max-w-full text-center")
        .mark("page-error")
    ):
        ui.icon("error_outline", size="3rem").classes("text-negative")
        ui.label(headline(exc)).classes("text-h6").mark("page-error-headline")
        ui.label(explanation(exc, retries=False)).classes("text-grey-8").mark("page-error-detail")
        ui.button(_("Reload"), icon="refresh", on_click=ui.navigate.reload).mark("reload")
