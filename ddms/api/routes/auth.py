"""/api/auth: login, refresh (rotating), logout, password change, own profile."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ddms.api.deps import BearerDep, CurrentUser, SessionDep, SettingsDep, client_address
from ddms.api.openapi import errors
from ddms.config import Settings
from ddms.errors import Unauthorized
from ddms.schemas.common import Message
from ddms.schemas.users import (
    LoginRequest,
    LoginResponse,
    LoginUser,
    PasswordChange,
    ProfileUpdate,
    RefreshRequest,
    TokenPair,
    UserPublic,
)
from ddms.services import auth, users

router = APIRouter(prefix="/api/auth", tags=["auth"])

REFRESH_COOKIE = "refresh_token"
COOKIE_PATH = "/api/auth"


def _set_refresh_cookie(response: Response, settings: Settings, issued: auth.IssuedTokens) -> None:
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=issued.refresh_expires_in,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path=COOKIE_PATH,
    )


@router.post("/login", response_model=LoginResponse, responses=errors(401, 429))
async def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> LoginResponse:
    issued = await auth.login(
        session=session,
        settings=settings,
        username=body.username,
        password=body.password,
        client=client_address(request),
    )
    _set_refresh_cookie(response, settings, issued)
    user = issued.user
    return LoginResponse(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        user=LoginUser(
            user_id=user.id,
            id=user.id,
            username=user.username,
            role=user.role,
            language_preference=user.language_preference,
        ),
    )


async def _body_refresh_token(request: Request) -> str | None:
    """``{refresh_token}`` from a JSON body, if any; a bad body is a 400/422 like any other body."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return RefreshRequest.model_validate_json(raw).refresh_token
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


async def _presented_refresh_token(request: Request, credentials: BearerDep) -> str | None:
    """The refresh token from a JSON body ``{refresh_token}``, the cookie or the Bearer header.

    A token sent explicitly in the body wins over the cookie a client may still carry.
    """
    if token := await _body_refresh_token(request):
        return token
    if token := request.cookies.get(REFRESH_COOKIE):
        return token
    return credentials.credentials if credentials else None


@router.post("/refresh", response_model=TokenPair, responses=errors(400, 401, 422))
async def refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    credentials: BearerDep,
) -> TokenPair:
    token = await _presented_refresh_token(request, credentials)
    if not token:
        raise Unauthorized("refresh_missing")
    issued = await auth.refresh(session=session, settings=settings, refresh_token=token)
    _set_refresh_cookie(response, settings, issued)
    return TokenPair(access_token=issued.access_token, refresh_token=issued.refresh_token)


@router.post("/logout", response_model=Message, responses=errors(400, 401, 422))
async def logout(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    credentials: BearerDep,
) -> Message:
    """Ends this login whatever the client still has: the Bearer access token (even expired), the
    refresh cookie or a refresh token in the body; the cookie is cleared."""
    presented = [
        await _body_refresh_token(request),
        request.cookies.get(REFRESH_COOKIE),
        credentials.credentials if credentials else None,
    ]
    await auth.logout(session=session, settings=settings, presented=[token for token in presented if token])
    response.delete_cookie(
        REFRESH_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=settings.cookie_secure
    )
    return Message(message="Logged out")


@router.post("/change-password", response_model=TokenPair)
async def change_password(
    body: PasswordChange,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> TokenPair:
    """New password; every other token of the user is revoked and this caller gets a fresh pair."""
    issued = await auth.change_password(
        session=session,
        settings=settings,
        user=user,
        old_password=body.old_password,
        new_password=body.new_password,
    )
    _set_refresh_cookie(response, settings, issued)
    return TokenPair(access_token=issued.access_token, refresh_token=issued.refresh_token)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.put("/me", response_model=UserPublic, responses=errors(409))
async def update_me(body: ProfileUpdate, session: SessionDep, user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(await users.update_profile(session=session, user=user, data=body))
