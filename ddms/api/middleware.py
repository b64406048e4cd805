"""Small ASGI middlewares of the REST layer (pure ASGI: no extra task or stream per request)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ddms import metrics


class TrailingSlashMiddleware:
    """Treat ``/api/devices/`` like ``/api/devices``: scripts written either way keep working.

    Without it a POST to the slashed path gets a 307 redirect that many HTTP clients do not follow.
    The scope is changed in place, so middlewares outside this one see the route that answered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/") and path.endswith("/") and len(path) > len("/api/"):
                scope["path"] = path.rstrip("/")
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


UNMATCHED = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, entry_root_path: str = "") -> str:
    """The template of the route that answered (``/api/devices/{device_id}``), never the raw path.

    A mounted app without routes of its own (static files) is its prefix plus ``/{path}``; every
    path nothing matched (404s, probes) is one label, so clients cannot grow the series.
    """
    template = getattr(scope.get("route"), "path", None)
    if isinstance(template, str) and template:
        return template
    mounted = scope.get("root_path", "")
    if isinstance(mounted, str) and len(mounted) > len(entry_root_path):
        return mounted.removeprefix(entry_root_path) + "/{path}"
    return "/" if scope["path"] == "/" else UNMATCHED


class HTTPMetricsMiddleware:
    """``ddms_http_requests_total`` and ``ddms_http_request_duration_seconds`` per method, route, status.

    The duration ends when the answer starts (for SSE and CSV streams: the first byte, not the
    whole stream). Label children are looked up once per (method, route, status) and kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _record(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
        key = (method, route_template(scope, root_path), str(status))
        children = self._children.get(key)
        if children is None:
            children = (metrics.HTTP_REQUESTS.labels(*key), metrics.HTTP_SECONDS.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        answered = False

        async def timed_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                self._record(scope, root_path, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception:
            if not answered:  # the error handler outside answers 500
                answered = True
                self._record(scope, root_path, 500, time.perf_counter() - started)
            raise
