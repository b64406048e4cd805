"""The ``ddms`` console command: serve, migrate, user management (and simulate, backup later)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.engine.url import make_url

from ddms import db, logs, runtime
from ddms.config import ConfigError, Settings, get_settings, load_settings
from ddms.errors import ConsoleError, DDMSError
from ddms.migrate import require_current, upgrade
from ddms.models import ASSIGNABLE_ROLES
from ddms.schemas.users import UserCreate
from ddms.startup import wait_for_database


def _prepare_database(settings: Settings, *, migrate: bool) -> None:
    """Wait for the database, then upgrade it (or check it is current): here, before the app is
    built, so an outage or a schema problem is one line, not a lifespan traceback."""
    url = settings.resolved_database_url
    asyncio.run(wait_for_database(url, settings.database_wait_seconds))
    asyncio.run(upgrade(url) if migrate else require_current(url))


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from ddms import http_server
    from ddms.main import create_app

    migrate = settings.auto_migrate and not args.no_migrate
    # Migrated here or not at all: the app's lifespan must not run Alembic a second time.
    overrides: dict[str, object] = {"auto_migrate": False}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if getattr(args, "simulator", False):
        overrides["simulator_enabled"] = True
    settings = load_settings(**(settings.model_dump(exclude_unset=True) | overrides))
    if db.is_sqlite_url(settings.resolved_database_url):  # before migrating: the other one runs on it
        from ddms.startup import hold_instance_lock

        hold_instance_lock(settings.resolved_database_url)
    _prepare_database(settings, migrate=migrate)
    _refuse_second_instance(settings)
    app = create_app(settings)
    print(f"DDMS: open http://{settings.host}:{settings.port} in a browser", flush=True)
    http_server.run(app, settings)
    return 0


def _simulate(args: argparse.Namespace, _settings: Settings) -> int:
    from ddms.main import simulate

    try:
        simulate(args.host, args.port, args.devices, args.faults)
    except KeyboardInterrupt:
        return 0
    return 0


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    _prepare_database(settings, migrate=True)
    print("database is up to date")
    return 0


def _read_password(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise ConsoleError("Passwords do not match")
    return first


async def _with_session(settings: Settings, work: Callable[..., object]) -> object:
    """``work(session)`` in a runtime of its own, like an app's (the services read it)."""
    await upgrade(settings.resolved_database_url)
    database = db.Database(settings.resolved_database_url)
    try:
        with runtime.installed(runtime.Runtime(settings, database=database)):
            async with db.session_scope() as session:
                return await work(session)  # type: ignore[misc]
    finally:
        await database.dispose()


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    from ddms.services import users

    data = UserCreate(
        username=args.username,
        password=_read_password(args.password),
        role=args.role,
        language_preference=args.language,
    )
    user = asyncio.run(_with_session(settings, lambda session: users.create_user(session=session, data=data)))
    print(f"created {user.role} '{user.username}' ({user.id})")  # type: ignore[attr-defined]
    return 0


def _user_reset(args: argparse.Namespace, settings: Settings) -> int:
    from ddms.services import users

    password = _read_password(args.password)
    asyncio.run(
        _with_session(
            settings,
            lambda session: users.set_password(session=session, username=args.username, password=password),
        )
    )
    print(f"password of '{args.username}' reset; existing sessions were signed out")
    return 0


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from ddms.services import backup, system

    async def run() -> object:
        config = await _with_session(settings, lambda session: system.get_config(session=session))
        keep = args.keep or config.backup_retention_count  # type: ignore[attr-defined]
        return await backup.create_backup(settings, keep=keep)

    print(f"backup written to {asyncio.run(run())}")
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from ddms.services import backup

    if not args.yes and sys.stdin.isatty():
        answer = input(f"Replace ALL data in {settings.resolved_database_url} with {args.file}? Type yes: ")
        if answer.strip().lower() != "yes":
            print("restore cancelled")
            return 1
    asyncio.run(backup.restore_backup(settings, Path(args.file)))
    asyncio.run(upgrade(settings.resolved_database_url))  # an older backup is brought up to date
    print(f"database restored from {args.file}")
    return 0


def _status(_args: argparse.Namespace, settings: Settings) -> int:
    """``ddms status``: the instances on this database and how many devices each polls."""
    from ddms.services import cluster

    url = settings.resolved_database_url
    if db.is_sqlite_url(url):
        print("SQLite database: one instance at most (several need PostgreSQL)")
        return 0
    rows = asyncio.run(_with_session(settings, cluster.list_instances))
    live = [row for row in rows if row.live]  # type: ignore[attr-defined]
    print(f"{len(live)} live instance(s)")
    for row in rows:  # type: ignore[attr-defined]
        state = f"{row.devices} device(s)" if row.live else "gone"
        print(
            f"  {row.id}  {row.host} pid {row.pid}  started {row.started_at:%Y-%m-%d %H:%M:%S}Z  "
            f"heartbeat {row.heartbeat_at:%H:%M:%S}Z  {state}"
        )
    return 0


def _refuse_second_instance(settings: Settings) -> None:
    """One clear line instead of a second PostgreSQL instance whose tokens would be its own.

    Without JWT_SECRET_KEY each instance signs tokens with a secret of its own data directory, valid
    nowhere else. (SQLite: ``hold_instance_lock`` refuses a second process on the file before this.)
    """
    url = settings.resolved_database_url
    if settings.cluster_enabled and not settings.jwt_secret_key and not db.is_sqlite_url(url):
        from ddms.services import cluster

        running = asyncio.run(cluster.live_count(url))
        if running:
            raise ConsoleError(
                f"{running} other DDMS instance(s) already run on this PostgreSQL database: set the same "
                "JWT_SECRET_KEY on every instance (a generated secret is valid on one instance only)"
            )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddms", description="Device Data Monitoring System")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app, REST API and collector")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-migrate", action="store_true", help="do not upgrade the database on start")
    serve.add_argument(
        "--simulator",
        action="store_true",
        help="also run the built-in Modbus simulator (on an empty database: add its devices)",
    )
    serve.set_defaults(handler=_serve)

    simulate = commands.add_parser("simulate", help="run the built-in Modbus TCP simulator")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=5020)
    simulate.add_argument("--devices", type=int, default=8, help="number of simulated devices (default 8)")
    simulate.add_argument(
        "--faults",
        action="store_true",
        help="scripted faults: slow answers, exception codes, dropped connections, silence",
    )
    simulate.set_defaults(handler=_simulate)

    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(handler=_migrate)
    commands.add_parser(
        "status", help="list the instances on this database and the devices each polls"
    ).set_defaults(handler=_status)

    backup_cmd = commands.add_parser("backup", help="back up the database now (SQLite file copy or pg_dump)")
    backup_cmd.add_argument("--keep", type=int, help="backups to keep (default: configured)")
    backup_cmd.set_defaults(handler=_backup)
    restore = commands.add_parser("restore", help="replace the database with a backup (stop the app first)")
    restore.add_argument("file")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.set_defaults(handler=_restore)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create an admin or read-only account")
    create.add_argument("username")
    create.add_argument("--role", choices=[role.value for role in ASSIGNABLE_ROLES], default="read_only")
    create.add_argument("--language", choices=["en", "zh"], default="en")
    create.add_argument("--password", help="read from the terminal (or stdin) when omitted")
    create.set_defaults(handler=_user_create)
    reset = user.add_parser("reset-password", help="set a new password and sign the user out everywhere")
    reset.add_argument("username")
    reset.add_argument("--password", help="read from the terminal (or stdin) when omitted")
    reset.set_defaults(handler=_user_reset)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        logs.configure(settings.log_level)
        return int(args.handler(args, settings))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except DDMSError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except ValidationError as exc:  # console input; one line, and never the value (it may be a password)
        problems = (f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if not db.is_outage(exc):
            raise
        url = make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
        print(f"error: database unreachable at {url} (check DATABASE_URL): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
