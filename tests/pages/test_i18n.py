"""Translations: the catalogs cover every message, and pages in Chinese show no English."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from nicegui.testing import User

import ddms.db
from ddms import i18n
from ddms.models import Role
from ddms.services import backup, users
from pages import session
from tests.pages.helpers import eventually, make_device, make_group, texts

ROOT = Path(__file__).resolve().parents[2]
# Words that stay as they are in Chinese: names, protocols, formats and values typed by people.
ALLOWED = {
    "DDMS",
    "CSV",
    "Modbus",
    "SSE",
    "cron",
    "ID",
    "IP",
    "IPv4",
    "IPv6",
    "English",
    "ms",
    "UTC",
}  # UTC: a zone name


def source_messages() -> set[str]:
    """Every message the code marks for translation, extracted now (not the stored .pot)."""
    method_map = [("pages/**.py", "python"), ("ddms/**.py", "python")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map=method_map, keywords={"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    ):
        found.update(message if isinstance(message, tuple) else (message,))
    return {message for message in found if message}


def test_every_message_has_a_zh_translation() -> None:
    with (ROOT / "locales/zh/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(source_messages() - translated)
    assert not missing, f"messages without a zh translation (run the update in docs/i18n.md): {missing}"


def test_placeholders_survive_translation() -> None:
    with (ROOT / "locales/zh/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    for message in catalog:
        if message.id:
            names = re.compile(r"\{\w+\}")
            assert set(names.findall(message.id)) == set(names.findall(message.string)), message.id


def test_compile_writes_mo_files_that_gettext_reads(tmp_path: Path) -> None:
    target = tmp_path / "zh" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "messages.po").write_bytes((ROOT / "locales/zh/LC_MESSAGES/messages.po").read_bytes())
    assert i18n.compile_catalogs(tmp_path) == [target / "messages.mo"]
    assert i18n.compile_catalogs(tmp_path) == []  # up to date: nothing rewritten
    assert i18n.gettext("Add device", "zh") == "添加设备"


def test_service_errors_are_translated_from_their_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from ddms.errors import Conflict

    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    taken = Conflict("device_name_taken", field="name", params={"name": "Boiler"})
    assert i18n.translate_error(taken) == "名为“Boiler”的设备已存在"


def test_dates_and_numbers_follow_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    monkeypatch.setattr(i18n, "current_language", lambda: "en")
    english = (i18n.format_datetime(moment, "UTC"), i18n.format_number(12345.678))
    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    chinese = (i18n.format_datetime(moment, "UTC"), i18n.format_number(12345.678))
    assert english == ("Mar 4, 2026, 5:06:07\u202fAM", "12,345.68")
    assert chinese[0].startswith("2026年3月4日")
    assert chinese[1] == "12,345.68"
    assert i18n.format_datetime(moment, "Asia/Shanghai").endswith("13:06:07")
    assert i18n.format_moment(moment, "UTC", now=moment.replace(hour=23)) == "05:06:07"  # today: time only
    assert i18n.format_moment(moment, "UTC", now=moment.replace(day=5)).startswith("2026/3/4")


def english_words(strings: list[str], data: set[str]) -> list[str]:
    leftovers = []
    for text in strings:
        for value in data:
            text = text.replace(value, " ")
        leftovers += [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if w not in ALLOWED]
    return leftovers


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/devices",
        "/devices/{device}",
        "/groups",
        "/groups/{group}",
        "/users",
        "/settings",
        "/profile",
        "/display",
        "/alarms",
    ],
)
async def test_pages_in_chinese_show_no_english(user: User, make_account, sign_in, path: str) -> None:
    boss = await make_account("boss", Role.OWNER, language="zh")
    boiler = await make_device("Boiler", unit="bar", threshold_warning_upper=5)
    group = await make_group("Water", [boiler])
    await sign_in(boss)
    await user.open(path.format(device=boiler.id, group=group.id))
    data = {
        "Boiler",
        "Water",
        "boss",
        "bar",
        "uint16",
        "ABCD",
        "Plant DDMS",
        "127.0.0.1",
        str(backup.backup_dir(session.settings())),
    }  # a file path is data, not a message
    assert english_words(texts(user), data) == []


async def test_the_english_detector_finds_english(user: User, make_account, sign_in) -> None:
    """The check above can fail: the same page in English is full of English words."""
    boss = await make_account("boss", Role.OWNER, language="en")
    await make_device("Boiler")
    await sign_in(boss)
    await user.open("/devices")
    assert {"Add", "device", "Edit", "Delete", "Dashboard"} <= set(english_words(texts(user), {"Boiler"}))


async def test_header_language_switch_saves_on_the_account(user: User, make_account, sign_in) -> None:
    worker = await make_account("worker", Role.READ_ONLY, language="en")
    await sign_in(worker)
    await user.open("/devices")
    user.find(marker="language-zh").click()

    async def preference() -> str:
        async with ddms.db.session_scope() as session:
            return (await users.get_user(session=session, user_id=worker.id)).language_preference

    for _attempt in range(200):
        if await preference() == "zh":
            break
        await asyncio.sleep(0.05)
    assert await preference() == "zh"
    await user.open("/devices")
    await user.should_see(marker="page-title", content="设备")


async def test_validation_and_service_messages_in_chinese(user: User, make_account, sign_in) -> None:
    engineer = await make_account("engineer", Role.ADMIN, language="zh")
    await make_device("Boiler")
    await sign_in(engineer)
    await user.open("/devices")
    user.find(marker="add-device").click()
    await user.should_see(marker="device-dialog", retries=100)
    user.find(marker="field-name").type("Boiler")
    user.find(marker="field-modbus_port").elements.pop().value = 70000
    user.find(marker="save").click()
    port = user.find(marker="field-modbus_port").elements.pop()
    await eventually(lambda: port.error)
    host = user.find(marker="field-modbus_ip").elements.pop()
    assert (port.error, host.error) == ("不能大于 65535", "必填")
    port.value = 502
    user.find(marker="field-modbus_ip").type("10.0.0.1")
    user.find(marker="save").click()
    name = user.find(marker="field-name").elements.pop()
    await eventually(lambda: name.error)
    assert name.error == "名为“Boiler”的设备已存在"
