"""/api/devices: CRUD for devices (admin and owner write, everyone reads)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ddms.api.deps import AdminUser, CurrentUser, SessionDep
from ddms.api.openapi import errors
from ddms.schemas.devices import DeviceCreate, DevicePublic, DeviceUpdate
from ddms.services import devices

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.post("", response_model=DevicePublic, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_device(body: DeviceCreate, session: SessionDep, _: AdminUser) -> DevicePublic:
    return DevicePublic.model_validate(await devices.create_device(session=session, data=body))


@router.get("", response_model=list[DevicePublic], responses=errors(400))
async def list_devices(session: SessionDep, _: CurrentUser, status: str | None = None) -> list[DevicePublic]:
    rows = await devices.list_devices(session=session, status=devices.parse_status(status))
    return [DevicePublic.model_validate(device) for device in rows]


@router.get("/{device_id}", response_model=DevicePublic)
async def get_device(device_id: uuid.UUID, session: SessionDep, _: CurrentUser) -> DevicePublic:
    return DevicePublic.model_validate(await devices.get_device(session=session, device_id=device_id))


@router.put("/{device_id}", response_model=DevicePublic, responses=errors(409))
async def update_device(
    device_id: uuid.UUID, body: DeviceUpdate, session: SessionDep, _: AdminUser,
) -> DevicePublic:
    device = await devices.update_device(session=session, device_id=device_id, data=body)
    return DevicePublic.model_validate(device)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_device(
    device_id: uuid.UUID, session: SessionDep, _: AdminUser, keep_data: bool = False,
) -> Response:
    await devices.delete_device(session=session, device_id=device_id, keep_data=keep_data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
