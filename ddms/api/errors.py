"""Map domain errors and request validation failures to ``{"detail": "..."}`` answers.

The one mapping of error to status: ``install`` adds it to the REST app; ``ErrorMappingRoute`` carries
it to routes mounted in another app (the pages' CSV downloads live in NiceGUI's app).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ddms.db import OUTAGE_ERRORS, is_outage
from ddms.errors import (
    Conflict,
    DDMSError,
    Forbidden,
    Invalid,
    NotFound,
    Overloaded,
    RateLimited,
    Unauthorized,
    Unavailable,
)

logger = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    Invalid: 400,
    Unauthorized: 401,
    RateLimited: 429,
    Unavailable: 503,
}


def _status_of(error: DDMSError) -> int:
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def describe_validation(errors: list[Any]) -> str:
    """One readable sentence per problem: ``field: message``, joined by '; '."""
    parts = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(location)}: {message}" if location else message)
    return "; ".join(parts) or "Invalid request"


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DDMSError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited | Overloaded) else None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": exc.detail}, status_code=_status_of(exc), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse({"detail": "Malformed JSON in request body"}, status_code=400)
    return JSONResponse({"detail": describe_validation(errors)}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a database outage is 503; anything else is logged and answered without internals."""
    if is_outage(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse({"detail": "Database unavailable, try again shortly"}, status_code=503)
    logger.exception("unhandled error")
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DDMSError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Outages get their own handlers so they are answered (503) without Starlette re-raising them
    # into the server log as an unhandled traceback on every request.
    for kind in OUTAGE_ERRORS:
        app.add_exception_handler(kind, _unexpected)
    app.add_exception_handler(Exception, _unexpected)


class ErrorMappingRoute(APIRoute):
    """A route answering domain and validation errors and database outages (503) itself, wherever it
    is mounted: under NiceGUI's app (the pages' downloads) no handler of ``install`` would see them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def mapped(request: Request) -> Response:
            try:
                return await handler(request)
            except DDMSError as exc:
                return await _domain_error(request, exc)
            except RequestValidationError as exc:
                return await _validation_error(request, exc)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                return await _unexpected(request, exc)

        return mapped
