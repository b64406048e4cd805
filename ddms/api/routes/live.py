"""/api/devices live endpoints: the SSE stream, a device's latest value, test-connection.

Registered before the devices router so ``/stream`` is not taken for a device id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from ddms.api.deps import AdminUser, Authenticated, BearerDep, SessionDep, SettingsDep
from ddms.errors import Unauthorized
from ddms.services import live
from ddms.services.principals import principal_from_access_token

router = APIRouter(prefix="/api/devices", tags=["devices"])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _feed(request: Request, interval: float) -> live.SnapshotFeed:
    """The app's one snapshot feed, shared by every stream subscriber."""
    feed: live.SnapshotFeed | None = getattr(request.app.state, "snapshot_feed", None)
    if feed is None:
        feed = request.app.state.snapshot_feed = live.SnapshotFeed(interval)
    return feed


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}})
async def stream(request: Request, settings: SettingsDep, credentials: BearerDep,
                 token: Annotated[str | None, Query()] = None) -> StreamingResponse:
    """Every SSE_INTERVAL one event: a JSON array with the latest value of every device."""
    if not settings.public_stream:
        given = credentials.credentials if credentials is not None else token
        if not given:
            raise Unauthorized("Not authenticated")
        await principal_from_access_token(settings=settings, token=given)  # no session held while streaming
    return StreamingResponse(_feed(request, settings.sse_interval).events(), media_type="text/event-stream",
                             headers=STREAM_HEADERS)


@router.get("/{device_id}/latest")
async def latest(device_id: uuid.UUID, session: SessionDep, _: Authenticated) -> dict[str, Any]:
    return await live.latest_for_device(session=session, device_id=device_id)


@router.post("/{device_id}/test-connection")
async def connection_test(device_id: uuid.UUID, session: SessionDep, _: AdminUser) -> dict[str, Any]:
    """One real Modbus read of the device's register, with its latency."""
    return await live.probe_connection(session=session, device_id=device_id)
