"""docs/api.md and the OpenAPI document list the same /api routes (method and path).

A route added to the code without a row in docs/api.md fails here, and so does a documented route
that the app does not serve. Path parameter names are not compared (`{id}` matches `{device_id}`).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.security.test_openapi_errors import document

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/api[^`\s]*)`")

# Documented routes that other branches are implementing right now. Each entry is removed when its
# route lands (test_pending_routes_are_documented_and_not_yet_served fails until it is); the set must
# be empty when the branches are merged.
PENDING: set[str] = set()


PARAMETER = re.compile(r"\{[^}]*\}")


def normalised(method: str, path: str) -> str:
    return f"{method.upper()} {PARAMETER.sub('{}', path.rstrip('/') or '/')}"


def documented(text: str) -> set[str]:
    """Routes in the first column of docs/api.md's tables."""
    routes: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            routes.update(normalised(m, p) for m, p in ROUTE.findall(line.split("|")[1]))
    return routes


def served() -> set[str]:
    return {
        normalised(method, path)
        for path, operations in document()["paths"].items()
        if path.startswith("/api")
        for method in operations
    }


def test_docs_and_openapi_list_the_same_routes() -> None:
    in_doc = documented(API_DOC.read_text(encoding="utf-8"))
    in_app = served()
    assert in_app - in_doc == set(), "served /api routes missing from docs/api.md"
    assert in_doc - in_app - PENDING == set(), "docs/api.md documents routes the app does not serve"


def test_pending_routes_are_documented_and_not_yet_served() -> None:
    """A PENDING entry that has landed (or is not documented) must leave the set."""
    in_doc = documented(API_DOC.read_text(encoding="utf-8"))
    assert PENDING - in_doc == set(), "PENDING names routes docs/api.md does not document"
    assert PENDING & served() == set(), "these routes are served now: remove them from PENDING"


def test_the_parser_reads_each_table_row() -> None:
    row = "| `GET /api/devices/{device_id}` | any | 200 device, or 404 (see `POST /api/x` in prose) |"
    assert documented(row) == {"GET /api/devices/{}"}
    assert documented("`GET /api/devices` outside a table") == set()


READINGS_EXPORTS = ("/api/export/device/{device_id}", "/api/export/group/{group_id}", "/api/export/devices")


def test_export_options_are_in_the_openapi_and_the_doc() -> None:
    """``tz`` and ``bom`` (local times, byte order mark) are query parameters of every readings export,
    in the OpenAPI document as in docs/api.md; ``bom`` defaults to off (plain UTF-8)."""
    paths = document()["paths"]
    text = API_DOC.read_text(encoding="utf-8")
    for path in READINGS_EXPORTS:
        parameters = {p["name"]: p for p in paths[path]["get"]["parameters"] if p["in"] == "query"}
        assert {"tz", "bom"} <= set(parameters), path
        assert parameters["bom"]["schema"]["default"] is False
        row = next(line for line in text.splitlines() if line.startswith(f"| `GET {path.split('{')[0]}"))
        assert "&tz&bom" in row, row
