"""/api/groups: device groups, membership and their alert summary."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ddms.api.deps import AdminUser, Authenticated, SessionDep
from ddms.api.openapi import errors
from ddms.api.responses import JSONBytes, model_response
from ddms.schemas.devices import GroupCreate, GroupDetail, GroupPublic, GroupUpdate
from ddms.schemas.readings import GroupReadingsPublic
from ddms.services import groups, readings

router = APIRouter(prefix="/api/groups", tags=["groups"])


@router.post("", response_model=GroupDetail, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_group(body: GroupCreate, session: SessionDep, _: AdminUser) -> GroupDetail:
    return await groups.create_group(session=session, data=body)


@router.get("", response_model=list[GroupPublic])
async def list_groups(session: SessionDep, _: Authenticated) -> list[GroupPublic]:
    return await groups.list_groups(session=session)


@router.get("/{group_id}", response_model=GroupDetail)
async def get_group(group_id: uuid.UUID, session: SessionDep, _: Authenticated) -> GroupDetail:
    return await groups.group_detail(session=session, group_id=group_id)


@router.get("/{group_id}/readings", response_model=GroupReadingsPublic)
async def group_readings(
    group_id: uuid.UUID,
    session: SessionDep,
    _: Authenticated,
    hours: Annotated[int, Query(ge=1, le=readings.GROUP_HOURS_MAX, description="how far back")] = 24,
    limit: Annotated[int, Query(ge=1, le=readings.GROUP_LIMIT_MAX, description="at most this many")] = 1000,
) -> JSONBytes:
    """Raw readings of the group's members over the last ``hours``, newest first (any role)."""
    rows = await readings.group_recent(session, group_id, hours=hours, limit=limit)
    return model_response(GroupReadingsPublic(group_id=group_id, readings=rows))


@router.put("/{group_id}", response_model=GroupDetail, responses=errors(409))
async def update_group(
    group_id: uuid.UUID,
    body: GroupUpdate,
    session: SessionDep,
    _: AdminUser,
) -> GroupDetail:
    return await groups.update_group(session=session, group_id=group_id, data=body)


@router.delete("/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(group_id: uuid.UUID, session: SessionDep, _: AdminUser) -> Response:
    await groups.delete_group(session=session, group_id=group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
