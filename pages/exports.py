"""CSV downloads for the signed-in browser (the UI session, not a bearer token).

The chart pages link here with the range they show. The routes are the REST API's own
(``ddms.api.routes.export.export_router``): the same range parsing, plans, headers and error answers,
only the caller is the browser's session instead of a bearer token.
"""

from __future__ import annotations

from nicegui import app

from ddms.api.routes.export import export_router
from ddms.errors import Unauthorized
from pages.session import SessionUser, current_user


async def signed_in_browser() -> SessionUser:
    """The browser's live user; 401 (as the API answers a missing token) otherwise."""
    user = await current_user()
    if user is None:
        raise Unauthorized("not_authenticated")
    return user


def register() -> None:
    """Add the download routes to NiceGUI's app (called by ``pages.register``)."""
    app.include_router(export_router("/ui/export", signed_in_browser, include_in_schema=False))
