"""Notifications are codes with params: every template has a zh translation with its placeholders, the
English REST text is rendered from the one template table, and the pages translate from the codes,
never from the stored English sentence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddms import i18n
from ddms.schemas.alarms import NotificationOut
from ddms.services import alarm_texts
from ddms.services.alarm_rules import FAILED_POLLS, AlarmEngine, Change
from ddms.services.alarms import notification_for
from pages.components import notice_text
from tests.alarms.test_rules import Dev, feed
from tests.unit.test_error_codes import PLACEHOLDER, zh_catalog

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def templates() -> dict[str, str]:
    return {
        **{f"title {code}": text for code, text in alarm_texts.TITLES.items()},
        **{f"message {code}": text for code, text in alarm_texts.MESSAGES.items()},
        **{f"part {code}": text for code, text in alarm_texts.PARTS.items()},
        "separator": alarm_texts.SEPARATOR,
    }


def test_every_template_has_a_zh_translation_with_the_same_placeholders() -> None:
    zh = zh_catalog()
    for code, template in templates().items():
        assert template.strip(" ") or code == "separator", code
        assert template in zh, f"{code}: no zh translation of {template!r} (see docs/i18n.md)"
        assert set(PLACEHOLDER.findall(zh[template])) == set(PLACEHOLDER.findall(template)), code


def notifications(changes: list[Change]) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    out = []
    for change in changes:
        if change.transition == "updated":
            continue
        kind, severity, params = notification_for(change)
        out.append((kind, severity, alarm_texts.title(params), alarm_texts.message(params), params))
    return out


def episode() -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """Raised, escalated, de-escalated and cleared threshold alarms, then offline and back."""
    engine, device = AlarmEngine(), Dev(uuid.uuid4(), name="Boiler")
    changes = feed(engine, device, [81.5, 95.25, 87.5, 1234.5, 77])
    for second in range(10, 10 + FAILED_POLLS):
        changes.extend(engine.failure(device, offline=True, at=T0 + timedelta(seconds=second)))
    changes.extend(feed(engine, device, [50], start=20))
    return notifications(changes)


def test_the_english_text_is_the_contracts_and_params_carry_every_code_and_value() -> None:
    shown = [(kind, severity, title, message) for kind, severity, title, message, _ in episode()]
    assert shown == [
        ("threshold_warning", "warning", "Boiler: warning (raised)", "value 81.5, limit 80, peak 81.5"),
        (
            "threshold_critical",
            "critical",
            "Boiler: critical (escalated)",
            "value 95.25, limit 90, peak 95.25",
        ),
        ("threshold_warning", "warning", "Boiler: warning (deescalated)", "value 87.5, limit 80, peak 95.25"),
        (
            "threshold_critical",
            "critical",
            "Boiler: critical (escalated)",
            "value 1234.5, limit 90, peak 1234.5",
        ),
        ("threshold_cleared", "info", "Boiler is back to normal", "value 77, limit 90, peak 1234.5"),
        ("device_offline", "error", "Boiler is offline", "offline alarm raised"),
        ("device_online", "info", "Boiler is online again", "offline alarm cleared"),
    ]
    params = episode()[1][4]
    assert params == {
        "title": "threshold_level",
        "message": "threshold_values",
        "name": "Boiler",
        "kind": "threshold",
        "severity": "critical",
        "transition": "escalated",
        "value": 95.25,
        "threshold": 90,
        "peak": 95.25,
    }
    assert {p["title"] for *_, p in episode()} <= set(alarm_texts.TITLES)


def stored(title: str, message: str, params: dict[str, Any] | None) -> NotificationOut:
    return NotificationOut(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        type="threshold_critical",
        severity="critical",
        title=title,
        message=message,
        params=params,
        device_id=None,
        alarm_id=None,
        read_at=None,
        created_at=T0,
    )


def test_the_page_translates_from_the_codes_so_rewording_the_english_keeps_zh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    *_, params = episode()[3]
    # The stored English no longer matches any template (a reworded release wrote it): the page
    # does not read it, the reverse parser this replaced would have shown it in English.
    item = stored("Boiler went critical again", "reading 1234.5 over 90", params)
    assert notice_text.title_text(item) == "Boiler：严重（升级）"
    assert notice_text.message_text(item) == "数值 1,234.5，限值 90，峰值 1,234.5"
    offline = stored("Boiler dropped off the bus", "lost", episode()[5][4])
    assert (notice_text.title_text(offline), notice_text.message_text(offline)) == (
        "Boiler 离线",
        "离线报警触发",
    )
    # A reworded template reaches REST and the page alike (one table); its zh entry is checked above.
    monkeypatch.setitem(alarm_texts.TITLES, "threshold_level", "{name} is {severity} now ({transition})")
    assert alarm_texts.title(params) == "Boiler is critical now (escalated)"
    monkeypatch.setattr(i18n, "current_language", lambda: "en")
    assert notice_text.title_text(item) == "Boiler is Critical now (Escalated)"


def test_old_rows_without_params_and_unknown_codes_show_the_stored_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    for params in (None, {}, {"title": "from_a_newer_version", "message": "also_new", "name": "Boiler"}):
        item = stored("Boiler: critical (raised)", "value 97, limit 95", params)
        assert (notice_text.title_text(item), notice_text.message_text(item)) == (
            "Boiler: critical (raised)",
            "value 97, limit 95",
        )


def test_the_reverse_parser_is_gone() -> None:
    assert "re" not in vars(notice_text)
    assert not hasattr(notice_text, "TITLES")
    assert not hasattr(notice_text, "PARTS")
