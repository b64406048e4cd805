"""Real receivers on loopback for the channel tests: an HTTP server (uvicorn + Starlette) that records
webhook calls and answers what the test scripts, and SMTP servers (aiosmtpd) with and without
STARTTLS, plus servers that misbehave (accept and stay silent, accept and hang up).

The delivery service runs on a fake clock (``tests.clock.FakeClock``) with the wall time derived
from it, so a retry schedule of hours is walked through by advancing the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.requests import Request
from starlette.responses import Response

from ddms import db
from ddms.bus import AlarmNotice, get_bus
from ddms.schemas.alarms import AlarmOut
from ddms.schemas.channels import ChannelCreate, ChannelPublic
from ddms.services import channels
from ddms.services.delivery import DeliveryService, Senders
from tests.clock import FakeClock
from tests.conftest import backend_unavailable

WEBHOOK_SECRET = "whsec-channel-test-0123456789"
SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "smtp-password-3141592653"
EPOCH = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def eventually(condition: Callable[[], Any], within: float = 20.0, what: str = "condition") -> Any:
    """Wait (real time, generous) until ``condition()`` is truthy; returns its value."""
    async with asyncio.timeout(within):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover


# --- webhook receiver ----------------------------------------------------------------------------
@dataclass
class Call:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records each POST; answers the next scripted status (200 once the script is used up)."""

    port: int = 0
    calls: list[Call] = field(default_factory=list)
    script: deque[int] = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        self.calls.append(Call({k.lower(): v for k, v in request.headers.items()}, body))
        status = self.script.popleft() if self.script else 200
        await Response(b"ok" if status < 300 else b"nope", status_code=status)(scope, receive, send)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = Receiver()
    config = uvicorn.Config(
        recorder.app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ws="none",
        interface="asgi3",
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="webhook receiver started")
    recorder.port = server.servers[0].sockets[0].getsockname()[1]
    yield recorder
    server.should_exit = True
    await asyncio.wait_for(task, 10)


# --- SMTP servers --------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse`` makes it answer 550 to every recipient."""

    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.messages.append(envelope)
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = (auth_data.login.decode(), auth_data.password.decode())
            self.logins.append(login)
            return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD))
        return AuthResult(success=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    client_tls: ssl.SSLContext | None = None


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command."""
    if shutil.which("openssl") is None:
        backend_unavailable("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def smtp_controller(mailbox: Mailbox, **smtp_options: Any) -> Iterator[int]:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs the AUTH exchange at DEBUG
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        ready_timeout=30,
        **smtp_options,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_plain() -> Iterator[SmtpServer]:
    """Plain SMTP with AUTH allowed without TLS (a LAN relay)."""
    mailbox = Mailbox()
    with smtp_controller(mailbox, auth_require_tls=False) as port:
        yield SmtpServer(port, mailbox)


@pytest.fixture
def smtp_starttls(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    """SMTP that requires STARTTLS (self-signed certificate) before AUTH and mail."""
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    mailbox = Mailbox()
    with smtp_controller(mailbox, tls_context=server_tls, require_starttls=True) as port:
        yield SmtpServer(port, mailbox, ssl.create_default_context(cafile=str(cert)))


@contextlib.asynccontextmanager
async def misbehaving_server(kind: str) -> AsyncIterator[int]:
    """``silent``: accepts and never greets; ``drop``: accepts and hangs up; ``closed``: nobody listens."""
    if kind == "closed":
        yield free_port()
        return
    held: list[asyncio.StreamWriter] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if kind == "drop":
            writer.close()
        else:
            held.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# --- the service under test ----------------------------------------------------------------------
@dataclass
class Harness:
    """The delivery service on a fake clock; ``now()`` is the wall time on the same time line."""

    clock: FakeClock
    service: DeliveryService

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.clock.now - START)

    async def advance_to_next_attempt(self) -> float:
        """Move the clock to the earliest sleeping worker's deadline; returns the seconds moved."""
        deadline = await self.clock.next_wakeup(within=20)
        step = deadline - self.clock.now
        self.clock.advance(step)
        return step


START = 1000.0


@pytest.fixture
async def harness(database: db.Database) -> AsyncIterator[Harness]:
    clock = FakeClock(START)
    holder: list[Harness] = []
    senders = Senders(webhook_timeout=3.0, smtp_timeout=3.0)
    service = DeliveryService(clock=clock, now=lambda: holder[0].now(), senders=senders)
    holder.append(Harness(clock, service))
    await service.start()
    yield holder[0]
    await service.stop()


def alarm(severity: str = "critical", **changes: Any) -> AlarmOut:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "device_id": uuid.uuid4(),
        "device_name": "Boiler 3",
        "kind": "threshold",
        "severity": severity,
        "state": "active",
        "value": 93.5,
        "peak_value": 93.5,
        "threshold": 90.0,
        "raised_at": EPOCH,
        "cleared_at": None,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "comment": None,
    }
    return AlarmOut(**(fields | changes))


def publish(transition: str, subject: AlarmOut) -> None:
    """As the alarm engine does after committing a transition."""
    get_bus().alarm_notices([AlarmNotice(transition=transition, alarm=subject, at=EPOCH)])


async def make_channel(**fields: Any) -> ChannelPublic:
    async with db.session_scope() as session:
        return await channels.create_channel(session=session, data=ChannelCreate.model_validate(fields))


async def channel_state(channel_id: uuid.UUID) -> ChannelPublic:
    async with db.session_scope() as session:
        return await channels.get_channel(session=session, channel_id=channel_id)


def webhook_fields(receiver: Receiver, **more: Any) -> dict[str, Any]:
    return {"name": "ops hook", "type": "webhook", "url": receiver.url, "secret": WEBHOOK_SECRET} | more


def email_fields(port: int, tls: str = "none", **more: Any) -> dict[str, Any]:
    return {
        "name": f"mail {tls} {port}",
        "type": "email",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": tls,
        "smtp_username": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "email_from": "ddms@plant.example",
        "email_to": ["oncall@plant.example", "boss@plant.example"],
    } | more


# The REST app and a signed-in account per role, as in the API tests.
from tests.api.conftest import _warm_hashes, admin, app, client, owner, reader  # noqa: E402, F401
