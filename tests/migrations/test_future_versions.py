"""What the migration environment guarantees to versions not written yet, on SQLite.

The versions shipped today only create things; later ones will alter tables. These tests add
versions to a copy of the packaged ``migrations`` folder (same env.py) and run them for real.
"""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import text

import ddms.migrate
import migrations
from ddms import db
from ddms.migrate import SchemaError, label, upgrade_sync
from tests.migrations.test_kill import add_data, readings_count, revisions, snapshot

VERSION = """
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
"""


@pytest.fixture
def with_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Add one version after today's head to a copy of the migrations; ddms.migrate then uses it."""
    copy = tmp_path / "migrations"
    shutil.copytree(Path(migrations.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))

    def add(revision: str, body: str) -> str:
        source = VERSION.format(
            revision=revision, down=revisions()[-1], body=textwrap.indent(body.strip(), "    ")
        )
        (copy / "versions" / f"{revision}.py").write_text(source)

        def config(url: str, timescaledb: str | None = None) -> Config:
            chosen = Config()
            chosen.set_main_option("script_location", str(copy))
            chosen.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
            if timescaledb is not None:
                chosen.attributes["timescaledb"] = timescaledb
            return chosen

        monkeypatch.setattr(ddms.migrate, "alembic_config", config)
        return revision

    return add


def test_rebuilding_devices_in_batch_mode_keeps_the_readings(tmp_path: Path, with_version) -> None:  # type: ignore[no-untyped-def]
    """SQLite's ALTER goes through a copy of the table and DROP TABLE devices; with foreign keys on,
    that DROP would cascade-delete every reading. The environment turns them off per migration."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
    upgrade_sync(url)
    stored = add_data(url)
    revision = with_version(
        "900_devices_note",
        """
with op.batch_alter_table("devices", recreate="always") as batch:
    batch.add_column(sa.Column("note", sa.Text(), nullable=True))
""",
    )
    upgrade_sync(url)
    assert snapshot(url)["version"] == [revision]
    assert readings_count(url) == stored


def test_a_version_that_orphans_rows_is_rolled_back(tmp_path: Path, with_version) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
    upgrade_sync(url)
    head = revisions()[-1]
    before = snapshot(url)
    with_version(
        "901_orphans",
        """
op.create_table("scratch", sa.Column("id", sa.Integer(), primary_key=True))
op.execute("INSERT INTO readings (timestamp, device_id, value) VALUES ('2026-01-01 00:00:00', 'ffff', 1)")
""",
    )
    with pytest.raises(SchemaError) as raised:
        upgrade_sync(url)
    assert raised.value.detail.startswith(
        f"migration 901 failed and was rolled back, the database is still at {label(head)}"
    )
    assert "left without their parent" in raised.value.detail
    assert snapshot(url) == before  # no scratch table, no stamp

    async def orphans() -> int:
        engine = db.create_engine(url)
        try:
            async with engine.connect() as connection:
                return int((await connection.execute(text("SELECT count(*) FROM readings"))).scalar_one())
        finally:
            await engine.dispose()

    assert asyncio.run(orphans()) == 0
