"""/api/notifications: the signed-in user's own notifications, and their live SSE stream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.responses import StreamingResponse

from ddms.api.deps import Authenticated, BearerDep, SessionDep, SettingsDep
from ddms.api.openapi import sse_responses
from ddms.errors import Unauthorized
from ddms.schemas.alarms import MarkedRead, NotificationOut, NotificationPage, UnreadCount
from ddms.services import notifications, stream_access

router = APIRouter(prefix="/api/notifications", tags=["notifications"])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("", response_model=NotificationPage)
async def list_notifications(
    session: SessionDep,
    principal: Authenticated,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=notifications.MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> NotificationPage:
    return await notifications.list_for_user(
        session=session, user_id=principal.id, unread_only=unread_only, limit=limit, offset=offset
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(session: SessionDep, principal: Authenticated) -> UnreadCount:
    return UnreadCount(unread_count=await notifications.unread_count(session=session, user_id=principal.id))


def _fanout(request: Request) -> notifications.NotificationFanout:
    fanout: notifications.NotificationFanout | None = getattr(request.app.state, "notification_fanout", None)
    if fanout is None:
        fanout = request.app.state.notification_fanout = notifications.NotificationFanout()
    return fanout


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=sse_responses(),
)
async def stream(
    request: Request,
    settings: SettingsDep,
    credentials: BearerDep,
    token: Annotated[str | None, Query(max_length=4096)] = None,
) -> StreamingResponse:
    """``event: notification`` with the JSON notification for each new one of the caller; comment
    heartbeats while idle. Access token in the header or ``?token=``; the stream ends when it stops
    being valid (re-checked as the device stream's)."""
    given = credentials.credentials if credentials is not None else token
    if not given:
        raise Unauthorized("not_authenticated")
    grant = await stream_access.user_grant(settings=settings, token=given)
    watch = stream_access.Watch(grant, None, request.app.state.stream_policy)
    fanout = _fanout(request)
    heartbeat: float = getattr(request.app.state, "notification_heartbeat", notifications.HEARTBEAT_SECONDS)

    async def body() -> AsyncGenerator[bytes, None]:
        async for chunk in notifications.events(fanout, grant.user_id, heartbeat):
            yield chunk

    return StreamingResponse(
        stream_access.guarded(body(), watch), media_type="text/event-stream", headers=STREAM_HEADERS
    )


@router.put("/read-all", response_model=MarkedRead)
async def read_all(session: SessionDep, principal: Authenticated) -> MarkedRead:
    return MarkedRead(marked=await notifications.mark_all_read(session=session, user_id=principal.id))


@router.put("/{notification_id}/read", response_model=NotificationOut)
async def read(notification_id: uuid.UUID, session: SessionDep, principal: Authenticated) -> NotificationOut:
    return await notifications.mark_read(
        session=session, user_id=principal.id, notification_id=notification_id
    )


@router.delete("/{notification_id}", status_code=status.HTTP_204_NO_CONTENT)
async def dismiss(notification_id: uuid.UUID, session: SessionDep, principal: Authenticated) -> Response:
    await notifications.dismiss(session=session, user_id=principal.id, notification_id=notification_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
