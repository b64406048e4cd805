"""/api/display-tokens: the owner's links for wall screens (PUBLIC_STREAM=false), create, list, revoke.

The secret is in the creation's answer only, as ``token`` and as the full ``url`` to open on the screen.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from ddms.api.deps import OwnerUser, SessionDep
from ddms.api.openapi import errors
from ddms.schemas.display_tokens import DisplayTokenCreate, DisplayTokenIssued, DisplayTokenPublic
from ddms.services import display_tokens

router = APIRouter(prefix="/api/display-tokens", tags=["display tokens"])


@router.post(
    "", response_model=DisplayTokenIssued, status_code=status.HTTP_201_CREATED, responses=errors(409)
)
async def create_token(
    body: DisplayTokenCreate, request: Request, session: SessionDep, _: OwnerUser
) -> DisplayTokenIssued:
    issued = await display_tokens.create_token(session=session, data=body)
    url = display_tokens.link(str(request.base_url), issued.token, issued.secret)
    return DisplayTokenIssued(**issued.token.model_dump(), token=issued.secret, url=url)


@router.get("", response_model=list[DisplayTokenPublic])
async def list_tokens(session: SessionDep, _: OwnerUser) -> list[DisplayTokenPublic]:
    return await display_tokens.list_tokens(session=session)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: uuid.UUID, session: SessionDep, _: OwnerUser) -> Response:
    await display_tokens.revoke_token(session=session, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
