"""The banner every signed-in page shows while readings are not being stored (a real writer, a real
SQLite write lock): since when, and how many readings wait on disk; gone once they are written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from nicegui.testing import User

import ddms.db
from collector.writer import Writer
from ddms import runtime
from ddms.bus import get_bus
from ddms.models import Role, utcnow
from ddms.models import User as Account
from tests.collector.test_outage import _outage
from tests.pages.helpers import eventually, make_device


async def test_the_banner_says_readings_wait_on_disk_until_they_are_written(
    user: User,
    ui_database: ddms.db.Database,
    make_account: Callable[..., Awaitable[Account]],
    sign_in: Callable[[Account], Awaitable[None]],
    tmp_path: Path,
) -> None:
    device = await make_device("Boiler")
    writer = Writer(get_bus(), spool_path=tmp_path / "spool.db", failing_after=0.0, flush_interval=0.2)
    await writer.start()
    runtime.current().collectors.append(SimpleNamespace(writer=writer))  # what health reads
    reader = await make_account("reader", Role.READ_ONLY)
    try:
        await sign_in(reader)
        await user.should_not_see(marker="writer-banner")
        start = utcnow() - timedelta(hours=2)
        async with _outage(ui_database):
            for second in range(4312):
                writer.add(device.id, start + timedelta(seconds=second), float(second))
            await eventually(
                lambda: writer.health().writer == "failing" and writer.health().spool_rows == 4312,
                within=60,
            )
            await user.should_see("4,312 waiting on disk", retries=50)
            await user.should_see("Readings are not being stored since")
            await user.open("/devices")  # every page
            await user.should_see("4,312 waiting on disk", retries=50)
        await eventually(lambda: writer.health().writer == "ok", within=60)
        await user.should_not_see(marker="writer-banner", retries=50)
    finally:
        runtime.current().collectors.clear()
        await writer.stop()


async def test_the_banner_in_chinese(
    user: User,
    ui_database: ddms.db.Database,
    make_account: Callable[..., Awaitable[Account]],
    sign_in: Callable[[Account], Awaitable[None]],
    tmp_path: Path,
) -> None:
    writer = Writer(get_bus(), spool_path=tmp_path / "spool.db", failing_after=0.0)
    await writer.open_spool()
    device = await make_device("Boiler")
    writer.add(device.id, utcnow(), 1.0)
    assert await writer.spill()
    writer._failed(OSError("database away"))  # the state a failed flush leaves (no task running)
    runtime.current().collectors.append(SimpleNamespace(writer=writer))
    try:
        await sign_in(await make_account("lin", Role.READ_ONLY, language="zh"))
        await user.should_see("条读数在磁盘上等待写入", retries=50)
    finally:
        runtime.current().collectors.clear()
        assert writer.spool is not None
        writer.spool.close()
