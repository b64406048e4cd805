"""NiceGUI pages. ``register()`` imports the page modules, whose ``@ui.page`` decorators add them."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ddms.config import Settings
from ddms.runtime import Runtime

if TYPE_CHECKING:
    from pages.session_store import SessionSweeper


def register(settings: Settings) -> None:
    """Compile the translations, then add every page to NiceGUI (importing a module adds its routes).

    What the pages read while they run (settings, clock, language) is the app's ``Runtime``. A page
    that cannot load its data shows an error state and retries (``pages.components.retry``).
    """
    from nicegui import app, ui

    from ddms import i18n
    from pages import (  # noqa: F401 - importing a page module registers it
        alarms,
        compare,
        dashboard,
        device_detail,
        devices,
        display,
        exports,
        groups,
        login,
        profile,
        users,
    )
    from pages import settings as settings_page  # noqa: F401
    from pages.components.retry import page_failed
    from pages.layout import OutageRecords
    from pages.session import configure
    from pages.session_store import use_session_directory

    use_session_directory(settings)  # before any browser session is stored
    i18n.compile_catalogs()
    ui.button.default_props("no-caps")
    configure()
    exports.register()
    app.on_page_exception(page_failed)  # no exception text on NiceGUI's 500 page
    logging.getLogger("nicegui").addFilter(OutageRecords())


async def attach(runtime: Runtime) -> None:
    """A start-up hook of the app: its pages' language becomes the language of its messages."""
    from pages.session import attach

    attach(runtime)


def bind_events_to_sockets() -> None:
    """Accept a page's Socket.IO messages only on that page's own socket (see ``pages.sockets``)."""
    from pages import sockets

    sockets.install()


def session_sweeper(settings: Settings) -> SessionSweeper:
    """The background service that deletes browser sessions unused for the refresh token's lifetime."""
    from pages.session_store import SessionSweeper

    return SessionSweeper(settings)
