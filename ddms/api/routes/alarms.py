"""/api/alarms: the alarm list, one alarm, acknowledgement (every signed-in role: the operator's job)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query

from ddms.api.deps import Authenticated, CurrentUser, SessionDep
from ddms.schemas.alarms import AcknowledgeAllIn, Acknowledged, AcknowledgeIn, AlarmList, AlarmOut
from ddms.services import alarms

router = APIRouter(prefix="/api/alarms", tags=["alarms"])


@router.get("", response_model=AlarmList)
async def list_alarms(
    session: SessionDep,
    _: Authenticated,
    state: Literal["active", "cleared", "all"] = "active",
    severity: Literal["warning", "critical", "error"] | None = None,
    device_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=alarms.MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlarmList:
    """Alarms newest raised first: active ones by default, ``state=cleared`` or ``all`` for the history."""
    found, total = await alarms.list_alarms(
        session=session, state=state, severity=severity, device_id=device_id, limit=limit, offset=offset
    )
    return AlarmList(alarms=found, total=total)


@router.post("/acknowledge-all", response_model=Acknowledged)
async def acknowledge_all(
    session: SessionDep, user: CurrentUser, body: Annotated[AcknowledgeAllIn | None, Body()] = None
) -> Acknowledged:
    """Acknowledge every active, unacknowledged alarm (of one device with ``device_id``)."""
    body = body or AcknowledgeAllIn()
    count = await alarms.acknowledge_all(
        session=session, username=user.username, device_id=body.device_id, comment=body.comment
    )
    return Acknowledged(acknowledged=count)


@router.get("/{alarm_id}", response_model=AlarmOut)
async def get_alarm(alarm_id: uuid.UUID, session: SessionDep, _: Authenticated) -> AlarmOut:
    return await alarms.get_alarm(session=session, alarm_id=alarm_id)


@router.post("/{alarm_id}/acknowledge", response_model=AlarmOut)
async def acknowledge(
    alarm_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    body: Annotated[AcknowledgeIn | None, Body()] = None,
) -> AlarmOut:
    """Record who acknowledged the alarm (and why); acknowledging again changes nothing."""
    comment = body.comment if body is not None else None
    return await alarms.acknowledge(
        session=session, alarm_id=alarm_id, username=user.username, comment=comment
    )
