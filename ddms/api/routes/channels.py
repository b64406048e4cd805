"""/api/channels: the owner's notification channels (webhook, e-mail) and their test send.

Secrets are accepted in bodies and never answered: ``ChannelPublic`` has no field for them.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ddms.api.deps import OwnerUser, SessionDep
from ddms.api.openapi import errors
from ddms.schemas.channels import ChannelCreate, ChannelPublic, ChannelTestResult, ChannelUpdate
from ddms.services import channels, delivery

router = APIRouter(prefix="/api/channels", tags=["notification channels"])


@router.post("", response_model=ChannelPublic, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_channel(body: ChannelCreate, session: SessionDep, _: OwnerUser) -> ChannelPublic:
    return await channels.create_channel(session=session, data=body)


@router.get("", response_model=list[ChannelPublic])
async def list_channels(session: SessionDep, _: OwnerUser) -> list[ChannelPublic]:
    return await channels.list_channels(session=session)


@router.get("/{channel_id}", response_model=ChannelPublic)
async def get_channel(channel_id: uuid.UUID, session: SessionDep, _: OwnerUser) -> ChannelPublic:
    return await channels.get_channel(session=session, channel_id=channel_id)


@router.put("/{channel_id}", response_model=ChannelPublic, responses=errors(409))
async def update_channel(
    channel_id: uuid.UUID, body: ChannelUpdate, session: SessionDep, _: OwnerUser
) -> ChannelPublic:
    return await channels.update_channel(session=session, channel_id=channel_id, data=body)


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: uuid.UUID, session: SessionDep, _: OwnerUser) -> Response:
    await channels.delete_channel(session=session, channel_id=channel_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{channel_id}/test", response_model=ChannelTestResult)
async def send_test(channel_id: uuid.UUID, _: OwnerUser) -> ChannelTestResult:
    """Send the ``test`` event now (short timeouts, no retry); the answer says whether it got through."""
    return await delivery.send_test(channel_id=channel_id)
