"""Small ASGI middlewares: the REST layer's path handling and the headers of every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
_BOUNCE = (b'<!doctype html><html><head><meta http-equiv="refresh" content="0">'
           b"<title>DDMS</title></head><body></body></html>")


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
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
            (b"content-length", str(len(_BOUNCE)).encode()),
        ]})
        await send({"type": "http.response.body", "body": _BOUNCE})
