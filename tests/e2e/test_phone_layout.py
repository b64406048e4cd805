"""A 390 px phone (issue 12): the header stays on one row and the navigation lives in a drawer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, logged_in_page

PHONE = {"width": 390, "height": 844}

# Boxes of the header and of each of its shown children (display: none ones have no box).
BOXES_JS = """() => {
  const header = document.querySelector('[data-testid=header]');
  const box = (el) => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
    left: r.left, right: r.right, height: r.height, width: r.width}; };
  const shown = [...header.children].filter(
    (el) => el.getClientRects().length && box(el).width > 0 && box(el).height > 0);
  return {header: box(header), children: shown.map(box), page: document.documentElement.scrollWidth};
}"""


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def test_header_is_one_row_at_390_px(phone: Page, live_server: LiveServer) -> None:
    await logged_in_page(phone, live_server)
    await phone.goto(live_server.url + "/")
    await expect(phone.get_by_test_id("page-title")).to_be_visible()
    boxes = await phone.evaluate(BOXES_JS)
    header, children = boxes["header"], boxes["children"]
    assert len(children) >= 4, children  # menu, title, bell, connection, user menu at least
    assert header["height"] <= 64, f"the header is {header['height']} px high: it wrapped"
    # one row: every child lies within the header and all of them share one horizontal band
    for child in children:
        assert header["top"] - 1 <= child["top"], child
        assert child["bottom"] <= header["bottom"] + 1, child
        assert child["right"] <= PHONE["width"] + 1, f"a header item sticks out: {child}"
    assert max(c["top"] for c in children) < min(c["bottom"] for c in children), children
    assert boxes["page"] <= PHONE["width"], f"the page scrolls sideways ({boxes['page']} px)"


async def test_navigation_opens_in_a_drawer_on_a_phone(phone: Page, live_server: LiveServer) -> None:
    await logged_in_page(phone, live_server)
    await phone.goto(live_server.url + "/")
    devices_link = phone.locator(".q-drawer").get_by_text("Devices", exact=True)
    await expect(devices_link).not_to_be_in_viewport()  # closed at first: the page gets the width
    await phone.get_by_test_id("menu").click()
    await expect(devices_link).to_be_in_viewport()
    await expect(phone.locator(".q-drawer").get_by_text("Dark mode")).to_be_visible()  # moved from the header
    await devices_link.click()
    await phone.wait_for_url(live_server.url + "/devices")
    await expect(phone.get_by_test_id("page-title")).to_have_text("Devices")
