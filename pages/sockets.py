"""NiceGUI messages are taken only from the socket of the browser tab they are addressed to.

Every message a NiceGUI page sends over Socket.IO (a click, a typed value, a JavaScript answer)
names its ``client_id``, and NiceGUI 3 looks the client up by that id alone, whichever socket the
message came on. So an owner's captured "confirm delete" (client id, element id, listener id)
replayed from a stranger's socket ran as the owner. The role checks in the handlers
(``pages.layout.acting_user``) cannot tell: they read the session of the client, i.e. the owner's.

NiceGUI has no hook per incoming message, so ``install()`` wraps its Socket.IO handlers once, through
python-socketio's own ``AsyncServer.on`` registration (called from the composition root,
``ddms.main.create_app``). The wrapper lets a message through only when its sending socket has
joined the room of that client, which NiceGUI's handshake does for the socket the page connected
with (``sio.enter_room(sid, client.id)``). A message that names an unknown client, comes from
another socket or is malformed is dropped with a debug line: probing with random ids must not fill
the log with tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nicegui import Client, core

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]
LOG_LEVELS = frozenset({"debug", "info", "warning", "error"})


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _args_ok(args: object) -> bool:
    return isinstance(args, list) and all(arg is None or isinstance(arg, str) for arg in args)


# What each message must carry besides ``client_id`` (NiceGUI indexes these without checking).
SHAPES: dict[str, dict[str, Callable[[object], bool]]] = {
    "event": {"id": _is_int, "listener_id": _is_str},
    "javascript_response": {"request_id": _is_str},
    "ack": {"next_message_id": _is_int},
    "log": {"level": LOG_LEVELS.__contains__, "message": _is_str},
}
HANDSHAKE_KEYS = ("client_id", "tab_id", "document_id")


def well_formed(kind: str, message: object) -> bool:
    """True when ``message`` has the keys and types NiceGUI's handler for ``kind`` relies on."""
    if not isinstance(message, dict) or not isinstance(message.get("client_id"), str):
        return False
    if kind == "event" and not _args_ok(message.get("args", [])):
        return False
    return all(key in message and check(message[key]) for key, check in SHAPES[kind].items())


def owning_client(sid: str, message: dict[str, Any]) -> Client | None:
    """The client the message names, if the socket ``sid`` is one of that client's own sockets."""
    client = Client.instances.get(message["client_id"])
    if client is None or client.id not in core.sio.rooms(sid):
        return None
    return client


def _guard_message(kind: str, handler: Handler) -> Handler:
    def guarded(sid: str, *args: Any) -> Any:
        message = args[0] if len(args) == 1 else None
        if not well_formed(kind, message):
            logger.debug("dropped a malformed %s message from socket %r", kind, sid)
            return None
        assert isinstance(message, dict)
        if owning_client(sid, message) is None:
            logger.debug(
                "dropped a %s message for client %r from socket %r, not its own",
                kind,
                message["client_id"],
                sid,
            )
            return None
        try:
            return handler(sid, message)
        except ValueError:  # an argument that is not JSON: NiceGUI parses it before any page code runs
            logger.debug("dropped a %s message with unreadable arguments from socket %r", kind, sid)
            return None

    return guarded


def _guard_handshake(handler: Handler) -> Handler:
    async def guarded(sid: str, *args: Any) -> Any:
        data = args[0] if len(args) == 1 else None
        if not isinstance(data, dict) or not all(isinstance(data.get(key), str) for key in HANDSHAKE_KEYS):
            logger.debug("refused a malformed handshake from socket %r", sid)
            return False
        return await handler(sid, data)

    return guarded


def _guard_connect(handler: Handler) -> Handler:
    async def guarded(sid: str, environ: dict[str, Any], *args: Any) -> Any:
        try:
            return await handler(sid, environ, *args)
        except KeyError:  # an implicit handshake whose query lacks an id: refuse it quietly
            logger.debug("refused a socket connection with an incomplete query from %r", sid)
            return False

    return guarded


def install() -> None:
    """Wrap NiceGUI's Socket.IO handlers (idempotent: a second call changes nothing)."""
    sio = core.sio
    handlers: dict[str, Handler] = sio.handlers["/"]
    if getattr(handlers.get("event"), "ddms_guarded", False):
        return
    wrapped: dict[str, Handler] = {kind: _guard_message(kind, handlers[kind]) for kind in SHAPES}
    wrapped["handshake"] = _guard_handshake(handlers["handshake"])
    wrapped["connect"] = _guard_connect(handlers["connect"])
    for kind, handler in wrapped.items():
        handler.ddms_guarded = True  # type: ignore[attr-defined]
        sio.on(kind, handler=handler)
