"""Answers encoded once: JSON bytes produced by pydantic's serializer, handed to Starlette as they are.

A route returning a model with ``response_model`` set has FastAPI validate and serialise it again;
routes on hot paths return ``JSONBytes`` instead and keep ``response_model`` for the OpenAPI
document only (FastAPI passes a returned Response through untouched).
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


class JSONBytes(Response):
    """Already-encoded JSON."""

    media_type = "application/json"


def model_response(model: BaseModel, status_code: int = 200) -> JSONBytes:
    return JSONBytes(model.model_dump_json(), status_code=status_code)
