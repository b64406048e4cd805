"""Headers, the UI session cookie and file modes of a served DDMS (``ddms serve`` under COOKIE_SECURE=true).

Every answer, UI page, static file, REST success and error alike, forbids framing by other sites and
MIME sniffing; the UI's session cookie is HttpOnly, SameSite=Strict and Secure; the data directory DDMS
creates is 0700 and the SQLite database with its WAL files, like the generated JWT secret, 0600.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ddms.db import private_sqlite_file
from tests.e2e.conftest import LiveServer, start_server

EXPECTED = {
    "x-frame-options": "SAMEORIGIN",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("hardened")
    data_dir = root / "fresh" / "data"  # DDMS creates it
    server = start_server(
        root,
        extra_env={
            "COOKIE_SECURE": "true",
            "DDMS_DATA_DIR": str(data_dir),
            "JWT_SECRET_KEY": "",
            "COLLECTOR_ENABLED": "false",
        },
    )
    try:
        yield server, data_dir
    finally:
        server.stop()


def assert_hardened(reply: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert reply.headers.get(name) == value, (reply.url, name, reply.headers)
    policy = reply.headers.get("content-security-policy", "")
    assert "frame-ancestors 'self'" in policy, (reply.url, policy)
    assert "script-src" not in policy  # NiceGUI's Vue needs eval; such a policy would break the UI


def test_every_kind_of_answer_carries_the_security_headers(secure_server: tuple[LiveServer, Path]) -> None:
    server, _data_dir = secure_server
    with server.client() as http:
        page = http.get("/login", headers={"Accept": "text/html"})
        assert page.status_code == 200
        static = re.search(r'src="(/_nicegui/[^"]+\.js)"', page.text)
        assert static is not None
        answers = [
            page,
            http.get(static.group(1)),
            http.get("/display", headers={"Accept": "text/html"}),
            http.get("/api/health"),
            http.get("/api/devices"),  # 401
            http.post("/api/auth/login", json={"username": "admin", "password": "wrong-password"}),  # 401
            http.get("/api/no-such-route"),  # 404
            http.get("/metrics"),  # Prometheus text, outside /api and inside the HTTP metrics
            http.get("/", headers={"Accept": "application/json"}),  # the health JSON for scripts
            http.get("/", headers={"Accept": "text/html"}, follow_redirects=False),  # to the login page
        ]
    assert [reply.status_code for reply in answers] == [200, 200, 200, 200, 401, 401, 404, 200, 200, 303]
    for reply in answers:
        assert_hardened(reply)


def test_the_ui_session_cookie_is_secure_strict_and_http_only(secure_server: tuple[LiveServer, Path]) -> None:
    server, _data_dir = secure_server
    with server.client() as http:
        reply = http.get("/login", headers={"Accept": "text/html"})
    cookies = [value for name, value in reply.headers.multi_items() if name == "set-cookie"]
    session = [cookie for cookie in cookies if cookie.startswith("session=")]
    assert len(session) == 1, cookies
    flags = {part.strip().lower() for part in session[0].split(";")[1:]}
    assert {"httponly", "samesite=strict", "secure"} <= flags, flags
    assert f"max-age={7 * 86400}" in flags  # the refresh token's lifetime (REFRESH_TOKEN_EXPIRE_DAYS)


CROSS_SITE = {"Accept": "text/html", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def test_a_cookieless_arrival_from_another_site_is_loaded_again_from_this_one(
    secure_server: tuple[LiveServer, Path],
) -> None:
    """The browser withholds the Strict cookie on a link from another site; a re-load from our own
    page gets it (tests/e2e/test_security_web.py follows such a link in Chromium)."""
    server, _data_dir = secure_server
    with server.client() as http:
        bounced = http.get("/devices", headers=CROSS_SITE)
        with_cookie = http.get("/login", headers=CROSS_SITE | {"Cookie": "session=anything"})
        own_site = http.get("/login", headers=CROSS_SITE | {"Sec-Fetch-Site": "same-origin"})
        api = http.get("/api/health", headers=CROSS_SITE)
    assert bounced.status_code == 200
    assert '<meta http-equiv="refresh" content="0">' in bounced.text
    assert "set-cookie" not in bounced.headers  # the signed-in cookie is not replaced
    assert_hardened(bounced)
    for reply in (with_cookie, own_site):
        assert "refresh" not in reply.text[:200]
        assert "set-cookie" in reply.headers
    assert api.json()["database"] == "ok"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_database_are_private(secure_server: tuple[LiveServer, Path]) -> None:
    _server, data_dir = secure_server
    assert mode(data_dir) == 0o700
    database = data_dir / "ddms.db"
    files = [database, data_dir / "ddms.db-wal", data_dir / "ddms.db-shm", data_dir / "jwt_secret"]
    assert all(path.exists() for path in files), sorted(data_dir.iterdir())
    assert {path.name: oct(mode(path)) for path in files} == {path.name: "0o600" for path in files}


def test_a_database_left_readable_by_an_older_version_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "ddms.db"
    for path in (database, tmp_path / "ddms.db-wal"):
        path.write_bytes(b"")
        path.chmod(0o644)
    private_sqlite_file(database)
    assert mode(database) == 0o600
    assert mode(tmp_path / "ddms.db-wal") == 0o600
    fresh = tmp_path / "new" / "ddms.db"
    private_sqlite_file(fresh)
    assert (mode(fresh.parent), mode(fresh)) == (0o700, 0o600)
