"""Fixtures for the page tests (NiceGUI user simulation, no browser).

Run them apart from the rest of the suite, with NiceGUI's plugin:

    .venv/bin/pytest -p nicegui.testing.user_plugin tests/pages

Page logic does not depend on the database backend, so these tests use one migrated SQLite file
(the services themselves are tested on both backends elsewhere). Users are inserted with one
bcrypt hash computed per session; signing in goes through the login page only where login is the
behaviour under test, elsewhere ``sign_in`` puts the account into the browser session directly.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

import ddms.db
from ddms import runtime
from ddms.config import Settings, load_settings
from ddms.migrate import upgrade
from ddms.models import Role, utcnow
from ddms.models import User as Account
from ddms.security import hash_password
from ddms.services import alarms
from ddms.services.alarm_rules import AlarmEngine
from tests.conftest import TEST_SECRET, fresh_database
from tests.pages import harness

MAIN_FILE = Path(__file__).with_name("main.py")
PASSWORD = "page-test-password"


@pytest.fixture(scope="session")
async def ui_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('pages') / 'ddms.db'}"
    await upgrade(url)
    return url


@pytest.fixture(scope="session")
async def password_hash() -> str:
    return await hash_password(PASSWORD)


@pytest.fixture
async def ui_database(ui_db_url: str, ui_settings: Settings) -> AsyncIterator[ddms.db.Database]:
    """A fresh runtime for the pages, as an app's lifespan makes one: database, settings, clock."""
    async with fresh_database(ui_db_url) as database:
        pages_runtime = runtime.current()
        pages_runtime.settings = ui_settings
        pages_runtime.clock = lambda: harness.now()
        yield database


@pytest.fixture
def ui_settings(ui_db_url: str, tmp_path: Path) -> Settings:
    settings = load_settings(
        database_url=ui_db_url,
        ddms_data_dir=tmp_path / "data",
        jwt_secret_key=TEST_SECRET,
        cookie_secure=False,
        collector_enabled=False,
        auto_migrate=False,
        app_title="Plant DDMS",
    )
    harness.current_settings = settings
    return settings


@pytest.fixture
async def user(
    ui_database: ddms.db.Database, ui_settings: Settings, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[User]:
    """A simulated browser on the real pages (replaces the plugin's fixture to build our app)."""
    async with user_simulation(main_file=MAIN_FILE) as simulated:
        simulated.javascript_rules[re.compile(r".*Intl\.DateTimeFormat.*")] = lambda _match: "UTC"
        yield simulated
    errors = [record for record in caplog.get_records("call") if record.levelname == "ERROR"]
    assert not errors, f"unexpected ERROR logs: {[record.getMessage() for record in errors]}"


@pytest.fixture
def make_account(ui_database: ddms.db.Database, password_hash: str) -> Callable[..., Awaitable[Account]]:
    async def make(username: str, role: Role = Role.READ_ONLY, language: str = "en") -> Account:
        account = Account(
            username=username, password_hash=password_hash, role=role, language_preference=language
        )
        async with ddms.db.session_scope() as session:
            session.add(account)
            await session.commit()
        return account

    return make


async def log_in(user: User, username: str, password: str = PASSWORD, *, page: str | None = "/login") -> None:
    """Sign in through the login page, as a person would (``page=None``: the one already open)."""
    if page is not None:
        await user.open(page)
    user.find(marker="username").type(username)
    user.find(marker="password").type(password)
    user.find(marker="login-button").click()


@pytest.fixture
def sign_in(user: User) -> Callable[[Account], Awaitable[None]]:
    async def sign(account: Account) -> None:
        await log_in(user, account.username)
        await user.should_see(marker="page-title", retries=100)

    return sign


@pytest.fixture
def alarm_engine() -> Iterator[AlarmEngine]:
    """The collector's alarm engine in this process (the bell and cards read it from memory)."""
    engine = AlarmEngine()
    alarms.set_engine(engine)
    yield engine
    alarms.set_engine(None)


@pytest.fixture
def page_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """A fixed "now" for the pages' time windows, 0.1 s before a minute boundary: the moment where a
    window that ends now is about to move to the next 5 s bucket and the next minute."""
    moment = utcnow().replace(second=0, microsecond=0) - timedelta(milliseconds=100)
    monkeypatch.setattr(harness, "now", lambda: moment)
    return moment


@pytest.fixture
async def owner(make_account: Callable[..., Awaitable[Account]]) -> Account:
    return await make_account("admin", Role.OWNER)


@pytest.fixture
async def admin(make_account: Callable[..., Awaitable[Account]]) -> Account:
    return await make_account("engineer", Role.ADMIN)


@pytest.fixture
async def reader(make_account: Callable[..., Awaitable[Account]]) -> Account:
    return await make_account("operator", Role.READ_ONLY)
