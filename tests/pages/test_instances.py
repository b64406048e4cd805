"""The Settings page's instances on the embedded SQLite database: one, this process (the PostgreSQL
list of several is checked with two real servers in tests/e2e/test_instances.py)."""

from __future__ import annotations

from nicegui.testing import User

from ddms.models import User as Account


async def test_sqlite_has_one_instance(user: User, owner: Account, sign_in) -> None:
    await sign_in(owner)
    await user.open("/settings")
    await user.should_see(marker="instances")
    await user.should_see("One instance: the embedded SQLite database serves this process only.")
