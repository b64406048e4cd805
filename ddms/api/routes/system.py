"""Health (public) and the owner's system configuration."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ddms import db
from ddms.api.deps import OwnerUser, SessionDep
from ddms.schemas.system import ConfigPublic, ConfigUpdate, Health
from ddms.services import system

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health() -> JSONResponse:
    return await health_response()


def health_status(result: Health) -> int:
    """200 while the database answers and readings are stored, else 503 (load balancers, ``docker``)."""
    return 200 if result.status == "healthy" else 503


async def health_response() -> JSONResponse:
    """The health JSON with its status, for ``GET /api/health`` and script clients of ``GET /``."""
    async with db.session_scope() as session:
        result = await system.health(session=session)
    return JSONResponse(result.model_dump(mode="json", exclude_none=True), status_code=health_status(result))


@router.get("/config", response_model=ConfigPublic)
async def get_config(session: SessionDep, _: OwnerUser) -> ConfigPublic:
    return ConfigPublic.model_validate(await system.get_config(session=session))


@router.put("/config", response_model=ConfigPublic)
async def update_config(body: ConfigUpdate, session: SessionDep, _: OwnerUser) -> ConfigPublic:
    return ConfigPublic.model_validate(await system.update_config(session=session, data=body))
