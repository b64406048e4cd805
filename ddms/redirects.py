"""Where a browser may be sent after signing in: a path on this site, nothing else (no open redirect).

A ``redirect_to`` value is read the way a browser's URL parser (WHATWG) would read it relative to
our own page, because the browser, not Python, decides where it goes: leading and trailing control
characters and spaces are dropped, tabs and newlines anywhere are removed, and a backslash counts as
a slash. So ``/\\evil.example``, ``/<TAB>/evil.example`` and ``//evil.example`` all name another host
and are refused, as are ``https://...`` and ``javascript:`` (no leading slash at all).
"""

from __future__ import annotations

from urllib.parse import urlsplit

HOME = "/"
_EDGE = "".join(chr(code) for code in range(0x21))  # C0 controls and space, stripped at both ends
_REMOVED = str.maketrans("", "", "\t\n\r")  # removed anywhere, as the URL parser does


def browser_view(target: str) -> str:
    """``target`` with the changes a browser makes before it resolves a URL (backslash as slash)."""
    return target.strip(_EDGE).translate(_REMOVED).replace("\\", "/")


def same_origin_path(target: str | None, *, default: str = HOME) -> str:
    """``target`` when a browser would stay on this site with it, else ``default``.

    Accepted: an absolute path (one leading ``/``, no scheme, no host, no control characters), e.g.
    ``/devices/42?range=1h#chart``.
    """
    if not target:
        return default
    path = browser_view(target)
    if not path.startswith("/") or path.startswith("//"):
        return default
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return default
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return default
    return path


def after_login(target: str | None) -> str:
    """Where a successful login goes: ``target`` on this site, but never back to the login page."""
    path = same_origin_path(target)
    return HOME if urlsplit(path).path.startswith("/login") else path
