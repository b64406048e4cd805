"""Open redirect after login: only a path a browser resolves on this site is followed.

Each hostile value is one a browser resolves to another origin (tests/e2e/test_security_web.py checks
that in Chromium with ``new URL(value, page)``), given here as the page receives it (after the query
string's percent-decoding: ``redirect_to=/%5Cevil.example`` arrives as ``/\\evil.example``).
"""

from __future__ import annotations

import pytest

from ddms.redirects import after_login, browser_view, same_origin_path

HOSTILE = [
    "//evil.example",
    "/\\evil.example",  # redirect_to=/%5Cevil.example
    "\\/evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # redirect_to=/%09/evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x1f/\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:evil.example",
    "HTTPS://evil.example/",
    "//evil.example/login",
    "///evil.example",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "",
    None,
    "/dev\x00ices",
    "/dev\x7fices",
]

SAFE = [
    "/",
    "/devices",
    "/devices/7f1c7b7e-2f7a-4a57-8d1e-2c4a1d2b9c10",
    "/groups?range=1h#chart",
    "/display/abc",
    "/devices/%5Cevil.example",
    "/a//b",
    "/devices?next=//evil.example",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_a_value_that_leaves_the_site_sends_the_browser_home(target: str | None) -> None:
    assert same_origin_path(target) == "/"
    assert after_login(target) == "/"


@pytest.mark.parametrize("target", SAFE)
def test_a_path_on_this_site_is_followed_unchanged(target: str) -> None:
    assert same_origin_path(target) == target
    assert after_login(target) == target


@pytest.mark.parametrize("target", ["/login", "/login?redirect_to=/devices", "/\\login", "\t/login"])
def test_a_login_does_not_lead_back_to_the_login_page(target: str) -> None:
    assert after_login(target) == "/"


def test_the_followed_path_is_the_one_a_browser_sees() -> None:
    assert same_origin_path("  /devices\t/x\\y ") == "/devices/x/y"
    assert browser_view("/\t/evil.example") == "//evil.example"
    assert browser_view("\x01/\\evil.example ") == "//evil.example"
