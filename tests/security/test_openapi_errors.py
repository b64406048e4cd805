"""The OpenAPI document declares the errors the API really answers: ``{"detail": str}`` and each status.

Before, FastAPI's default documented a 422 whose ``detail`` is a list of objects and no other error,
so a client generated from /openapi.json (or schemathesis) expected answers DDMS never sends.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ddms.config import Settings
from ddms.main import create_api
from tests.api import conftest as api_fixtures
from tests.api.conftest import Account

# The REST app, client and accounts of tests/api, on both databases.
app, client, owner, reader = api_fixtures.app, api_fixtures.client, api_fixtures.owner, api_fixtures.reader

# Fixed (not uuid4) so every pytest-xdist worker collects the same test ids; no fresh database holds it.
UNKNOWN = b"5c0d1e5e-0000-4000-8000-00000000dead"
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
# Operations limited to a role, as the routers declare them (everything else under /api is any role).
ROLE_LIMITED = {
    "GET /api/users",
    "POST /api/users",
    "GET /api/users/{user_id}",
    "PUT /api/users/{user_id}",
    "DELETE /api/users/{user_id}",
    "POST /api/devices",
    "PUT /api/devices/{device_id}",
    "DELETE /api/devices/{device_id}",
    "POST /api/devices/{device_id}/test-connection",
    "POST /api/devices/test",
    "POST /api/groups",
    "PUT /api/groups/{group_id}",
    "DELETE /api/groups/{group_id}",
    "GET /api/config",
    "PUT /api/config",
    "GET /api/display-tokens",
    "POST /api/display-tokens",
    "DELETE /api/display-tokens/{token_id}",
    "GET /api/channels",
    "POST /api/channels",
    "GET /api/channels/{channel_id}",
    "PUT /api/channels/{channel_id}",
    "DELETE /api/channels/{channel_id}",
    "POST /api/channels/{channel_id}/test",
}


def document() -> dict[str, Any]:
    from tests.conftest import TEST_SECRET

    settings = Settings(jwt_secret_key=TEST_SECRET, database_url="sqlite+aiosqlite:///unused.db")
    return create_api(settings).openapi()


def operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in doc["paths"].items()
        if path.startswith("/api")
        for method, operation in methods.items()
    }


def test_every_error_is_documented_as_a_detail_string() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    error = schemas["ErrorResponse"]
    assert error["required"] == ["detail"]
    assert error["additionalProperties"] is False
    assert error["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in str(doc)
    for label, operation in operations(doc).items():
        for code, answer in operation["responses"].items():
            if code[0] not in "45" or (label, code) == ("GET /api/health", "503"):
                continue
            assert answer["content"] == {"application/json": {"schema": ERROR_REF}}, (label, code)
            assert answer["description"], (label, code)
    health_503 = operations(doc)["GET /api/health"]["responses"]["503"]
    assert health_503["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Health"}


def test_each_operation_lists_the_statuses_it_can_answer() -> None:
    ops = operations(document())
    assert len(ops) >= 34
    for label, operation in ops.items():
        codes = set(operation["responses"])
        path = label.split(" ", 1)[1]
        assert "503" in codes, label
        # Health is the one operation without credentials to refuse (login refuses a wrong password).
        assert ("401" in codes) == (label != "GET /api/health"), label
        assert ("403" in codes) == (label in ROLE_LIMITED), label
        assert ("404" in codes) == ("{" in path), label
        has_input = bool(operation.get("parameters")) or "requestBody" in operation
        reads_body_itself = label in {"POST /api/auth/refresh", "POST /api/auth/logout"}
        assert ("422" in codes) == (has_input or reads_body_itself), label
        if "requestBody" in operation:
            assert "400" in codes, label
        if "401" in codes:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], label
    assert {"401", "429"} <= set(ops["POST /api/auth/login"]["responses"])
    assert ops["POST /api/auth/login"]["responses"]["429"]["headers"]["Retry-After"]
    for label in (
        "POST /api/users",
        "POST /api/devices",
        "PUT /api/devices/{device_id}",
        "POST /api/groups",
        "PUT /api/groups/{group_id}",
        "PUT /api/auth/me",
    ):
        assert "409" in ops[label]["responses"], label
    for label in ops:
        if label.startswith(("GET /api/readings", "GET /api/export")) and not label.endswith("/latest"):
            assert "400" in ops[label]["responses"], label
    for label in ("GET /api/export/device/{device_id}", "GET /api/export/group/{group_id}"):
        assert "text/csv" in ops[label]["responses"]["200"]["content"], label


async def test_the_served_document_is_the_declared_one(client: httpx.AsyncClient) -> None:
    served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == document()


@pytest.mark.parametrize(
    ("method", "path", "who", "body", "status"),
    [
        ("GET", "/api/devices", None, None, 401),
        ("GET", "/api/config", "reader", None, 403),
        ("GET", "/api/devices/{missing}", "reader", None, 404),
        ("GET", "/api/devices/not-a-uuid", "reader", None, 422),
        ("POST", "/api/groups", "owner", b'{"name": ', 400),
        ("POST", "/api/groups", "owner", b'{"name": "g", "device_ids": ["%s"]}' % UNKNOWN, 400),
        ("GET", "/api/readings/{missing}?start_time=yesterday", "reader", None, 400),
    ],
)
async def test_real_error_answers_match_the_document(
    client: httpx.AsyncClient,
    owner: Account,
    reader: Account,
    method: str,
    path: str,
    who: str | None,
    body: bytes | None,
    status: int,
) -> None:
    missing = str(uuid.uuid4())
    headers = {"owner": owner.headers, "reader": reader.headers}.get(who or "", {})
    url = path.replace("{missing}", missing)
    answer = await client.request(
        method, url, headers={**headers, "content-type": "application/json"}, content=body
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    payload = answer.json()
    assert set(payload) == {"detail"}
    assert isinstance(payload["detail"], str)
    assert payload["detail"]
    template = path.split("?")[0].replace("{missing}", "{device_id}").replace("not-a-uuid", "{device_id}")
    assert str(status) in operations(document())[f"{method} {template}"]["responses"]
