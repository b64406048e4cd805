"""Settings: defaults, one-line errors naming the variable, the production secret rule, the secret file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ddms.config import SECRET_FILE_NAME, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults_need_no_configuration(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(ddms_data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'ddms.db').resolve()}"
    assert (settings.port, settings.modbus_timeout, settings.sse_interval) == (8000, 10.0, 5.0)
    assert settings.cookie_secure is True
    assert settings.public_stream is True


def test_environment_is_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PORT", "9000")
    clean_env.setenv("MODBUS_TIMEOUT", "2.5")
    clean_env.setenv("COOKIE_SECURE", "false")
    clean_env.setenv("DATABASE_URL", "postgresql://u@h/db")
    settings = load_settings()
    assert (settings.port, settings.modbus_timeout, settings.cookie_secure) == (9000, 2.5, False)
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODBUS_TIMEOUT", "abc"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("SSE_INTERVAL", "-1"),
        ("DATABASE_URL", "mysql://x"),
        ("LOG_LEVEL", "LOUD"),
        ("COOKIE_SECURE", "perhaps"),
        ("JWT_SECRET_KEY", "short"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
        ("DDMS_ENV", "staging"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Invalid configuration: ")
    assert variable in message
    assert "Value error" not in message
    assert value not in message or variable != "JWT_SECRET_KEY"  # a secret is never echoed


def test_production_refuses_a_missing_or_weak_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DDMS_ENV", "production")
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_settings()
    clean_env.setenv("JWT_SECRET_KEY", "s" * 31)
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_settings()
    clean_env.setenv("JWT_SECRET_KEY", "s" * 32)
    assert load_settings().jwt_secret == "s" * 32


def test_secret_length_follows_the_algorithm(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JWT_ALGORITHM", "HS512")
    clean_env.setenv("JWT_SECRET_KEY", "s" * 63)
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY must be at least 64 bytes for HS512"):
        load_settings()
    clean_env.setenv("JWT_SECRET_KEY", "s" * 64)
    assert load_settings().jwt_algorithm == "HS512"


def test_generated_secret_suits_every_algorithm(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert len(load_settings(ddms_data_dir=tmp_path, jwt_algorithm="HS512").jwt_secret.encode()) >= 64


def test_secret_is_generated_once_with_0600(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = load_settings(ddms_data_dir=tmp_path / "new").jwt_secret
    path = tmp_path / "new" / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret.encode()) >= 32
    assert load_settings(ddms_data_dir=tmp_path / "new").jwt_secret == secret
    path.write_text("too-short")  # a damaged file is replaced, still private
    replaced = load_settings(ddms_data_dir=tmp_path / "new").jwt_secret
    assert replaced != secret
    assert len(replaced) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def run_ddms(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()  # noqa: TID251
        if key.lower() not in load_settings.__globals__["Settings"].model_fields
    }
    return subprocess.run(
        [sys.executable, "-m", "ddms", *args],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin,
        check=False,
    )


@pytest.mark.parametrize(("variable", "value"), [("MODBUS_TIMEOUT", "abc"), ("PORT", "70000")])
def test_bad_configuration_stops_the_command(tmp_path: Path, variable: str, value: str) -> None:
    result = run_ddms("migrate", env={"DDMS_DATA_DIR": str(tmp_path), variable: value})
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert not (tmp_path / "ddms.db").exists()


def test_production_without_secret_stops_the_command(tmp_path: Path) -> None:
    result = run_ddms("migrate", env={"DDMS_DATA_DIR": str(tmp_path), "DDMS_ENV": "production"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("Invalid configuration: JWT_SECRET_KEY must be set")


@pytest.mark.parametrize("password", ["short", "p" * 73, "密" * 25])
def test_bad_owner_password_stops_start_up_without_showing_it(
    clean_env: pytest.MonkeyPatch, password: str
) -> None:
    clean_env.setenv("DDMS_OWNER_PASSWORD", password)
    with pytest.raises(ConfigError, match="DDMS_OWNER_PASSWORD") as caught:
        load_settings()
    assert password not in str(caught.value)


def test_unusable_data_directory_stops_start_up(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ddms.main import create_api

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = load_settings(ddms_data_dir=blocker / "data", database_url="sqlite+aiosqlite:///unused.db")
    with pytest.raises(
        ConfigError, match=r"^Invalid configuration: DDMS_DATA_DIR: cannot keep the JWT secret"
    ):
        create_api(settings)
