"""/api/users: the owner manages accounts; admins may read the list."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ddms.api.deps import AdminUser, OwnerUser, SessionDep
from ddms.api.openapi import errors
from ddms.schemas.users import UserCreate, UserPublic, UserUpdate
from ddms.services import users

router = APIRouter(prefix="/api/users", tags=["users"])


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_user(body: UserCreate, session: SessionDep, _: OwnerUser) -> UserPublic:
    return UserPublic.model_validate(await users.create_user(session=session, data=body))


@router.get("", response_model=list[UserPublic])
async def list_users(session: SessionDep, _: AdminUser) -> list[UserPublic]:
    return [UserPublic.model_validate(user) for user in await users.list_users(session=session)]


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: uuid.UUID, session: SessionDep, _: AdminUser) -> UserPublic:
    return UserPublic.model_validate(await users.get_user(session=session, user_id=user_id))


@router.put("/{user_id}", response_model=UserPublic)
async def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep, _: OwnerUser) -> UserPublic:
    return UserPublic.model_validate(await users.update_user(session=session, user_id=user_id, data=body))


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: uuid.UUID, session: SessionDep, _: OwnerUser) -> Response:
    await users.delete_user(session=session, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
