"""The notification channels on /settings: the owner adds a webhook, sends a test that a real local
receiver gets signed, edits it without ever seeing the secret, disables and deletes it."""

from __future__ import annotations

import hashlib
import hmac
import json

from nicegui.testing import User

import ddms.db
from ddms.models import NotificationChannel, Role
from ddms.models import User as Account
from ddms.schemas.channels import ChannelCreate
from ddms.services import channels
from tests.channels.conftest import WEBHOOK_SECRET, Receiver, free_port
from tests.channels.conftest import receiver as receiver  # the fixture
from tests.pages.helpers import eventually

PROTOCOLS = {"SMTP", "TLS", "STARTTLS"}  # names, as "Modbus" or "IP" are


async def stored(channel_id) -> NotificationChannel:  # type: ignore[no-untyped-def]
    async with ddms.db.session_scope() as session:
        return await channels.get_row(session=session, channel_id=channel_id)


async def only_channel() -> NotificationChannel:
    async with ddms.db.session_scope() as session:
        (public,) = await channels.list_channels(session=session)
    return await stored(public.id)


async def test_owner_adds_a_webhook_and_its_test_event_arrives_signed(
    user: User, owner: Account, sign_in, receiver: Receiver
) -> None:
    await sign_in(owner)
    await user.open("/settings")
    await user.should_see(marker="no-channels")
    user.find(marker="add-webhook").click()
    user.find(marker="field-name").type("Ops hook")
    user.find(marker="field-url").type("ftp://example.com/hook")
    user.find(marker="save-channel").click()
    url_field = user.find(marker="field-url").elements.pop()
    await eventually(lambda: url_field.error)
    assert url_field.error == "must be an http:// or https:// URL"
    url_field.value = receiver.url
    user.find(marker="save-channel").click()
    secret_field = user.find(marker="field-secret").elements.pop()
    await eventually(lambda: secret_field.error)
    assert secret_field.error == "secret: required for webhook channels"
    assert url_field.error is None
    user.find(marker="field-secret").type(WEBHOOK_SECRET)
    user.find(marker="save-channel").click()
    await user.should_see("Channel 'Ops hook' saved", retries=100)
    channel = await only_channel()
    assert (channel.url, channel.secret, channel.enabled) == (receiver.url, WEBHOOK_SECRET, True)
    await user.should_see(marker=f"channel-{channel.id}")
    await user.should_not_see(WEBHOOK_SECRET)

    with user.scope(marker=f"channel-{channel.id}"):
        user.find(marker="channel-test").click()
        await user.should_see("Test event delivered", retries=100)
    (call,) = receiver.calls
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
    assert call.headers["x-ddms-signature"] == expected
    assert json.loads(call.body)["event"] == "test"


async def test_editing_never_shows_the_secret_and_keeps_it(user: User, owner: Account, sign_in) -> None:
    async with ddms.db.session_scope() as session:
        created = await channels.create_channel(
            session=session,
            data=ChannelCreate(
                name="Ops", type="webhook", url="https://example.com/h", secret=WEBHOOK_SECRET
            ),
        )
    await sign_in(owner)
    await user.open("/settings")
    with user.scope(marker=f"channel-{created.id}"):
        user.find(marker="channel-edit").click()
    secret = user.find(marker="field-secret").elements.pop()
    assert secret.value == ""
    assert secret.props["placeholder"] == "unchanged"
    name = user.find(marker="field-name").elements.pop()
    name.value = "Ops renamed"
    user.find(marker="save-channel").click()
    await user.should_see("Channel 'Ops renamed' saved", retries=100)
    row = await stored(created.id)
    assert (row.name, row.secret) == ("Ops renamed", WEBHOOK_SECRET)


async def test_a_failing_test_is_shown_then_disable_and_delete(user: User, owner: Account, sign_in) -> None:
    async with ddms.db.session_scope() as session:
        created = await channels.create_channel(
            session=session,
            data=ChannelCreate(
                name="Nobody", type="webhook", url=f"http://127.0.0.1:{free_port()}/", secret=WEBHOOK_SECRET
            ),
        )
    await sign_in(owner)
    await user.open("/settings")
    with user.scope(marker=f"channel-{created.id}"):
        user.find(marker="channel-test").click()
        await user.should_see("Test failed", retries=100)
        user.find(marker="channel-enabled").click()
    await user.should_see(marker="channel-disabled", retries=100)  # the list shows it (refreshed)
    assert await _enabled_is(created.id, False)
    with user.scope(marker=f"channel-{created.id}"):
        user.find(marker="channel-delete").click()
    user.find(marker="confirm-delete").click()
    await user.should_see("Channel 'Nobody' deleted", retries=100)
    await user.should_see(marker="no-channels")


async def _enabled_is(channel_id, enabled: bool) -> bool:  # type: ignore[no-untyped-def]
    return (await stored(channel_id)).enabled is enabled


async def test_owner_adds_an_email_channel(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/settings")
    user.find(marker="add-email").click()
    user.find(marker="field-name").type("On call")
    user.find(marker="field-smtp_host").type("mail.plant.example")
    user.find(marker="field-smtp_username").type("ddms")
    user.find(marker="field-smtp_password").type("mail-password-1")
    user.find(marker="field-email_from").type("ddms@plant.example")
    user.find(marker="field-email_to").type("a@plant.example, b@plant.example")
    user.find(marker="save-channel").click()
    await user.should_see("Channel 'On call' saved", retries=100)
    channel = await only_channel()
    assert channel.email_to == ["a@plant.example", "b@plant.example"]
    assert (channel.smtp_tls, channel.smtp_port, channel.smtp_password) == (
        "starttls",
        587,
        "mail-password-1",
    )
    await user.should_not_see("mail-password-1")


async def test_the_section_in_chinese_shows_no_english(user: User, make_account, sign_in) -> None:
    from tests.pages.helpers import texts
    from tests.pages.test_i18n import english_words

    boss = await make_account("boss", Role.OWNER, language="zh")
    async with ddms.db.session_scope() as session:
        await channels.create_channel(
            session=session,
            data=ChannelCreate(
                name="Alpha",
                type="webhook",
                url="https://hooks.example/x",
                secret=WEBHOOK_SECRET,
                enabled=False,
            ),
        )
        await channels.create_channel(
            session=session,
            data=ChannelCreate(
                name="Beta",
                type="email",
                smtp_host="mx.example",
                email_from="d@mx.example",
                email_to=["o@mx.example"],
            ),
        )
    await sign_in(boss)
    await user.open("/settings")
    await user.should_see("通知渠道")
    user.find(marker="add-email").click()
    await user.should_see(marker="channel-dialog")
    data = {"Alpha", "Beta", "https://hooks.example/x", "o@mx.example", "boss", "Plant DDMS", *_backup_dirs()}
    words = [word for word in english_words(texts(user), data) if word not in PROTOCOLS]
    assert words == [], words


def _backup_dirs() -> list[str]:
    from ddms.services import backup
    from pages import session

    return [str(backup.backup_dir(session.settings()))]
