"""Anonymous visitors leave no server-side storage; their language lives in the session cookie."""

from __future__ import annotations

from nicegui.storage import Storage
from nicegui.testing import User

from ddms.config import Settings
from ddms.models import User as Account
from tests.pages.conftest import log_in
from tests.pages.helpers import eventually

NO_DEVICES_ZH = "没有可显示的设备。"


def stored_sessions() -> list[str]:
    return sorted(path.name for path in Storage.path.glob("storage-user-*"))


async def test_sessions_are_kept_in_the_data_directory(
    user: User, ui_settings: Settings, reader: Account
) -> None:
    assert Storage.path == (ui_settings.ddms_data_dir / "ui-sessions").resolve()
    await log_in(user, "operator")
    await user.should_see(marker="page-title", retries=100)
    assert user.client is not None
    session_id = user.client.request.session["id"]
    await eventually(lambda: stored_sessions() == [f"storage-user-{session_id}.json"])


async def test_switching_the_language_on_the_login_page_stores_nothing(user: User) -> None:
    await user.open("/login?redirect_to=/devices")
    user.find(marker="language-zh").click()
    await user.should_see("登录", retries=100)
    await user.should_see(marker="login-card")
    user.find(marker="language-en").click()
    await user.should_see("Log in", retries=100)
    assert stored_sessions() == []


async def test_switching_the_language_on_the_wall_display_stores_nothing(user: User) -> None:
    await user.open("/display")
    user.find(marker="language-zh").click()
    await user.should_see(NO_DEVICES_ZH, retries=100)
    await user.should_see(marker="display-title")
    assert stored_sessions() == []
