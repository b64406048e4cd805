"""What each role sees: a read-only account gets the data but none of the controls that change it."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.e2e.conftest import VIEWER_PASSWORD, LiveServer, logged_in_page


async def test_read_only_user_sees_devices_but_no_edit_controls(
    page: Page, live_server: LiveServer, viewer: str, parked_device: dict[str, object]
) -> None:
    await logged_in_page(page, live_server, viewer, VIEWER_PASSWORD)
    await page.goto(live_server.url + "/devices")
    await expect(page.get_by_role("link", name=str(parked_device["name"]))).to_be_visible()
    for control in ("Add device", "Edit", "Delete", "Test connection"):
        await expect(page.get_by_role("button", name=control)).to_have_count(0)
    await expect(page.get_by_text("Users", exact=True)).to_have_count(0)
    await expect(page.get_by_text("Settings", exact=True)).to_have_count(0)


async def test_owner_sees_the_same_row_with_its_controls(
    page: Page, live_server: LiveServer, parked_device: dict[str, object]
) -> None:
    """The counterpart of the read-only test: the selectors above do find controls when allowed."""
    await logged_in_page(page, live_server)
    await page.goto(live_server.url + "/devices")
    row = page.locator(".q-card").filter(has=page.get_by_role("link", name=str(parked_device["name"])))
    for control in ("Edit", "Delete", "Test connection"):
        await expect(row.get_by_role("button", name=control)).to_be_visible()
    await expect(page.get_by_role("button", name="Add device")).to_be_visible()


async def test_read_only_user_typing_an_owner_address_gets_no_page(
    page: Page, live_server: LiveServer, viewer: str
) -> None:
    """Hidden links are not the protection: the server refuses the pages themselves."""
    await logged_in_page(page, live_server, viewer, VIEWER_PASSWORD)
    for path in ("/users", "/settings"):
        await page.goto(live_server.url + path)
        await expect(page.get_by_text("You do not have permission to see this page.")).to_be_visible()
        await expect(page.get_by_role("button", name="Add user")).to_have_count(0)
