"""/api/devices: CRUD for devices (admin and owner write, everyone reads).

The list and single devices are the API's hottest answers (dashboards and scripts poll them): they
are read (the list as plain rows), validated and encoded once, and the bytes are reused until this
process writes the devices table again (``ddms.cache``); a change by another process shows within
twice ``LIST_CACHE_SECONDS``. A hit opens no session.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from pydantic import TypeAdapter

from ddms import db, runtime
from ddms.api.deps import AdminUser, Authenticated, SessionDep
from ddms.api.openapi import errors
from ddms.api.responses import JSONBytes, model_response
from ddms.cache import ReadCache
from ddms.schemas.devices import DeviceCreate, DevicePublic, DeviceUpdate
from ddms.services import devices

router = APIRouter(prefix="/api/devices", tags=["devices"])

LIST_CACHE_SECONDS = 1.0
PUBLIC_FIELDS = tuple(DevicePublic.model_fields)
_device_list = TypeAdapter(list[DevicePublic])


def cache(name: str) -> ReadCache[bytes]:
    """This app's encoded device answers: ``"listings"`` by status filter, ``"devices"`` by id."""
    return runtime.current().cache(
        ("devices", name), lambda: ReadCache(tables=("devices",), ttl=LIST_CACHE_SECONDS)
    )


@router.post("", response_model=DevicePublic, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_device(body: DeviceCreate, session: SessionDep, _: AdminUser) -> Response:
    device = await devices.create_device(session=session, data=body)
    return model_response(DevicePublic.model_validate(device), status.HTTP_201_CREATED)


@router.get("", response_model=list[DevicePublic], responses=errors(400))
async def list_devices(_: Authenticated, status: str | None = None) -> Response:
    wanted = devices.parse_status(status)

    async def encode() -> bytes:
        async with db.session_scope() as session:  # only when the cached bytes are stale
            rows = await devices.list_rows(session=session, columns=PUBLIC_FIELDS, status=wanted)
        return _device_list.dump_json(_device_list.validate_python(rows))

    return JSONBytes(await cache("listings").get(wanted, db.current().engine, encode))


@router.get("/{device_id}", response_model=DevicePublic)
async def get_device(device_id: uuid.UUID, _: Authenticated) -> Response:
    async def encode() -> bytes:
        async with db.session_scope() as session:  # NotFound propagates and is not cached
            device = await devices.get_device(session=session, device_id=device_id)
            return DevicePublic.model_validate(device).model_dump_json().encode()

    return JSONBytes(await cache("devices").get(device_id, db.current().engine, encode))


@router.put("/{device_id}", response_model=DevicePublic, responses=errors(409))
async def update_device(
    device_id: uuid.UUID,
    body: DeviceUpdate,
    session: SessionDep,
    _: AdminUser,
) -> Response:
    device = await devices.update_device(session=session, device_id=device_id, data=body)
    return model_response(DevicePublic.model_validate(device))


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(
    device_id: uuid.UUID,
    session: SessionDep,
    _: AdminUser,
    keep_data: bool = False,
) -> Response:
    await devices.delete_device(session=session, device_id=device_id, keep_data=keep_data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
