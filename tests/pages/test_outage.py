"""A page whose database is gone shows a translated error state, never the exception, and comes back.

The outage is the one people met: PostgreSQL refusing connections (``ConnectionRefusedError``). The
pages' runtime database is pointed at a port where nothing listens, and back. The automatic retry is
pushed far away (``BACKOFF``), so a test retries by clicking Retry or by running the retry timer's
callback, as the timer does when its delay is over: no test waits for a back-off.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from nicegui import ui
from nicegui.testing import User

import ddms.db
from ddms import runtime
from ddms.bus import Revocation, get_bus
from ddms.models import Role
from ddms.models import User as Account
from pages.components import retry
from tests.pages.conftest import log_in
from tests.pages.helpers import eventually, make_device, make_group, texts

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"
LEAKS = ("ConnectionRefusedError", "Traceback", "OperationalError", "Errno", "OSError", "127.0.0.1:1")
DOWN = "The database cannot be reached."


class Outage:
    """Switch the pages' database between the real one and one that refuses connections."""

    def __init__(self, database: ddms.db.Database) -> None:
        self.database = database
        self.unreachable = ddms.db.Database(UNREACHABLE)

    def begin(self) -> None:
        runtime.current().database = self.unreachable

    def end(self) -> None:
        runtime.current().database = self.database


@pytest.fixture
async def outage(ui_database: ddms.db.Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Outage]:
    monkeypatch.setattr(retry, "BACKOFF", retry.Backoff(first=1000.0, most=4000.0))
    down = Outage(ui_database)
    try:
        yield down
    finally:
        down.end()
        await down.unreachable.dispose()


def shown(user: User) -> str:
    return "\n".join(texts(user))


def assert_no_exception_text(user: User) -> None:
    page = shown(user)
    leaked = [word for word in LEAKS if word in page]
    assert not leaked, f"the page shows {leaked}:\n{page}"


async def data_pages() -> dict[str, str]:
    """Every page that reads the database when it opens -> a marker its real content has."""
    boiler = await make_device("Boiler")
    group = await make_group("Water", [boiler])
    return {
        "/": "cards",
        "/devices": "device-count",
        f"/devices/{boiler.id}": "history-chart",
        "/groups": "add-group",
        f"/groups/{group.id}": "group-chart",
        f"/compare?devices={boiler.id}": "compare-chart",
        "/alarms": "alarm-rows",
        "/users": "add-user",
        "/settings": "settings-form",
        "/profile": "profile-form",
        "/display": "tiles",
        f"/display/{group.id}": "tiles",
    }


async def test_every_data_page_shows_the_error_state_and_then_its_content(
    user: User, owner: Account, sign_in: Callable, outage: Outage
) -> None:
    pages = await data_pages()
    await sign_in(owner)
    for path, content in pages.items():
        outage.begin()
        await user.open(path)
        await user.should_see(marker="page-error")
        await user.should_see(DOWN)
        await user.should_see("Retrying in 1,000 s…")
        await user.should_not_see(marker=content)
        assert_no_exception_text(user)

        outage.end()
        user.find(marker="retry").click()
        await user.should_see(marker=content)
        await user.should_not_see(marker="page-error")


async def test_a_retry_while_the_database_is_still_away_waits_longer(
    user: User, reader: Account, sign_in: Callable, outage: Outage
) -> None:
    await sign_in(reader)
    outage.begin()
    await user.open("/devices")
    await user.should_see("Retrying in 1,000 s…")
    user.find(marker="retry").click()
    await user.should_see("Retrying in 2,000 s…")  # a new attempt failed: the delay doubled
    assert_no_exception_text(user)
    outage.end()
    user.find(marker="retry").click()
    await user.should_see(marker="device-count")


async def test_the_retry_timer_loads_the_page_when_the_database_is_back(
    user: User, reader: Account, sign_in: Callable, outage: Outage
) -> None:
    await make_device("Boiler")
    await sign_in(reader)
    outage.begin()
    await user.open("/")
    await user.should_see(marker="page-error")
    outage.end()
    timer = next(iter(user.find(marker="retry-timer").elements))
    assert isinstance(timer, ui.timer)
    assert timer.callback is not None
    timer.callback()  # what the timer does when its delay is over
    await user.should_see(marker="cards")
    await user.should_see("Boiler")


async def test_the_error_state_is_in_chinese_for_a_chinese_user(
    user: User, make_account: Callable, sign_in: Callable, outage: Outage
) -> None:
    account = await make_account("caozuoyuan", Role.READ_ONLY, language="zh")
    await sign_in(account)
    outage.begin()
    await user.open("/alarms")
    await user.should_see("无法连接数据库。")
    await user.should_see("1,000 秒后重试…")
    await user.should_see("重试")
    page = shown(user)
    assert DOWN not in page
    assert "Retry" not in page
    assert_no_exception_text(user)
    outage.end()
    user.find(marker="retry").click()
    await user.should_see(marker="alarm-rows")


async def test_a_page_failing_half_built_leaves_no_header_or_listeners_behind(
    user: User, reader: Account, sign_in: Callable, outage: Outage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device page builds its frame, card and chart before it reads the alarm history."""
    from pages.components.alarm_history import AlarmHistoryList

    boiler = await make_device("Boiler")
    await sign_in(reader)
    real_load = AlarmHistoryList.load
    failing = [True]

    async def load(self: AlarmHistoryList) -> None:
        if failing[0]:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
        await real_load(self)

    monkeypatch.setattr(AlarmHistoryList, "load", load)
    await user.open(f"/devices/{boiler.id}")
    await user.should_see(marker="page-error")
    await user.should_not_see(marker="page-title")  # the frame built before the failure is gone
    await user.should_not_see(marker="alarm-bell")  # with its header
    assert user.client is not None
    assert not user.client.delete_handlers
    assert_no_exception_text(user)

    failing[0] = False
    user.find(marker="retry").click()
    await user.should_see(marker="alarm-history")
    assert len(user.find(marker="alarm-bell").elements) == 1


async def test_the_session_recheck_keeps_the_page_while_the_database_is_away(
    user: User, reader: Account, sign_in: Callable, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    await sign_in(reader)
    await user.open("/devices")
    await user.should_see(marker="device-count")
    outage.begin()
    get_bus().revoked(Revocation(user_id=reader.id))  # the page re-checks its session at once
    await eventually(lambda: any("session re-check" in r.getMessage() for r in caplog.records))
    await user.should_see(marker="device-count")  # not sent to the login page, no error shown
    assert all(r.levelname == "WARNING" for r in caplog.records if "session re-check" in r.getMessage())


async def test_a_download_during_an_outage_is_a_503_without_internals(
    user: User, reader: Account, sign_in: Callable, outage: Outage
) -> None:
    await sign_in(reader)
    outage.begin()
    answer = await user.http_client.get(f"/ui/export/device/{uuid.uuid4()}")
    assert (answer.status_code, answer.json()) == (503, {"detail": "Database unavailable, try again shortly"})


async def test_an_exception_escaping_a_page_shows_no_exception_text(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    @ui.page("/test-broken-page")
    def broken() -> None:
        raise RuntimeError("secret internals of the server")

    answer = await user.http_client.get("/test-broken-page")
    assert answer.status_code == 500
    assert "This page could not be loaded." in answer.text
    for leak in ("secret internals", "RuntimeError", "Traceback"):
        assert leak not in answer.text
    assert any("secret internals" in str(r.exc_info) for r in caplog.records if r.levelname == "ERROR")
    caplog.clear()  # logged on the server, as it should be


async def test_logging_in_while_the_database_is_away_says_so(
    user: User, reader: Account, outage: Outage
) -> None:
    await user.open("/login")
    outage.begin()
    await log_in(user, reader.username, page=None)
    await user.should_see("The database cannot be reached. Try again in a moment.")
    assert_no_exception_text(user)
    outage.end()
    user.find(marker="login-button").click()
    await user.should_see(marker="page-title", retries=100)


async def test_a_filter_chosen_during_an_outage_tells_the_user_and_keeps_the_page(
    user: User, reader: Account, sign_in: Callable, outage: Outage
) -> None:
    boiler = await make_device("Boiler")
    group = await make_group("Water", [boiler])
    await sign_in(reader)
    await user.open("/")
    await user.should_see(marker=f"device-card-{boiler.id}")
    outage.begin()
    user.find(marker="group-filter").elements.pop().value = str(group.id)
    await eventually(lambda: "The database cannot be reached. Try again in a moment." in user.notify.messages)
    await user.should_see(marker=f"device-card-{boiler.id}")


async def test_a_click_during_an_outage_says_the_database_is_away_and_changes_nothing(
    user: User, owner: Account, sign_in: Callable, outage: Outage
) -> None:
    await sign_in(owner)
    await user.open("/")
    await user.should_see(marker="cards")
    outage.begin()
    user.find(marker="mark-all-read").click()  # reads the acting user, then writes: both need the database
    await user.should_see(DOWN)
    assert_no_exception_text(user)
    outage.end()
    user.find(marker="mark-all-read").click()
    await user.should_not_see("That did not work")
