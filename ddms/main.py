"""Composition root: builds the FastAPI app, mounts NiceGUI, starts the collector.

This is the one module of ``ddms`` allowed to import ``pages`` and ``collector``. API routes are
registered before NiceGUI is mounted at ``/`` (NiceGUI 3 would otherwise shadow them).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ddms import __version__, db, logs, runtime
from ddms.api import errors, openapi
from ddms.api.middleware import (
    UNMATCHED,
    CrossSiteArrivalMiddleware,
    HTTPMetricsMiddleware,
    SecurityHeadersMiddleware,
    TrailingSlashMiddleware,
)
from ddms.api.routes import alarms as alarm_routes
from ddms.api.routes import auth as auth_routes
from ddms.api.routes import channels as channel_routes
from ddms.api.routes import devices as device_routes
from ddms.api.routes import display_tokens as display_token_routes
from ddms.api.routes import export as export_routes
from ddms.api.routes import groups as group_routes
from ddms.api.routes import live as live_routes
from ddms.api.routes import notifications as notification_routes
from ddms.api.routes import readings as reading_routes
from ddms.api.routes import system as system_routes
from ddms.api.routes import users as user_routes
from ddms.config import Settings
from ddms.migrate import require_current, upgrade
from ddms.runtime import Runtime, Service
from ddms.services import stream_access, system, users

logger = logging.getLogger(__name__)

ServiceFactory = Callable[[Settings], Service]
StartupHook = Callable[[Runtime], Awaitable[None]]


def create_api(
    settings: Settings,
    service_factories: list[ServiceFactory] | None = None,
    startup_hooks: list[StartupHook] | None = None,
) -> FastAPI:
    """The REST/SSE application with its lifespan (database, owner account, background services).

    Each run of the lifespan builds a fresh ``Runtime``, current for the app's requests and for the
    tasks its services start, and closes it at shutdown: two apps in one process share nothing.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.configure(settings.log_level)
        url = settings.resolved_database_url
        if settings.auto_migrate:
            await upgrade(url)
        else:
            await require_current(url)  # a schema problem is named, not met later as a SQL error
        app_runtime = Runtime(settings, database=db.Database(url), probe=_modbus_probe(settings))
        app.state.runtime = app_runtime
        token = runtime.bind(app_runtime)  # the services' tasks inherit it
        with runtime.installed(app_runtime):
            try:
                await _start(app_runtime, startup_hooks, service_factories)
                yield
            finally:
                await app_runtime.close()
                runtime.unbind(token)

    async def _start(
        app_runtime: Runtime, hooks: list[StartupHook] | None, factories: list[ServiceFactory] | None
    ) -> None:
        async with db.session_scope() as session:
            app_runtime.owner_password_generated = await users.ensure_owner(
                session=session, password=settings.ddms_owner_password or None
            )
            await system.get_config(
                session=session,
                defaults={"sse_interval": settings.sse_interval, "app_title": settings.app_title},
            )
        for hook in hooks or []:
            await hook(app_runtime)
        for factory in factories or []:
            service = factory(settings)
            await service.start()
            app_runtime.services.append(service)

    # FastAPIOffline serves Swagger UI and ReDoc from the package, not a CDN: plant networks are
    # often offline, and /docs must still work there.
    app = FastAPIOffline(
        title=settings.app_title + " API",
        version=__version__,
        lifespan=lifespan,
        description="REST and SSE interface of the Device Data Monitoring System.",
        static_url="/api/docs-static",
    )
    app.state.settings = settings
    app.state.stream_policy = stream_access.RecheckPolicy()  # tests shorten the re-check interval
    _ = settings.jwt_secret  # read or generate it now: a data directory we cannot write stops start-up
    errors.install(app)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(_BindRuntime)
    routers = [
        auth_routes.router,
        user_routes.router,
        display_token_routes.router,
        live_routes.router,
        device_routes.router,
        group_routes.router,
        system_routes.router,
        channel_routes.router,
        reading_routes.router,
        export_routes.router,
        alarm_routes.router,
        notification_routes.router,
    ]
    for router in routers:
        app.include_router(router)
    _answer_unknown_api_paths(app)
    if settings.prometheus_enabled:
        from ddms.api.routes import metrics as metrics_routes

        app.include_router(metrics_routes.router)  # /metrics: not under /api, so not in the OpenAPI
        app.add_middleware(HTTPMetricsMiddleware)  # outside the routing: it times everything inside
    openapi.install(app, routers)
    return app


def _answer_unknown_api_paths(app: FastAPI) -> None:
    """An unknown ``/api/...`` path is a JSON 404 (a known one with another method 405), not the
    UI's HTML page: NiceGUI, mounted at ``/`` afterwards, would otherwise answer every path."""
    from starlette.routing import Match

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    async def unknown(request: Request) -> JSONResponse:
        scope = dict(request.scope)
        allowed: set[str] = set()
        routes = list(app.router.routes)
        while routes:
            route = routes.pop()
            if getattr(route, "endpoint", None) is unknown:
                continue
            included = getattr(route, "original_router", None)  # an include_router() entry
            if included is not None:
                routes.extend(included.routes)
                continue
            match, _ = route.matches(scope)
            if match is Match.PARTIAL:
                allowed |= set(getattr(route, "methods", None) or ())
        if allowed:
            headers = {"Allow": ", ".join(sorted(allowed))}
            return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    for path in ("/api/{path:path}", "/api"):  # named so the HTTP metrics count them as unmatched
        app.add_api_route(path, unknown, methods=methods, include_in_schema=False, name=UNMATCHED)


def _modbus_probe(settings: Settings) -> runtime.Probe:
    """test-connection reads through the collector's Modbus code (ddms itself cannot import it)."""
    from functools import partial

    from collector.probe import probe_device

    return partial(probe_device, modbus_timeout=settings.modbus_timeout)


class _BindRuntime:
    """Every request of an app runs with that app's ``Runtime`` current (another app may run beside it).

    Pure ASGI, like every middleware here; the lifespan binds its own task itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app_runtime = getattr(scope["app"].state, "runtime", None) if scope["type"] != "lifespan" else None
        if app_runtime is None:
            await self.app(scope, receive, send)
            return
        token = runtime.bind(app_runtime)
        try:
            await self.app(scope, receive, send)
        finally:
            runtime.unbind(token)


def simulate(host: str, port: int, devices: int, faults: bool) -> None:
    """``ddms simulate``: the built-in Modbus TCP simulator, until interrupted."""
    import asyncio

    from collector.simulator import run

    asyncio.run(run(host, port, devices, faults))


class _JSONRootForScripts:
    """``GET /``: browsers get the UI, every other client the health JSON.

    Pure ASGI (not ``@app.middleware("http")``): Starlette's BaseHTTPMiddleware runs every request
    of the app, API and SSE included, through an extra task and a memory stream.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] == "GET":
            accept = next((value for key, value in scope["headers"] if key == b"accept"), b"")
            if b"text/html" not in accept:
                answer = await system_routes.health_response()
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> FastAPI:
    """The whole product: REST/SSE, then the NiceGUI pages mounted at ``/``, then the collector."""
    from nicegui import ui

    import pages

    factories: list[ServiceFactory] = [pages.session_sweeper]
    if settings.history_jobs_enabled:
        from ddms.scheduler import HistoryScheduler

        factories.append(HistoryScheduler)  # rollups, retention, cron backups
    from ddms.services.delivery import DeliveryService

    factories.append(DeliveryService)  # alarm events to webhooks and e-mail (before the collector)
    if settings.collector_enabled:
        from collector.runner import Collector

        factories.append(Collector)
    hooks: list[StartupHook] = [pages.attach, _announce]
    if settings.simulator_enabled:
        from collector.simulator import SimulatorService, register_devices

        async def register_simulated(_runtime: Runtime) -> None:
            await register_devices(
                settings.simulator_host, settings.simulator_port, settings.simulator_devices
            )

        factories.insert(0, SimulatorService)
        hooks.append(register_simulated)
    if settings.cluster_enabled and not db.is_sqlite_url(settings.resolved_database_url):
        factories.insert(0, cluster_node)  # first up, last down: the others hold its locks
    app = create_api(settings, service_factories=factories, startup_hooks=hooks)
    # Innermost, so the HTTP metrics count the health answers at / too.
    app.user_middleware.append(Middleware(_JSONRootForScripts))
    # Outside the metrics: its bounce stands in for the page the browser loads again at once.
    app.add_middleware(CrossSiteArrivalMiddleware)  # links from other sites despite SameSite=Strict
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every answer, the UI's and the API's
    pages.register(settings)
    ui.run_with(
        app,
        title=settings.app_title,
        storage_secret=settings.ui_storage_secret,
        session_middleware_kwargs=ui_session_cookie(settings),
        favicon="📈",
        show_welcome_message=False,
        reconnect_timeout=10,
    )
    pages.bind_events_to_sockets()  # a page's messages count only on the socket it connected with
    _freeze_heap()
    return app


def cluster_node(settings: Settings) -> Service:
    """This instance's membership of the instances on one PostgreSQL database (``services.cluster``)."""
    from ddms.services.cluster import Node

    return Node(settings.resolved_database_url, heartbeat=settings.cluster_heartbeat_seconds)


def ui_session_cookie(settings: Settings) -> dict[str, object]:
    """How the UI's signed session cookie is set (Starlette's SessionMiddleware; always HttpOnly).

    Secure under COOKIE_SECURE like the refresh-token cookie; SameSite=Strict, so no other site can
    make the browser send it, not even on a link to a DDMS page (``CrossSiteArrivalMiddleware`` then
    has the page loaded again from our own origin, so such links still open a signed-in page). Its
    lifetime is the refresh token's, renewed on every answer (it ends when the browser has not been
    back for that long).
    """
    return {
        "same_site": "strict",
        "https_only": settings.cookie_secure,
        "max_age": settings.refresh_token_expire_days * 86400,
    }


def _freeze_heap() -> None:
    """Keep the composed heap (modules, app, NiceGUI pages) out of the cyclic GC's full passes.

    Measured under load, a full pass over it stalled every request in flight for up to ~190 ms
    (the API's p99); after ``gc.freeze()`` full passes only walk what was allocated since.
    Once, where the product is composed (``create_app``), not in every test app.
    """
    gc.collect()
    gc.freeze()


async def _announce(runtime: Runtime) -> None:
    """Tell the person who started DDMS where it is and how to log in (console only, never logged)."""
    settings = runtime.settings
    assert settings is not None, "an app's runtime has its settings"
    url = f"http://{settings.host}:{settings.port}"
    logger.info("DDMS %s serving at %s", __version__, url)
    if runtime.owner_password_generated:
        login = f"admin / {runtime.owner_password_generated}  (generated now; it will not be shown again)"
    elif settings.ddms_owner_password:
        login = "admin / the password in DDMS_OWNER_PASSWORD"
    else:
        login = "admin (password shown at first start; reset: ddms user reset-password admin)"
    print(f"\n  DDMS is running at {url}\n  Owner login: {login}\n", flush=True)  # noqa: T201
