"""One Settings object read from the environment; nothing else in DDMS reads os.environ.

The embedded default (SQLite in ``DDMS_DATA_DIR``) needs no configuration at all. A JWT secret that is
not configured is generated once and kept in the data directory (mode 0600), so tokens survive a
restart. In production (``DDMS_ENV=production``) a missing or weak secret stops start-up instead.
"""

from __future__ import annotations

import logging
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

MIN_SECRET_BYTES = 32
SECRET_FILE_NAME = "jwt_secret"  # noqa: S105 (a file name, not a secret)
SECRET_BYTES_FOR_ALGORITHM = {"HS256": 32, "HS384": 48, "HS512": 64}


class ConfigError(Exception):
    """A configuration value is wrong; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Every tunable of DDMS, with the names the architecture gives them."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    ddms_env: Literal["development", "production"] = "development"
    ddms_data_dir: Path = Path("./data")
    database_url: str = ""
    jwt_secret_key: str = ""
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_expire_days: int = Field(default=7, ge=1, le=365)
    cors_origins: str = ""
    cookie_secure: bool = True
    modbus_timeout: float = Field(default=10.0, gt=0, le=300)
    modbus_retry_attempts: int = Field(default=3, ge=0, le=10)
    # Requests kept in flight on one connection (1 for servers that cannot take pipelined requests).
    modbus_pipeline_depth: int = Field(default=16, ge=1, le=256)
    writer_batch_size: int = Field(default=1000, ge=1, le=100_000)
    writer_flush_interval: float = Field(default=1.0, gt=0, le=60)
    writer_buffer_limit: int = Field(default=100_000, ge=1000, le=10_000_000)
    # The durable spool (<data dir>/spool.db) an outage's readings wait in; the oldest beyond it go.
    writer_spool_max_bytes: int = Field(default=1 << 30, ge=1 << 20, le=1 << 40)
    # A flush still running after this long (a database that hangs) spools what memory holds meanwhile.
    writer_spill_after_seconds: float = Field(default=1.0, gt=0, le=60)
    # The built-in Modbus simulator started beside the app (``ddms serve --simulator``).
    simulator_enabled: bool = False
    simulator_host: str = "127.0.0.1"
    simulator_port: int = Field(default=5020, ge=1, le=65535)
    simulator_devices: int = Field(default=8, ge=1, le=10_000)
    prometheus_enabled: bool = True
    sse_interval: float = Field(default=5.0, gt=0, le=3600)
    public_stream: bool = True
    app_title: str = Field(default="DDMS", min_length=1, max_length=100)
    ddms_owner_password: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # HTTP server limits (ddms/http_server.py): a request's head must arrive within
    # HTTP_HEADER_TIMEOUT seconds and HTTP_MAX_HEADER_BYTES; idle keep-alive connections close after
    # HTTP_KEEP_ALIVE_TIMEOUT; with HTTP_LIMIT_CONCURRENCY connections open (or requests running) new
    # requests are answered 503. Proxy headers are believed from FORWARDED_ALLOW_IPS only.
    http_header_timeout: float = Field(default=10.0, gt=0, le=600)
    http_keep_alive_timeout: float = Field(default=5.0, gt=0, le=3600)
    http_max_header_bytes: int = Field(default=32 * 1024, ge=4096, le=1024 * 1024)
    http_limit_concurrency: int = Field(default=1000, ge=10, le=1_000_000)
    forwarded_allow_ips: str = "127.0.0.1"
    auto_migrate: bool = True
    # PostgreSQL only (ddms/db.py ``use_timescale``): auto uses TimescaleDB when the extension is
    # available and preloaded, on refuses to migrate or start without it, off never creates it.
    timescaledb: Literal["auto", "on", "off"] = "auto"
    # Start-up (ddms/startup.py): retry an unreachable database with back-off for this long before
    # giving up (PostgreSQL often starts after DDMS under compose or systemd); 0: one attempt.
    database_wait_seconds: float = Field(default=60.0, ge=0, le=86400)
    # SIGTERM/SIGINT (ddms/http_server.py): streams end, polling stops, the writer flushes, and the
    # process is gone within this many seconds (a second signal: at once).
    shutdown_timeout: float = Field(default=10.0, ge=1, le=600)
    collector_enabled: bool = True
    # Several instances on one PostgreSQL (docs/deployment.md): devices are shared out by advisory
    # locks, changes relayed by NOTIFY, singleton jobs run on the leader. The heartbeat period bounds
    # how soon a dead instance's devices are taken over (a paused one: after 3 heartbeats).
    cluster_enabled: bool = Field(default=True, description="Coordinate instances on PostgreSQL")
    cluster_heartbeat_seconds: float = Field(default=0.5, ge=0.1, le=10)
    storage_secret: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # History jobs (ddms/scheduler.py): rollup refresh and retention periods; backups go to
    # BACKUP_DIR (default <data dir>/backups) on the cron schedule kept in the configuration row.
    history_jobs_enabled: bool = True
    rollup_interval: float = Field(default=60.0, gt=0, le=86400)
    retention_interval: float = Field(default=3600.0, gt=0, le=7 * 86400)
    backup_dir: Path | None = None
    # Alarms (docs/alarms.md): evaluated by the collector on every poll; their history and the
    # per-user notifications are purged by the retention job after these many days.
    alarms_enabled: bool = Field(default=True, description="Evaluate alarm rules on every poll")
    alarm_retention_days: int = Field(
        default=365, ge=1, le=36500, description="Days cleared alarms and their history are kept"
    )
    notification_retention_days: int = Field(
        default=90, ge=1, le=36500, description="Days per-user notifications are kept"
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        if value.startswith("postgresql://"):
            return "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("ddms_owner_password")
    @classmethod
    def _owner_password_rules(cls, value: str) -> str:
        """Checked here so a bad value stops start-up with one line (the value itself is never shown)."""
        if not value:
            return value
        from ddms.security import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH  # it hashes at import: only now

        if len(value) < MIN_PASSWORD_LENGTH or len(value.encode()) > MAX_PASSWORD_BYTES:
            raise ValueError(f"must be {MIN_PASSWORD_LENGTH} characters to {MAX_PASSWORD_BYTES} bytes long")
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        # RFC 7518: an HMAC key at least as long as the hash (PyJWT warns on every token otherwise).
        minimum = SECRET_BYTES_FOR_ALGORITHM[self.jwt_algorithm]
        if self.ddms_env == "production" and len(self.jwt_secret_key.encode()) < minimum:
            raise ValueError(f"JWT_SECRET_KEY must be set to at least {minimum} bytes in production")
        if self.jwt_secret_key and len(self.jwt_secret_key.encode()) < minimum:
            raise ValueError(f"JWT_SECRET_KEY must be at least {minimum} bytes for {self.jwt_algorithm}")
        return self

    @property
    def resolved_database_url(self) -> str:
        """DATABASE_URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.ddms_data_dir / 'ddms.db').resolve()}"

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @cached_property
    def jwt_secret(self) -> str:
        """The configured secret, or one generated once and kept in the data directory (0600).

        Cached: the file is read once per Settings, not once per request.
        """
        if self.jwt_secret_key:
            return self.jwt_secret_key
        return _secret_from_file(self.ddms_data_dir / SECRET_FILE_NAME)

    @property
    def ui_storage_secret(self) -> str:
        """Secret for NiceGUI's signed session cookie; derived from the JWT secret when unset."""
        return self.storage_secret or "ui-" + self.jwt_secret


def _secret_from_file(path: Path) -> str:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # created owner-only
        if path.exists():
            secret = path.read_text(encoding="utf-8").strip()
            if len(secret.encode()) >= MIN_SECRET_BYTES:
                return secret
        secret = secrets.token_urlsafe(48)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(secret, encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or exc
        message = f"Invalid configuration: DDMS_DATA_DIR: cannot keep the JWT secret in {path}: {reason}"
        raise ConfigError(message) from None
    logger.info("generated a JWT secret in %s", path)
    return secret


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation error into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["loc"]:  # a cross-field rule (no location) names its variable in the message
            message = f"{str(first['loc'][0]).upper()}: {message}"
        raise ConfigError(f"Invalid configuration: {message}") from None


@lru_cache
def get_settings() -> Settings:
    """The process-wide Settings (read once)."""
    return load_settings()
