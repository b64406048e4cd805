"""Small ASGI middlewares (pure ASGI: no extra task or stream per request): the REST layer's path
handling, HTTP metrics, and the security headers of every response."""

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
    route = scope.get("route")
    template = getattr(route, "path", None)
    if getattr(route, "name", None) == UNMATCHED:  # the JSON 404 for unknown /api paths
        return UNMATCHED
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


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    # Never inside another site's frame (clickjacking): the modern and the legacy header.
    (b"content-security-policy", b"frame-ancestors 'self'; object-src 'none'; base-uri 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    # Page addresses carry device and group ids: other sites get the origin at most.
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP response, UI pages and REST alike.

    No ``script-src``: NiceGUI's Vue templates need ``unsafe-eval``, so such a policy would protect
    nothing. A header the inner application already set is left alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


SESSION_COOKIE = "session"  # Starlette's SessionMiddleware default, used by the UI
_BOUNCE = (
    b'<!doctype html><html><head><meta http-equiv="refresh" content="0">'
    b"<title>DDMS</title></head><body></body></html>"
)


class CrossSiteArrivalMiddleware:
    """Let a link from another site open a signed-in page despite the SameSite=Strict session cookie.

    The browser leaves a Strict cookie off a navigation that starts on another site (a plant portal,
    a wiki). The page would then start a new, anonymous session and its cookie would replace the
    signed-in one: every such link would log the user out. Instead, such an arrival without the
    cookie (told by the Fetch Metadata headers) gets a tiny page that loads the same address again.
    That load starts on our own page, so the browser sends the cookie; a visitor who has none simply
    sees the page after one extra round trip. The REST API (bearer tokens) is never bounced.
    """

    def __init__(self, app: ASGIApp, session_cookie: str = SESSION_COOKIE) -> None:
        self.app = app
        self.session_cookie = session_cookie.encode()

    def _is_cookieless_cross_site_navigation(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"].startswith("/api"):
            return False
        headers = dict(scope["headers"])
        if (headers.get(b"sec-fetch-site"), headers.get(b"sec-fetch-mode")) != (b"cross-site", b"navigate"):
            return False
        cookies = headers.get(b"cookie", b"")
        return not any(part.strip().startswith(self.session_cookie + b"=") for part in cookies.split(b";"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._is_cookieless_cross_site_navigation(scope):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"content-length", str(len(_BOUNCE)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _BOUNCE})
