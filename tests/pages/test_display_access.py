"""The wall display with PUBLIC_STREAM=false: sign-in or a display link, refused once the link is revoked
or the account ends; and the owner's display links on /settings (made, shown once, revoked)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from nicegui.testing import User
from sqlalchemy import delete

import ddms.db
from ddms.config import Settings, load_settings
from ddms.models import DisplayToken, Role
from ddms.models import User as Account
from ddms.schemas.display_tokens import DisplayTokenCreate
from ddms.services import display_tokens, stream_access, users
from tests.pages import harness
from tests.pages.conftest import log_in
from tests.pages.helpers import make_device, make_group, publish, texts

Signer = Callable[[Account], Awaitable[None]]


@pytest.fixture
def ui_settings(ui_settings: Settings) -> Settings:
    """The page tests' settings with a private wall display (what the app is then built from)."""
    private = load_settings(**(ui_settings.model_dump() | {"public_stream": False}))
    harness.current_settings = private
    return private


async def make_link(
    name: str = "Lobby screen", group_id: uuid.UUID | None = None
) -> display_tokens.IssuedToken:
    async with ddms.db.session_scope() as session:
        return await display_tokens.create_token(
            session=session, data=DisplayTokenCreate(name=name, group_id=group_id)
        )


async def revoke(issued: display_tokens.IssuedToken) -> None:
    async with ddms.db.session_scope() as session:
        await display_tokens.revoke_token(session=session, token_id=issued.token.id)


async def test_a_visitor_without_a_link_is_sent_to_sign_in_and_back(user: User, reader: Account) -> None:
    boiler = await make_device("Boiler")
    await user.open("/display")
    await user.should_see(marker="login-card")
    await user.should_not_see(marker=f"tile-{boiler.id}")
    await log_in(user, "operator", page=None)
    await user.should_see(marker=f"tile-{boiler.id}", retries=100)


async def test_a_display_link_shows_live_tiles_until_it_is_revoked(user: User) -> None:
    boiler = await make_device("Boiler")
    issued = await make_link()
    await user.open(f"/display?token={issued.secret}")
    await user.should_see(marker=f"tile-{boiler.id}")
    publish(boiler, 71.5)
    await user.should_see("71.5", retries=100)
    await revoke(issued)  # announced on the bus: the open screen is refused at once
    await user.should_see(marker="display-refused", retries=100)
    await user.should_not_see(marker=f"tile-{boiler.id}")
    await user.open(f"/display?token={issued.secret}")
    await user.should_see("This display link is not valid (it may have been revoked)")
    await user.open("/display?token=ddms_display_guessed")
    await user.should_see(marker="display-refused")


async def test_a_link_for_a_group_opens_that_group_only(user: User) -> None:
    pump = await make_device("Pump")
    fan = await make_device("Fan")
    water = await make_group("Water", [pump])
    issued = await make_link("Pump room", water.id)
    await user.open(f"/display/{water.id}?token={issued.secret}")
    await user.should_see(marker=f"tile-{pump.id}")
    await user.should_not_see(marker=f"tile-{fan.id}")
    for path in ("/display", f"/display/{uuid.uuid4()}"):
        await user.open(f"{path}?token={issued.secret}")
        await user.should_see("This display link is for another display")
        await user.should_not_see(marker=f"tile-{fan.id}")


async def test_the_screen_is_refused_within_the_interval_without_the_bus(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link deleted behind the services (no announcement) is caught by the periodic re-check."""
    # By name: importing pages.display at collection time would register its pages before the app exists.
    monkeypatch.setattr("pages.display.RECHECK", stream_access.RecheckPolicy(interval=0.2))
    boiler = await make_device("Boiler")
    issued = await make_link()
    await user.open(f"/display?token={issued.secret}")
    await user.should_see(marker=f"tile-{boiler.id}")
    async with ddms.db.session_scope() as session:
        await session.exec(delete(DisplayToken))  # type: ignore[call-overload]
        await session.commit()
    await user.should_see(marker="display-refused", retries=100)


async def test_a_signed_in_screen_ends_with_its_account(user: User, reader: Account, sign_in: Signer) -> None:
    boiler = await make_device("Boiler")
    await sign_in(reader)
    await user.open("/display")
    await user.should_see(marker=f"tile-{boiler.id}")
    async with ddms.db.session_scope() as session:
        await users.delete_user(session=session, user_id=reader.id)
    await user.should_see(marker="login-card", retries=100)


async def test_the_owner_makes_a_link_sees_it_once_and_revokes_it(
    user: User, owner: Account, sign_in: Signer
) -> None:
    water = await make_group("Water", [await make_device("Pump")])
    await sign_in(owner)
    await user.open("/settings")
    await user.should_see(marker="no-display-links")
    user.find(marker="display-link-name").type("Lobby screen")
    user.find(marker="display-link-group").elements.pop().value = str(water.id)
    user.find(marker="create-display-link").click()
    await user.should_see(marker="display-link-issued", retries=100)
    url = user.find(marker="display-link-url").elements.pop().value
    assert f"/display/{water.id}?token={display_tokens.PREFIX}" in url
    secret = url.split("token=")[1]
    async with ddms.db.session_scope() as session:
        [listed] = await display_tokens.list_tokens(session=session)
    assert (listed.name, listed.group_name) == ("Lobby screen", "Water")
    await user.should_see(marker=f"display-link-{listed.id}")

    await user.open("/settings")  # shown once: gone after a reload, and never in the list
    await user.should_see(marker=f"display-link-{listed.id}")
    await user.should_not_see(marker="display-link-issued")
    assert not [text for text in texts(user) if secret in text]
    user.find(marker="revoke-display-link").click()
    await user.should_see(marker="delete-dialog", retries=100)
    user.find(marker="confirm-delete").click()
    await user.should_see(marker="no-display-links", retries=100)
    await user.open(f"/display/{water.id}?token={secret}")
    await user.should_see(marker="display-refused")


async def test_a_taken_link_name_is_shown_next_to_the_name(
    user: User, owner: Account, sign_in: Signer
) -> None:
    await make_link("Lobby screen")
    await sign_in(owner)
    await user.open("/settings")
    user.find(marker="display-link-name").type("Lobby screen")
    user.find(marker="create-display-link").click()
    await user.should_see("A display link named 'Lobby screen' already exists", retries=100)
    assert user.find(marker="display-link-name").elements.pop().error == (
        "A display link named 'Lobby screen' already exists"
    )


async def test_only_the_owner_sees_display_links(user: User, make_account, sign_in: Signer) -> None:
    engineer = await make_account("engineer", Role.ADMIN)
    await sign_in(engineer)
    await user.open("/settings")
    await user.should_see(marker="forbidden")
    await user.should_not_see(marker="display-links")
