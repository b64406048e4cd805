"""Errors are codes with params: every code has an English template and a zh translation, every raise
names a known code, and translation and field come from the code, never from the English sentence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from ddms import errors, i18n
from ddms.errors import MESSAGES, Conflict, Invalid

ROOT = Path(__file__).resolve().parents[2]
# A domain error constructed in code: its first argument must be a code literal, never a sentence.
RAISED = re.compile(
    r"(?<!class )\b(?:NotFound|Conflict|Forbidden|Invalid|Unauthorized|RateLimited|Unavailable|Overloaded"
    r"|InvalidValue)"
    r"\(\s*([^,)\s]+)"
)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def zh_catalog() -> dict[str, str]:
    with (ROOT / "locales/zh/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    return {m.id: m.string for m in catalog if isinstance(m.id, str) and m.string and not m.fuzzy}


def test_every_code_has_an_english_template_and_a_zh_translation_with_the_same_placeholders() -> None:
    zh = zh_catalog()
    for code, template in MESSAGES.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert template.strip(), code
        assert template in zh, f"{code}: no zh translation of {template!r} (see docs/i18n.md)"
        assert set(PLACEHOLDER.findall(zh[template])) == set(PLACEHOLDER.findall(template)), code


def test_every_raise_names_a_known_code() -> None:
    sources = [*ROOT.joinpath("ddms").rglob("*.py"), *ROOT.joinpath("pages").rglob("*.py")]
    used = {}
    for path in sources:
        for argument in RAISED.findall(path.read_text(encoding="utf-8")):
            if argument == "code":  # the classes passing their own code on
                continue
            assert re.fullmatch(r'"[a-z0-9_]+"', argument), (
                f"{path}: error built from {argument!r}, not a code"
            )
            used[argument.strip('"')] = path
    unknown = {code: str(path) for code, path in used.items() if code not in MESSAGES}
    assert not unknown, unknown
    assert len(used) > 40  # the scan sees the services' raises


def test_translation_and_field_come_from_the_code_not_the_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    taken = Conflict("device_name_taken", field="name", params={"name": "Boiler"})
    assert taken.detail == "A device named 'Boiler' already exists"  # the REST contract's sentence
    taken.detail = "Somebody reworded this sentence"  # the old reverse parsing relied on it
    assert i18n.translate_error(taken) == "名为“Boiler”的设备已存在"
    assert taken.field == "name"
    order = Invalid(
        "threshold_order_strict",
        field="threshold_warning_lower",
        params={
            "low_field": "threshold_warning_lower",
            "low": 50,
            "high_field": "threshold_warning_upper",
            "high": 10,
        },
    )
    assert order.detail == "threshold_warning_lower (50) must be below threshold_warning_upper (10)"
    assert i18n.translate_error(order) == "警告下限（50）必须小于警告上限（10）"
    monkeypatch.setattr(i18n, "current_language", lambda: "en")
    assert i18n.translate_error(order) == "Warning low (50) must be below Warning high (10)"


def test_an_unknown_code_fails_where_it_is_raised() -> None:
    with pytest.raises(KeyError):
        Invalid("no_such_code")


def test_the_old_reverse_parser_is_gone() -> None:
    assert not hasattr(i18n, "translate_detail")
    assert not hasattr(i18n, "ERROR_TEMPLATES")
    assert errors.render("not_null", {"field": "name"}) == "name cannot be null"


def test_several_problems_travel_together_each_with_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    low = {
        "low_field": "threshold_warning_lower",
        "low": 40,
        "high_field": "threshold_warning_upper",
        "high": 30,
    }
    high = {
        "low_field": "threshold_warning_upper",
        "low": 30,
        "high_field": "threshold_critical_upper",
        "high": 20,
    }
    first = Invalid("threshold_order_strict", field="threshold_warning_lower", params=low)
    second = Invalid("threshold_order", field="threshold_warning_upper", params=high)
    with pytest.raises(errors.Problems) as raised:
        errors.raise_all([first, second])
    both = raised.value
    assert isinstance(both, Invalid)  # a 400, placed at the first field by readers of one error
    assert both.field == "threshold_warning_lower"
    assert [problem.field for problem in both.errors] == [
        "threshold_warning_lower",
        "threshold_warning_upper",
    ]
    assert both.detail == f"{first.detail}; {second.detail}"
    monkeypatch.setattr(i18n, "current_language", lambda: "zh")
    assert (
        i18n.translate_error(both)
        == "警告下限（40）必须小于警告上限（30）; 警告上限（30）不能大于严重上限（20）"
    )
    with pytest.raises(Invalid) as alone:
        errors.raise_all([first])
    assert alone.value is first
    errors.raise_all([])  # nothing broken, nothing raised
