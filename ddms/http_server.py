"""How ``ddms serve`` runs uvicorn: connection limits, and a deadline for a request's head.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no timeout for a
request that never finishes its request line and headers: its keep-alive timer is armed only after
a response, and any byte received disarms it. A client that connects and sends nothing, or one
header byte every few seconds ("slowloris"), holds its connection for ever, and a few thousand of
them exhaust the process's file descriptors. With httptools (uvicorn's default parser) nothing
bounds the size of such a head either; ``h11_max_incomplete_event_size`` only applies to h11.

``head_deadline_protocol`` wraps uvicorn's HTTP protocol class (whichever parser uvicorn picked)
with both bounds: from the moment a connection opens, or its previous response ends, the next
request's head must arrive within ``HTTP_HEADER_TIMEOUT`` seconds and within
``HTTP_MAX_HEADER_BYTES``; otherwise the connection is closed (431 for an oversized head). The
deadline covers the head only: a long upload, a slow response, an SSE stream or a WebSocket are not
affected once their head has arrived.

``GracefulServer`` bounds a shutdown in time. On SIGTERM or SIGINT it sets ``app.state.stopping`` (the
SSE streams end on it: uvicorn would otherwise wait for ever for their responses to finish), then
uvicorn closes the WebSockets, waits at most half of ``SHUTDOWN_TIMEOUT`` for responses in flight
and runs the lifespan's shutdown (polling stops, the writer flushes). Exit code 0. Whatever still
runs at ``SHUTDOWN_TIMEOUT`` is abandoned (exit code 1), and a second signal exits at once
(128 + signal number), as docker stop and systemd would with SIGKILL, only with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ddms.config import Settings

logger = logging.getLogger(__name__)

HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 24\r\nconnection: close\r\n\r\n"
    b"Request head too large.\n"
)


def head_deadline_protocol(base: type[Any], *, timeout: float, max_bytes: int) -> type[Any]:
    """A subclass of uvicorn's HTTP protocol ``base`` (httptools or h11) with a deadline and a size
    bound for each request head. It relies only on what both implementations share: ``cycle``
    (the request being answered), ``on_response_complete``, ``handle_websocket_upgrade``."""

    class HeadDeadlineProtocol(base):  # type: ignore[misc]  # base is picked at run time: h11 or httptools
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm_head_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._awaiting_head():
                self._head_bytes = 0
                return
            self._head_bytes += len(data)
            if self._head_bytes > max_bytes and not self.transport.is_closing():
                logger.debug("closing a connection from %s: head over %d bytes", self.client, max_bytes)
                self.transport.write(HEAD_TOO_LARGE)
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._head_bytes = 0
                self._arm_head_deadline()  # the next request's head, if one comes before keep-alive ends

        def handle_websocket_upgrade(self, *args: Any) -> None:
            self._disarm_head_deadline()
            super().handle_websocket_upgrade(*args)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

        def _awaiting_head(self) -> bool:
            """No request is being answered on this connection, and it still speaks HTTP/1."""
            cycle = self.cycle
            waiting = cycle is None or cycle.response_complete
            return waiting and self.transport.get_protocol() is self

        def _arm_head_deadline(self) -> None:
            self._disarm_head_deadline()
            self._head_timer = self.loop.call_later(timeout, self._head_deadline_passed)

        def _disarm_head_deadline(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_deadline_passed(self) -> None:
            self._head_timer = None
            if self._awaiting_head() and not self.transport.is_closing():
                logger.debug("closing a connection from %s: no request head in %.1f s", self.client, timeout)
                self.transport.close()

    HeadDeadlineProtocol.__qualname__ = HeadDeadlineProtocol.__name__ = f"HeadDeadline{base.__name__}"
    return HeadDeadlineProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` from the settings."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    protocol = head_deadline_protocol(
        AutoHTTPProtocol, timeout=settings.http_header_timeout, max_bytes=settings.http_max_header_bytes
    )
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "http": protocol,
        "timeout_keep_alive": settings.http_keep_alive_timeout,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "limit_concurrency": settings.http_limit_concurrency,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # Responses still running after this are cancelled; the rest of SHUTDOWN_TIMEOUT is the flush's.
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_timeout / 2)),
    }


SIGNALS = (signal.SIGINT, signal.SIGTERM)


def graceful_server(config: Any, *, shutdown_timeout: float, on_stop: Callable[[], None]) -> Any:
    """A ``uvicorn.Server`` whose shutdown is bounded (see the module docstring); ``on_stop`` runs on
    the event loop at the first signal."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        _loop: asyncio.AbstractEventLoop | None = None
        _deadline: threading.Timer | None = None

        async def serve(self, sockets: Any = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().serve(sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn's own version raises the signal again after the shutdown, so that a clean
            # stop would end "killed by SIGTERM" instead of exit code 0.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit) for sig in SIGNALS}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)
                if self._deadline is not None:
                    self._deadline.cancel()

        def handle_exit(self, sig: int, frame: Any) -> None:
            # The flag first: a second signal may interrupt this handler (even inside its logging).
            again, self.should_exit = self.should_exit, True
            name = signal.Signals(sig).name
            if again:
                logger.warning("%s again: exiting now, without waiting for the shutdown", name)
                os._exit(128 + sig)
            logger.info("%s: shutting down (at most %g s)", name, shutdown_timeout)
            self._deadline = threading.Timer(shutdown_timeout, self._overdue)
            self._deadline.daemon = True
            self._deadline.start()
            if self._loop is not None:
                self._loop.call_soon_threadsafe(on_stop)

        def _overdue(self) -> None:
            logger.error("shutdown still running after SHUTDOWN_TIMEOUT=%g s: exiting now", shutdown_timeout)
            os._exit(1)

    return GracefulServer(config)


def run(app: Any, settings: Settings) -> None:
    """Serve ``app`` until a signal (blocks); exits 3 when the app did not start."""
    import uvicorn

    stopping = asyncio.Event()
    app.state.stopping = stopping  # ends the SSE streams (ddms/api/routes/live.py)
    config = uvicorn.Config(app, **uvicorn_options(settings))
    server = graceful_server(config, shutdown_timeout=settings.shutdown_timeout, on_stop=stopping.set)
    server.run()
    if not server.started:
        raise SystemExit(3)
