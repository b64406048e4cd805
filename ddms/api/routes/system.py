"""Health (public) and the owner's system configuration."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ddms.api.deps import OwnerUser, SessionDep
from ddms.schemas.system import ConfigPublic, ConfigUpdate, Health
from ddms.services import system

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(session: SessionDep) -> JSONResponse:
    result = await system.health(session=session)
    return JSONResponse(result.model_dump(), status_code=200 if result.database == "ok" else 503)


@router.get("/config", response_model=ConfigPublic)
async def get_config(session: SessionDep, _: OwnerUser) -> ConfigPublic:
    return ConfigPublic.model_validate(await system.get_config(session=session))


@router.put("/config", response_model=ConfigPublic)
async def update_config(body: ConfigUpdate, session: SessionDep, _: OwnerUser) -> ConfigPublic:
    return ConfigPublic.model_validate(await system.update_config(session=session, data=body))
