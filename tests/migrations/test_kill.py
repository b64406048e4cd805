"""``kill -9`` at chosen statements of ``ddms migrate``: the database stays at the last finished
version, says so, and the next ``ddms migrate`` completes it to exactly a clean migration's schema.

Real subprocesses on real SQLite files and PostgreSQL databases. Kill points are chosen from a
recorded clean run, per version, so migrations added later are covered without work here: the
middle of a version's DDL, its version stamp, its COMMIT. The subprocess stops itself before the
chosen statement (tests/migrations/hook/sitecustomize.py) and reports it through a pipe; only then
is it killed, so where it dies never depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ddms import db
from ddms.config import Settings
from ddms.migrate import SchemaError, alembic_config, label, require_current, upgrade_sync
from tests.conftest import create_pg_database, drop_pg_database

ROOT = Path(__file__).parents[2]
HOOK = Path(__file__).parent / "hook"
PAUSE_TIMEOUT = 120.0  # generous: a loaded 2-core machine


def revisions() -> list[str]:
    """The versions from first to head."""
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    return [str(rev.revision) for rev in reversed(list(script.walk_revisions()))]


def child_env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()  # noqa: TID251
        if not key.startswith("DDMS_TEST_") and key.lower() not in Settings.model_fields
    }
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{HOOK}",
        DATABASE_URL=url,
        DDMS_DATA_DIR=str(tmp / "data"),
        LOG_LEVEL="WARNING",
        AUTO_MIGRATE="true",
        **extra,
    )
    return env


def run_migrate(url: str, tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ddms", "migrate"],
        env=child_env(url, tmp, **extra),
        capture_output=True,
        text=True,
        timeout=PAUSE_TIMEOUT,
        check=False,
    )


def record(url: str, tmp: Path) -> list[str]:
    """The statements (and COMMITs) of a clean ``ddms migrate`` from the state ``url`` is in."""
    log = tmp / f"record-{uuid.uuid4().hex}.txt"
    done = run_migrate(url, tmp, DDMS_TEST_RECORD=str(log))
    assert done.returncode == 0, done.stderr
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()]


@dataclass(frozen=True)
class KillPoint:
    number: int  # 1-based statement number: statements before it ran, it did not
    revision: str  # the version being applied
    what: str


def kill_points(statements: list[str], versions: list[str], per_version: int = 3) -> Iterator[KillPoint]:
    """Up to ``per_version`` points in each version: mid-DDL, the COMMIT, the version stamp."""
    start = 0
    applied = iter(versions)
    for index, statement in enumerate(statements):
        if statement != "COMMIT":
            continue
        segment = list(range(start, index + 1))
        start = index + 1
        stamps = [
            i
            for i in segment
            if "alembic_version" in statements[i] and statements[i].startswith(("INSERT", "UPDATE"))
        ]
        if not stamps:
            continue  # a COMMIT of Alembic's own reads
        revision = next(applied)
        body = [
            i
            for i in segment
            if i < stamps[0] and not statements[i].startswith(("BEGIN", "PRAGMA", "SELECT"))
        ]
        candidates = [("middle of the version", body[len(body) // 2])] if body else []
        candidates += [("COMMIT", index), ("version stamp", stamps[0])]
        for what, i in candidates[:per_version]:
            yield KillPoint(i + 1, revision, f"{what}: {statements[i][:60]}")


def kill_at(url: str, tmp: Path, point: KillPoint) -> str:
    """Start ``ddms migrate``, let it pause before ``point``, SIGKILL it; the statement it stood at."""
    read_end, write_end = os.pipe()
    env = child_env(url, tmp, DDMS_TEST_PAUSE_AT=str(point.number), DDMS_TEST_PAUSED_FD=str(write_end))
    process = subprocess.Popen(
        [sys.executable, "-m", "ddms", "migrate"],
        env=env,
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], PAUSE_TIMEOUT)
        reached = os.read(read_end, 4096).decode().strip() if ready else ""
        assert reached, (
            f"ddms migrate never reached {point}: {process.stderr.read() if process.stderr else ''}"
        )
    finally:
        process.kill()  # SIGKILL
        process.wait(timeout=PAUSE_TIMEOUT)
        os.close(read_end)
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -9
    return reached


# --- schema snapshots ---------------------------------------------------------------------------


def _snapshot(connection: Connection) -> dict[str, object]:
    if connection.dialect.name == "sqlite":
        objects = connection.execute(
            text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            )
        ).all()
        schema: dict[str, object] = {"objects": [tuple(row) for row in objects]}
    else:
        queries = {
            "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2",
            "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() ORDER BY 1, 2",
            "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2",
            "triggers": "SELECT event_object_table, trigger_name, event_manipulation, action_statement "
            "FROM information_schema.triggers WHERE trigger_schema = current_schema() ORDER BY 1, 2, 3",
            "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
            "WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
        }
        schema = {
            name: [tuple(row) for row in connection.execute(text(sql)).all()] for name, sql in queries.items()
        }
    has_version = connection.execute(
        text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'alembic_version'"
            if connection.dialect.name == "sqlite"
            else "SELECT count(*) FROM pg_tables "
            "WHERE tablename = 'alembic_version' AND schemaname = current_schema()"
        )
    ).scalar()
    schema["version"] = (
        connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        if has_version
        else []
    )
    return schema


async def _read(url: str, work: object) -> object:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(work)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def snapshot(url: str) -> dict[str, object]:
    return asyncio.run(_read(url, _snapshot))  # type: ignore[return-value]


def readings_count(url: str) -> int:
    return asyncio.run(_read(url, lambda c: c.execute(text("SELECT count(*) FROM readings")).scalar()))  # type: ignore[return-value]


def add_data(url: str) -> int:
    """A device with readings in an older schema; the number of readings."""

    def insert(connection: Connection) -> int:
        device = uuid.uuid4().hex if connection.dialect.name == "sqlite" else str(uuid.uuid4())
        # Literals, not parameters: the same text suits both drivers (test data, no user input).
        connection.execute(
            text(
                "INSERT INTO devices (id, name, modbus_ip, modbus_slave_id, modbus_register, "
                f"created_at, updated_at) VALUES ('{device}', 'meter', '127.0.0.1', 1, 0, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
        rows = ", ".join(
            f"('2026-01-01 00:{minute:02d}:00.000000', '{device}', {minute})" for minute in range(30)
        )
        connection.execute(text(f"INSERT INTO readings (timestamp, device_id, value) VALUES {rows}"))
        connection.commit()
        return 30

    return asyncio.run(_read(url, insert))  # type: ignore[return-value]


# --- backends -----------------------------------------------------------------------------------


class Backend:
    """Fresh databases of one kind, and the clean schema after each version."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp = kind, tmp
        self.created: list[str] = []

    def new(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / f'{uuid.uuid4().hex}.db'}"
        url = asyncio.run(create_pg_database())
        self.created.append(url)
        return url

    def reset(self, url: str) -> None:
        """Make ``url`` an empty database again (cheaper than a new PostgreSQL database)."""
        if self.kind == "sqlite":
            path = Path(url.split("///", 1)[1])
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
            return

        def empty(connection: Connection) -> None:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            connection.commit()

        asyncio.run(_read(url, empty))

    def references(self, versions: list[str]) -> dict[str | None, dict[str, object]]:
        """The schema of a clean migration to each version (None: empty database)."""
        url = self.new()
        self.reset(url)  # PostgreSQL: the same public schema as after a reset
        refs: dict[str | None, dict[str, object]] = {None: snapshot(url)}
        for revision in versions:
            upgrade_sync(url, revision)
            refs[revision] = snapshot(url)
        return refs

    def close(self) -> None:
        for url in self.created:
            asyncio.run(drop_pg_database(url))


# Not on TimescaleDB: killing every version costs minutes per backend, and what TimescaleDB adds
# (002's hypertable) is one statement of a transactional version; test_minute_marks and
# test_history_timescale migrate TimescaleDB databases from scratch.
@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen = Backend(request.param, tmp_path)
    try:
        yield chosen
    finally:
        chosen.close()


def check_interrupted(
    url: str, point: KillPoint, versions: list[str], refs: dict[str | None, dict[str, object]]
) -> None:
    """The killed run left exactly the previous version, and start-up says what to do."""
    index = versions.index(point.revision)
    previous = versions[index - 1] if index else None
    assert snapshot(url) == refs[previous], f"killed at {point}: not a clean {label(previous)}"
    with pytest.raises(SchemaError) as raised:
        asyncio.run(require_current(url))
    message = raised.value.detail
    assert "unreachable" not in message
    assert message.endswith(
        f"needs {'schema ' if previous is None else ''}{label(versions[-1])}: run ddms migrate"
    ), message
    if previous is not None:
        assert f"schema is at {label(previous)}," in message


def test_kill_during_fresh_migration(backend: Backend) -> None:
    """From an empty database: killed once in every version, each time the next migrate completes it.

    Each kill is a ``ddms migrate`` process and a full migration after it, so one point per version:
    the kinds (mid-DDL, version stamp, COMMIT) rotate over the versions, shifted between the two
    backends, so each backend meets every kind and every version is cut somewhere."""
    versions = revisions()
    refs = backend.references(versions)
    statements = record(backend.new(), backend.tmp)
    by_version: dict[str, list[KillPoint]] = {}
    for point in kill_points(statements, versions):
        by_version.setdefault(point.revision, []).append(point)
    assert set(by_version) == set(versions)
    shift = 0 if backend.kind == "postgresql" else 1
    points = [choices[(i + shift) % len(choices)] for i, choices in enumerate(by_version.values())]
    kinds = {point.what.split(":", 1)[0] for point in points}
    assert kinds == {"middle of the version", "COMMIT", "version stamp"}, kinds
    url = backend.new()
    for point in points:
        backend.reset(url)
        reached = kill_at(url, backend.tmp, point)
        assert reached == statements[point.number - 1][:200].strip()  # the child strips what it reports
        check_interrupted(url, point, versions, refs)
        upgrade_sync(url)  # what `ddms migrate` does; the real command is run once below
        assert snapshot(url) == refs[versions[-1]], f"after a kill at {point} and a new migrate"
    backend.reset(url)
    kill_at(url, backend.tmp, points[len(points) // 2])
    done = run_migrate(url, backend.tmp)
    assert done.returncode == 0, done.stderr
    assert "database is up to date" in done.stdout
    assert snapshot(url) == refs[versions[-1]]


def test_kill_while_upgrading_one_version_old(backend: Backend) -> None:
    """A database one version behind, with readings: killed in the last version, nothing is lost
    and the next ``ddms migrate`` (the real command) brings it to head."""
    versions = revisions()
    refs = backend.references(versions)
    url = backend.new()

    def one_version_old() -> int:
        backend.reset(url)
        upgrade_sync(url, versions[-2])
        return add_data(url)

    stored = one_version_old()
    statements = record(url, backend.tmp)
    points = list(kill_points(statements, versions[-1:], per_version=3 if backend.kind == "sqlite" else 2))
    assert len(points) >= 2
    for number, point in enumerate(points):
        one_version_old()
        kill_at(url, backend.tmp, point)
        check_interrupted(url, point, versions, refs)
        assert readings_count(url) == stored
        if number == 0:  # the real command once; in-process (the same call) for the others
            done = run_migrate(url, backend.tmp)
            assert done.returncode == 0, done.stderr
        else:
            upgrade_sync(url)
        assert snapshot(url) == refs[versions[-1]]
        assert readings_count(url) == stored
