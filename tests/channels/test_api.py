"""/api/channels: CRUD with validation, owner only, the test send, and secrets that never come back
(not in an answer, not in a log line)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
import pytest

from tests.api.conftest import Account
from tests.channels.conftest import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    Receiver,
    SmtpServer,
    email_fields,
    free_port,
    webhook_fields,
)

WEBHOOK_KEYS = {"url"}
EMAIL_KEYS = {"smtp_host", "smtp_port", "smtp_tls", "smtp_username", "email_from", "email_to"}


async def create(client: httpx.AsyncClient, owner: Account, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/api/channels", headers=owner.headers, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_crud_keeps_secrets_write_only(
    client: httpx.AsyncClient, owner: Account, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        hook = await create(client, owner, webhook_fields(receiver, min_severity="error"))
        mail = await create(client, owner, email_fields(2525, "starttls"))
        assert hook["type"] == "webhook"
        assert hook["min_severity"] == "error"
        assert hook["enabled"]
        assert all(hook[key] is None for key in EMAIL_KEYS)
        assert hook["secret_set"]
        assert mail["url"] is None
        assert mail["smtp_password_set"]
        assert mail["email_to"][0] == "oncall@plant.example"
        assert hook["deliveries_pending"] == hook["deliveries_failed"] == 0
        for channel in (hook, mail):
            assert "secret" not in channel
            assert "smtp_password" not in channel

        answers.append(await client.get("/api/channels", headers=owner.headers))
        assert [c["name"] for c in answers[-1].json()] == sorted([hook["name"], mail["name"]])
        answers.append(await client.get(f"/api/channels/{hook['id']}", headers=owner.headers))
        assert answers[-1].json() == hook
        # A PUT without the secret keeps it: the test event is still signed with it.
        answers.append(
            await client.put(
                f"/api/channels/{hook['id']}",
                headers=owner.headers,
                json={"name": "renamed", "min_severity": "critical", "secret": None},
            )
        )
        assert answers[-1].status_code == 200, answers[-1].text
        assert answers[-1].json()["name"] == "renamed"
        assert answers[-1].json()["secret_set"]
        answers.append(await client.post(f"/api/channels/{hook['id']}/test", headers=owner.headers))
        assert answers[-1].json() == {"success": True, "error": None}
        call = receiver.calls[-1]
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call.body, hashlib.sha256).hexdigest()
        assert call.headers["x-ddms-signature"] == expected
        event = json.loads(call.body)
        assert event["event"] == "test"
        assert {"id", "device_name", "severity"} <= set(event["alarm"])
        # Clearing the username drops the password with it.
        answers.append(
            await client.put(f"/api/channels/{mail['id']}", headers=owner.headers, json={"smtp_username": ""})
        )
        assert answers[-1].json()["smtp_password_set"] is False

        deleted = await client.delete(f"/api/channels/{hook['id']}", headers=owner.headers)
        assert deleted.status_code == 204
        assert (await client.get(f"/api/channels/{hook['id']}", headers=owner.headers)).status_code == 404
    logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "notification channel created" in logged  # the check below is not vacuous
    for secret in (WEBHOOK_SECRET, SMTP_PASSWORD):
        assert secret not in logged
        for answer in answers:
            assert secret not in answer.text


async def test_test_send_reports_the_failure(client: httpx.AsyncClient, owner: Account) -> None:
    hook = await create(
        client, owner, {"name": "nobody", "type": "webhook", "url": f"http://127.0.0.1:{free_port()}/x",
                        "secret": WEBHOOK_SECRET}
    )  # fmt: skip
    answer = await client.post(f"/api/channels/{hook['id']}/test", headers=owner.headers)
    assert answer.status_code == 200
    result = answer.json()
    assert result["success"] is False
    assert result["error"]
    missing = await client.post(
        f"/api/channels/{'0' * 8}-0000-0000-0000-{'0' * 12}/test", headers=owner.headers
    )
    assert missing.status_code == 404


async def test_test_send_by_email(client: httpx.AsyncClient, owner: Account, smtp_plain: SmtpServer) -> None:
    mail = await create(client, owner, email_fields(smtp_plain.port, "none"))
    answer = await client.post(f"/api/channels/{mail['id']}/test", headers=owner.headers)
    assert answer.json() == {"success": True, "error": None}
    assert b"This is a test message from DDMS" in smtp_plain.mailbox.messages[0].content


BAD_CREATES = [
    ("ftp url", {"url": "ftp://example.com/hook"}),
    ("javascript url", {"url": "javascript:alert(1)"}),
    ("no host", {"url": "http:///path"}),
    ("credentials in url", {"url": "https://user:pw@example.com/hook"}),
    ("space in url", {"url": "https://example.com/a b"}),
    ("short secret", {"secret": "short"}),
    ("no secret", {"secret": None}),
    ("no url", {"url": None}),
    ("email field on a webhook", {"smtp_host": "mail.example.com"}),
    ("unknown severity", {"min_severity": "info"}),
    ("unknown type", {"type": "sms"}),
    ("unknown field", {"password": "x"}),
    ("empty name", {"name": ""}),
]
BAD_EMAIL = [
    ("bad recipient", {"email_to": ["not an address"]}),
    ("header in recipient", {"email_to": ["a@example.com\r\nBcc: b@example.com"]}),
    ("no recipients", {"email_to": []}),
    ("bad sender", {"email_from": "ddms"}),
    ("bad port", {"smtp_port": 70000}),
    ("bad tls", {"smtp_tls": "ssl3"}),
    ("bad host", {"smtp_host": "mail server"}),
    ("webhook field on email", {"url": "https://example.com"}),
]


@pytest.mark.parametrize(("case", "change"), BAD_CREATES, ids=[case for case, _ in BAD_CREATES])
async def test_bad_webhook_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, owner: Account, case: str, change: dict[str, Any]
) -> None:
    body = {"name": "hook", "type": "webhook", "url": "https://example.com/hook", "secret": WEBHOOK_SECRET}
    body = {key: value for key, value in (body | change).items() if value is not None}
    answer = await client.post("/api/channels", headers=owner.headers, json=body)
    assert answer.status_code == 422, (case, answer.text)
    assert isinstance(answer.json()["detail"], str)
    assert (await client.get("/api/channels", headers=owner.headers)).json() == []


@pytest.mark.parametrize(("case", "change"), BAD_EMAIL, ids=[case for case, _ in BAD_EMAIL])
async def test_bad_email_input_is_422(
    client: httpx.AsyncClient, owner: Account, case: str, change: dict[str, Any]
) -> None:
    answer = await client.post("/api/channels", headers=owner.headers, json=email_fields(25) | change)
    assert answer.status_code == 422, (case, answer.text)
    assert (await client.get("/api/channels", headers=owner.headers)).json() == []


async def test_bad_updates_are_refused_and_change_nothing(
    client: httpx.AsyncClient, owner: Account, receiver: Receiver
) -> None:
    hook = await create(client, owner, webhook_fields(receiver))
    other = await create(client, owner, webhook_fields(receiver, name="second"))
    path = f"/api/channels/{hook['id']}"
    for body, status in [
        ({"url": "file:///etc/passwd"}, 422),
        ({"type": "email"}, 400),
        ({"smtp_host": "mail.example.com"}, 400),
        ({"url": None}, 400),
        ({"name": "second"}, 409),
        ({"min_severity": "loud"}, 422),
    ]:
        answer = await client.put(path, headers=owner.headers, json=body)
        assert answer.status_code == status, (body, answer.text)
    assert (await client.get(path, headers=owner.headers)).json() == hook
    assert (
        await client.put(f"/api/channels/{other['id']}x", headers=owner.headers, json={})
    ).status_code == 422
    unknown = "/api/channels/00000000-0000-0000-0000-000000000000"
    assert (await client.put(unknown, headers=owner.headers, json={})).status_code == 404
    assert (await client.delete(unknown, headers=owner.headers)).status_code == 404
    duplicate = await client.post("/api/channels", headers=owner.headers, json=webhook_fields(receiver))
    assert duplicate.status_code == 409


async def test_only_the_owner_sees_or_changes_channels(
    client: httpx.AsyncClient, owner: Account, admin: Account, reader: Account, receiver: Receiver
) -> None:
    hook = await create(client, owner, webhook_fields(receiver))
    path = f"/api/channels/{hook['id']}"
    requests = [
        ("GET", "/api/channels", None),
        ("POST", "/api/channels", webhook_fields(receiver, name="sneaky")),
        ("GET", path, None),
        ("PUT", path, {"url": "https://attacker.example/hook"}),
        ("DELETE", path, None),
        ("POST", f"{path}/test", None),
    ]
    for account in (admin, reader):
        for method, url, body in requests:
            answer = await client.request(method, url, headers=account.headers, json=body)
            assert answer.status_code == 403, (method, url, answer.text)
            assert answer.json() == {"detail": "Access forbidden. Required roles: owner"}
    assert receiver.calls == []
    assert (await client.get("/api/channels", headers=owner.headers)).json() == [hook]
