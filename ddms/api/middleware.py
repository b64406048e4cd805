"""Small ASGI middlewares of the REST layer."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlashMiddleware:
    """Treat ``/api/devices/`` like ``/api/devices``: scripts written either way keep working.

    Without it a POST to the slashed path gets a 307 redirect that many HTTP clients do not follow.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/") and path.endswith("/") and len(path) > len("/api/"):
                scope = dict(scope, path=path.rstrip("/"), raw_path=path.rstrip("/").encode())
        await self.app(scope, receive, send)
