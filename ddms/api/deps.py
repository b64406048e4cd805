"""Dependencies shared by the routers: settings, a session, the current user and role checks.

Every dependency here is ``async``: FastAPI runs plain ``def`` dependencies in a worker thread, a
thread hop per request for a one-line lookup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ddms import db
from ddms.config import Settings
from ddms.db import AsyncSession
from ddms.errors import Forbidden, Unauthorized
from ddms.models import EDITOR_ROLES, Role, User
from ddms.services import auth, readings
from ddms.services.principals import Principal, principal_from_access_token

bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session() -> AsyncIterator[AsyncSession]:
    async with db.session_scope() as session:
        yield session


def client_address(request: Request) -> str:
    """The caller's address (uvicorn applies X-Forwarded-For from trusted proxies), '' if unknown."""
    return request.client.host if request.client else ""


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_current_user(session: SessionDep, settings: SettingsDep, credentials: BearerDep) -> User:
    """The caller's whole account row, for routes about the account itself (``/api/auth/me``)."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("not_authenticated")
    token = credentials.credentials
    return await auth.user_from_access_token(session=session, settings=settings, token=token)


CurrentUser = Annotated[User, Depends(get_current_user)]


_role_checks: set[Callable[..., Any]] = set()


async def get_principal(settings: SettingsDep, credentials: BearerDep) -> Principal:
    """The caller's id, role and token check, from a small cache (no user row loaded per request,
    no session opened unless the cache misses)."""
    if credentials is None or not credentials.credentials:
        raise Unauthorized("not_authenticated")
    return await principal_from_access_token(settings=settings, token=credentials.credentials)


Authenticated = Annotated[Principal, Depends(get_principal)]


def is_authentication(call: Callable[..., Any]) -> bool:
    """Whether ``call`` checks the caller's access token (its routes can answer 401)."""
    return call in (get_current_user, get_principal)


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only ``roles``; others get 403 naming the roles required."""
    names = ", ".join(role.value for role in roles)

    async def check(principal: Authenticated) -> Principal:
        if principal.role not in roles:
            raise Forbidden("roles_required", params={"roles": names})
        return principal

    _role_checks.add(check)
    return check


def is_role_check(call: Callable[..., Any]) -> bool:
    """Whether ``call`` is a ``require_roles`` dependency (its routes can answer 403)."""
    return call in _role_checks


OwnerUser = Annotated[Principal, Depends(require_roles(Role.OWNER))]
AdminUser = Annotated[Principal, Depends(require_roles(*EDITOR_ROLES))]


# Parsed by the readings service (a bad value is a 400 with a readable message, not a 422), so
# the type stays a string; the format tells clients and schemathesis what to send.
TimeParam = Annotated[
    str | None,
    Query(
        description="ISO 8601 with offset (naive times are UTC), 1970-01-01 to 9999-12-30",
        json_schema_extra={"format": "date-time"},
    ),
]
AggregateParam = Annotated[
    str | None,
    Query(
        description="1min, 1hour or 1day (anything else: 400)",
        json_schema_extra={"enum": list(readings.AGGREGATES)},
    ),
]


async def time_range(
    start_time: TimeParam = None, end_time: TimeParam = None
) -> tuple[datetime | None, datetime | None]:
    """``start_time``/``end_time`` query parameters, parsed by the readings service (bad input: 400)."""
    return readings.parse_range(start_time, end_time)


TimeRangeDep = Annotated[tuple[datetime | None, datetime | None], Depends(time_range)]
