"""The console commands ``ddms user create`` and ``ddms user reset-password`` on a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ddms.db
from ddms import cli, runtime
from ddms.config import Settings, get_settings
from ddms.errors import Unauthorized
from ddms.services import auth

ROOT = Path(__file__).resolve().parents[2]


def ddms_command(
    *args: str, url: str, data_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields}  # noqa: TID251
    env |= {"DATABASE_URL": url, "DDMS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "ddms", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin,
        check=False,
    )


async def logs_in(url: str, username: str, password: str) -> bool:
    database = ddms.db.Database(url)
    try:
        with runtime.installed(runtime.Runtime(database=database)):
            async with ddms.db.session_scope() as session:
                await auth.check_credentials(session=session, username=username, password=password)
        return True
    except Unauthorized:
        return False
    finally:
        await database.dispose()


async def test_user_create_and_reset_password(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    created = ddms_command(
        "user",
        "create",
        "operator_1",
        "--role",
        "admin",
        "--password",
        "first-password-1",
        url=url,
        data_dir=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "created admin 'operator_1'" in created.stdout
    assert "first-password-1" not in created.stdout + created.stderr
    assert await logs_in(url, "operator_1", "first-password-1")

    duplicate = ddms_command(
        "user", "create", "operator_1", "--password", "other-password-1", url=url, data_dir=tmp_path
    )
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip().splitlines()[-1] == "error: Username 'operator_1' is already taken"

    reset = ddms_command(
        "user", "reset-password", "operator_1", url=url, data_dir=tmp_path, stdin="second-password-2\n"
    )  # read from stdin when --password is omitted
    assert reset.returncode == 0, reset.stderr
    assert await logs_in(url, "operator_1", "second-password-2")
    assert not await logs_in(url, "operator_1", "first-password-1")


def run_main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    url: str,
    data_dir: Path,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """``ddms.cli.main`` in this process (cheaper than a subprocess), only DATABASE_URL/DDMS_DATA_DIR
    (and ``env``) set."""
    for name in list(os.environ):  # noqa: TID251
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DDMS_DATA_DIR", str(data_dir))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    # A root handler installed here would keep this test's captured stderr after it is closed.
    monkeypatch.setattr(cli.logs, "configure", lambda _level: None)
    get_settings.cache_clear()
    try:
        with runtime.installed(runtime.Runtime()):  # what the command leaves behind goes with it
            code = cli.main(list(args))
    finally:
        get_settings.cache_clear()
    stderr = capsys.readouterr().err
    return code, "\n".join(line for line in stderr.splitlines() if "alembic" not in line)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ("user", "create", "x", "--password", "long-enough-1"),
            "error: username: String should have at least 3",
        ),
        (
            ("user", "create", "many_bytes", "--password", "p" * 1025),
            "error: password: String should have at most",
        ),
        (("user", "create", "short_pw", "--password", "short"), "at least 8"),
        (("user", "create", "long_pw", "--password", "p" * 73), "at most 72 bytes"),
        (("user", "reset-password", "nobody", "--password", "long-enough-1"), "No user named 'nobody'"),
    ],
)
def test_user_commands_refuse_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    needle: str,
) -> None:
    code, stderr = run_main(monkeypatch, capsys, args, f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", tmp_path)
    assert code == 1, stderr
    assert needle in stderr
    assert "p" * 73 not in stderr
    assert "input_value" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize(
    "command", [("migrate",), ("user", "create", "someone", "--password", "long-enough-1")]
)
def test_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
) -> None:
    url = "postgresql://postgres:hunter2hunter2@127.0.0.1:1/none"
    # One attempt: waiting for the database is tests/services/test_startup_wait.py's subject.
    code, stderr = run_main(monkeypatch, capsys, command, url, tmp_path, {"DATABASE_WAIT_SECONDS": "0"})
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(
        "error: database unreachable at postgresql+asyncpg://postgres:***@127.0.0.1:1/none"
    )
    assert "hunter2" not in stderr
