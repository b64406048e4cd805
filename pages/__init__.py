"""NiceGUI pages. ``register()`` imports the page modules, whose ``@ui.page`` decorators add them."""

from __future__ import annotations

from ddms.config import Settings


def register(settings: Settings) -> None:
    """Compile the translations, then add every page to NiceGUI (importing a module adds its routes)."""
    from nicegui import ui

    from ddms import i18n
    from pages import (  # noqa: F401 - importing a page module registers it
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
    from pages.session import configure

    i18n.compile_catalogs()
    ui.button.default_props("no-caps")
    configure(settings)
    exports.register()


def bind_events_to_sockets() -> None:
    """Accept a page's Socket.IO messages only on that page's own socket (see ``pages.sockets``)."""
    from pages import sockets

    sockets.install()
