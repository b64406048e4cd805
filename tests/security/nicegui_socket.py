"""A NiceGUI page driven without a browser: the HTML over HTTP, then the page's socket with python-socketio.

Just enough of what NiceGUI's JavaScript does to act as an attacker would: read the client id and the
elements (with their listener ids) from the page, connect the socket with the implicit handshake, send
raw ``event`` messages and record what the server pushes back.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import socketio

ELEMENTS = re.compile(r"parseElements\(String\.raw`(.*?)`\)", re.S)
CLIENT_ID = re.compile(r"'client_id': '([0-9a-f-]{36})'")
SOCKET_PATH = "/_nicegui_ws/socket.io"


@dataclass
class PageView:
    """One served page: its NiceGUI client id and element tree, and the browser session's cookie."""

    client_id: str
    elements: dict[str, dict[str, Any]]
    cookie: str

    def listeners(self, tag: str, event: str) -> list[tuple[int, str]]:
        """(element id, listener id) of every ``tag`` element listening for ``event``, in page order."""
        found = []
        for element_id, element in sorted(self.elements.items(), key=lambda item: int(item[0])):
            for listener in element.get("events", []):
                if element.get("tag") == tag and listener["type"] == event:
                    found.append((int(element_id), str(listener["listener_id"])))
        return found

    def event(self, element_id: int, listener_id: str, args: list[Any] | None = None) -> dict[str, Any]:
        """The message NiceGUI's JavaScript sends when that listener fires."""
        return {
            "id": element_id,
            "client_id": self.client_id,
            "listener_id": listener_id,
            "args": [json.dumps(arg) for arg in args or []],
        }


async def open_page(http: httpx.AsyncClient, path: str) -> PageView:
    """GET a page as a browser does (``http`` keeps the cookies, or not, as the caller chose)."""
    reply = await http.get(path, headers={"Accept": "text/html"})
    assert reply.status_code == 200, reply.text[:500]
    client_id = CLIENT_ID.search(reply.text)
    elements = ELEMENTS.search(reply.text)
    assert client_id is not None, "no client id in the page"
    assert elements is not None, "no elements in the page"
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    if not cookie and "session" in reply.cookies:
        cookie = f"session={reply.cookies['session']}"
    return PageView(client_id.group(1), json.loads(elements.group(1)), cookie)


@dataclass
class PageSocket:
    """The socket of one page (``view``), recording each message the server sends to it."""

    base_url: str
    view: PageView
    received: list[tuple[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))

    async def __aenter__(self) -> PageSocket:
        @self.sio.on("*")
        async def record(event: str, data: Any = None) -> None:
            self.received.append((event, data))
            self.arrived.set()

        query = urlencode(
            {
                "client_id": self.view.client_id,
                "tab_id": str(uuid.uuid4()),
                "document_id": str(uuid.uuid4()),
                "next_message_id": 0,
                "implicit_handshake": "true",
            }
        )
        headers = {"Cookie": self.view.cookie} if self.view.cookie else {}
        await self.sio.connect(
            f"{self.base_url}?{query}", socketio_path=SOCKET_PATH, transports=["websocket"], headers=headers
        )
        return self

    async def __aexit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.sio.disconnect()

    async def emit(self, kind: str, message: Any) -> None:
        await self.sio.emit(kind, message)

    def updates(self) -> list[Any]:
        return [data for event, data in self.received if event == "update"]

    async def wait_for_update(self, within: float = 30.0) -> None:
        """Until the server has pushed at least one element update to this page."""
        async with asyncio.timeout(within):
            while not self.updates():
                self.arrived.clear()
                await self.arrived.wait()
