"""Two ``ddms serve`` on one PostgreSQL database, as behind a load balancer without sticky sessions:
a browser signed in on one is signed in on the other, and a logout on either ends it on both; the
Settings page lists both instances.

Chromium keeps cookies per host, not per port, so two instances on 127.0.0.1 see the same browser
(the same signed browser id, both having the same secret), as two instances behind one address do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.conftest import OWNER, LiveServer, logged_in_page, start_server


@pytest.fixture
async def two_instances(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, LiveServer]]:
    url = await create_pg_database()
    servers: list[LiveServer] = []
    try:
        for name in ("a", "b"):  # in turn: the first migrates, the second finds the schema current
            servers.append(
                await asyncio.to_thread(start_server, tmp_path / name, extra_env={"DATABASE_URL": url})
            )
        yield servers[0], servers[1]
    finally:
        for server in servers:
            code = await asyncio.to_thread(server.stop)
            assert code == 0, server.log()[-3000:]
        await drop_pg_database(url)


async def test_a_sign_in_on_one_instance_holds_on_the_other_and_a_logout_ends_both(
    page: Page, two_instances: tuple[LiveServer, LiveServer]
) -> None:
    first, second = two_instances
    await logged_in_page(page, first)
    await page.goto(second.url + "/devices")  # the load balancer sent this one to the other instance
    await expect(page.get_by_role("button", name="Add device")).to_be_visible()
    assert "/login" not in page.url
    await page.goto(second.url + "/settings")  # the owner sees both instances, this one marked
    instances = page.get_by_test_id("instance")
    await expect(instances).to_have_count(2)
    await expect(instances.filter(has_text="this instance")).to_have_count(1)
    await expect(instances.filter(has_text="Live,")).to_have_count(2)

    await page.get_by_role("button", name=OWNER).click()  # the user menu in the header
    await page.get_by_text("Log out", exact=True).click()
    await page.wait_for_url(lambda url: "/login" in url)
    await page.goto(first.url + "/devices")  # the first still has its own copy of the session
    await page.wait_for_url(lambda url: "/login" in url)
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
