"""API fixtures: the REST app (``create_api``) on each backend, an HTTP client, a user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ddms import db
from ddms.config import Settings
from ddms.main import create_api
from ddms.models import Role, User
from tests.api.helpers import (
    OWNER_PASSWORD,
    USER_PASSWORD,
    add_user,
    bearer,
    owner_user,
    password_hash,
    tokens_for,
)


@dataclass
class Account:
    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


@pytest.fixture
async def app(database: db.Database, settings: Settings) -> AsyncIterator[FastAPI]:
    """The REST app with its lifespan running; the owner is pre-inserted so no bcrypt runs at start."""
    await add_user("admin", Role.OWNER, OWNER_PASSWORD)
    application = create_api(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def _account(settings: Settings, username: str, role: str) -> Account:
    user = await owner_user() if role == Role.OWNER else await add_user(username, role)
    issued = await tokens_for(settings, user)
    return Account(user, issued.access_token, issued.refresh_token)


@pytest.fixture
async def owner(app: FastAPI, settings: Settings) -> Account:
    return await _account(settings, "admin", Role.OWNER)


@pytest.fixture
async def admin(app: FastAPI, settings: Settings) -> Account:
    return await _account(settings, "admin_user", Role.ADMIN)


@pytest.fixture
async def reader(app: FastAPI, settings: Settings) -> Account:
    return await _account(settings, "reader", Role.READ_ONLY)


@pytest.fixture
def owner_headers(owner: Account) -> dict[str, str]:
    return owner.headers


@pytest.fixture
def admin_headers(admin: Account) -> dict[str, str]:
    return admin.headers


@pytest.fixture
def read_only_headers(reader: Account) -> dict[str, str]:
    return reader.headers


@pytest.fixture(scope="session", autouse=True)
def _warm_hashes() -> None:
    """Compute the shared bcrypt hashes once, before any test's clock starts."""
    password_hash(OWNER_PASSWORD)
    password_hash(USER_PASSWORD)
