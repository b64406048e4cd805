"""/api/devices live endpoints: the SSE stream, a device's latest value, test connection.

Registered before the devices router so ``/stream`` is not taken for a device id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from ddms.api.deps import AdminUser, Authenticated, BearerDep, SessionDep, SettingsDep
from ddms.api.openapi import errors, sse_responses
from ddms.errors import Unauthorized
from ddms.schemas.devices import ConnectionTestResult, DeviceTest
from ddms.services import live, stream_access

router = APIRouter(prefix="/api/devices", tags=["devices"])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _feed(request: Request, interval: float) -> live.SnapshotFeed:
    """The app's one snapshot feed, shared by every stream subscriber."""
    feed: live.SnapshotFeed | None = getattr(request.app.state, "snapshot_feed", None)
    if feed is None:
        feed = request.app.state.snapshot_feed = live.SnapshotFeed(interval)
    return feed


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
    """Every SSE_INTERVAL one event: a JSON array with the latest value of every device.

    With PUBLIC_STREAM=false the caller needs an access token or a display link's token (header or
    ``?token=``); the stream then ends when that stops being valid (re-checked at least every minute,
    at the token's expiry and at once on revocation). A link bound to a group sees only its devices.
    """
    feed = _feed(request, settings.sse_interval)
    stopping = getattr(request.app.state, "stopping", None)  # set on SIGTERM (ddms/http_server.py)
    if settings.public_stream:
        chunks = stream_access.until_stopped(feed.events(), stopping)
        return StreamingResponse(chunks, media_type="text/event-stream", headers=STREAM_HEADERS)
    given = credentials.credentials if credentials is not None else token
    if not given:
        raise Unauthorized("not_authenticated")
    grant, devices = await stream_access.token_grant(settings=settings, token=given)  # no session held
    policy: stream_access.RecheckPolicy = request.app.state.stream_policy
    watch = stream_access.Watch(grant, devices, policy)
    return StreamingResponse(
        stream_access.until_stopped(stream_access.guarded(feed.events(watch.allowed), watch), stopping),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


@router.get("/{device_id}/latest")
async def latest(device_id: uuid.UUID, session: SessionDep, _: Authenticated) -> dict[str, Any]:
    return await live.latest_for_device(session=session, device_id=device_id)


@router.post(
    "/test", response_model=ConnectionTestResult, response_model_exclude_unset=True, responses=errors(400)
)
async def settings_test(body: DeviceTest, _: AdminUser) -> dict[str, Any]:
    """One real Modbus read with a device body not saved yet (test before create or update).

    The answer carries the registers as read and their value in every data type of the register
    count and every byte order, so a wrong byte order or type can be told and corrected before saving.
    """
    return await live.probe_settings(data=body)


@router.post(
    "/{device_id}/test-connection", response_model=ConnectionTestResult, response_model_exclude_unset=True
)
async def connection_test(device_id: uuid.UUID, session: SessionDep, _: AdminUser) -> dict[str, Any]:
    """One real Modbus read of the device's register, with its latency, the registers and their decodings."""
    return await live.probe_connection(session=session, device_id=device_id)
