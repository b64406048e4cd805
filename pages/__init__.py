"""NiceGUI pages. ``register()`` imports the page modules, whose ``@ui.page`` decorators add them."""

from __future__ import annotations

from ddms.config import Settings


def register(settings: Settings) -> None:
    """Add every page to NiceGUI (importing a page module registers its routes)."""
    from pages import home, login  # noqa: F401
    from pages.session import configure

    configure(settings)
