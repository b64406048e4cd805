"""The OpenAPI document tells the truth about errors: their one shape, and the statuses of each route.

FastAPI would document a 422 whose ``detail`` is a list of validation objects, and nothing else.
DDMS answers every error as ``{"detail": "<message>"}`` (``ddms.api.errors``), and clients and
schemathesis read the document to know what to expect. Most statuses follow from what a route
depends on, so a new route is documented without thinking about it:

- a signed-in caller (``get_current_user`` or ``get_principal``): 401; a role check (``require_roles``): 403;
- a path parameter (an id): 404; any parameter or body: 422; a JSON body: 400 (malformed JSON);
- every route: 503 (a database outage is answered 503 wherever it happens).

What a route's service raises besides those (400 for a rule, 409 for a duplicate, 429, ...) the
route declares itself with ``responses=errors(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from ddms.api import deps
from ddms.schemas.common import ErrorResponse

ERROR_SCHEMA = "ErrorResponse"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"

DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input: a rule of the service, an unparsable value or malformed JSON",
    401: "Missing, invalid, expired or revoked credentials",
    403: "The caller's role does not allow this",
    404: "No such object",
    409: "Conflicts with existing data (a name or username already taken)",
    422: "The request does not match the documented parameters or body",
    429: "Too many attempts; Retry-After tells when to try again",
    503: "The database (or another dependency) is unavailable; try again shortly",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}},
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the error statuses its service answers besides the derived ones."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def sse_responses() -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an SSE route: the event stream, or 401 without a valid token."""
    return {200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **errors(401)}


def install(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Let ``app.openapi()`` (and /openapi.json) carry the real error shape and statuses.

    The routes are read from the routers the app includes (their own APIRoute objects, whatever
    FastAPI makes of them when it includes them).
    """
    generate = app.openapi
    routes = [route for router in routers for route in router.routes]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(generate(), routes)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def declare_errors(document: dict[str, Any], routes: Sequence[BaseRoute]) -> None:
    """Add the derived statuses to every /api operation and give every error the one error body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ErrorResponse.model_json_schema()
    for route in routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api"):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in sorted(derived_statuses(route, operation)):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for code, answer in responses.items():
                if code[0] in "45":
                    _error_answer(int(code), answer)
            operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def derived_statuses(route: APIRoute, operation: dict[str, Any]) -> set[int]:
    """The error statuses that follow from a route's dependencies, parameters and body."""
    calls = set(_calls(route.dependant))
    statuses = {503}
    if any(deps.is_authentication(call) for call in calls):
        statuses.add(401)
    if any(deps.is_role_check(call) for call in calls):
        statuses.add(403)
    parameters = operation.get("parameters", [])
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    body = operation.get("requestBody")
    if parameters or body:
        statuses.add(422)
    if body and "application/json" in body.get("content", {}):
        statuses.add(400)
    return statuses


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _error_answer(status: int, answer: dict[str, Any]) -> None:
    """The JSON error body, unless the route documents its own model (health's 503 is a Health)."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and schema.get("$ref") != _FASTAPI_VALIDATION:
        return
    answer["content"] = {"application/json": {"schema": dict(_ERROR_REF)}}
    if status in DESCRIPTIONS and answer.get("description") in (None, "Validation Error"):
        answer["description"] = DESCRIPTIONS[status]
    if status in _HEADERS:
        answer.setdefault("headers", _HEADERS[status])
