"""The words of alarm notifications: one template table for the English REST text and the pages.

A notification is stored as data: ``params`` holds a ``title`` code, a ``message`` code and the
values they are filled with (device name, severity, transition, kind, value, threshold, peak). The
English ``title`` and ``message`` of the REST contract are rendered here from that data; the pages
render the same templates through their catalog (``pages/components/notice_text.py``) with the
words and numbers of the reader's language. Rewording a template changes neither: nothing parses
the English sentence back (``tests/unit/test_alarm_texts.py`` checks every template has a zh
translation with the same placeholders).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ddms.errors import N_

# title code -> English template
TITLES: dict[str, str] = {
    "offline_raised": N_("{name} is offline"),
    "offline_cleared": N_("{name} is online again"),
    "device_error_raised": N_("{name} answers with errors"),
    "device_error_cleared": N_("{name} answers normally again"),
    "threshold_cleared": N_("{name} is back to normal"),
    "threshold_level": N_("{name}: {severity} ({transition})"),
}
# message code -> English template (``threshold_values`` is built from the PARTS below)
MESSAGES: dict[str, str] = {
    "alarm_transition": N_("{kind} alarm {transition}"),
}
# the parts of a threshold message, in the order shown; a part whose value is None is left out
PARTS: dict[str, str] = {
    "value": N_("value {value}"),
    "no_value": N_("no value"),
    "threshold": N_("limit {threshold}"),
    "peak": N_("peak {peak}"),
}
SEPARATOR = N_(", ")

Translate = Callable[[str], str]
Word = Callable[[str, Any], str]
"""``word(key, value)``: a param as the reader sees it (a number formatted, a severity named)."""


def english_word(key: str, value: Any) -> str:
    """The REST contract's spelling: numbers as ``%g``, codes with spaces (``device error``)."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value).replace("_", " ") if key == "kind" else str(value)


def _fill(template: str, params: Mapping[str, Any], translate: Translate, word: Word) -> str:
    return translate(template).format_map({key: word(key, value) for key, value in params.items()})


def title(params: Mapping[str, Any], translate: Translate = str, word: Word = english_word) -> str:
    """The title of ``params`` (KeyError for an unknown title code)."""
    return _fill(TITLES[params["title"]], params, translate, word)


def message(params: Mapping[str, Any], translate: Translate = str, word: Word = english_word) -> str:
    """The message of ``params`` (KeyError for an unknown message code)."""
    code = params["message"]
    if code != "threshold_values":
        return _fill(MESSAGES[code], params, translate, word)
    parts = [PARTS["value"] if params.get("value") is not None else PARTS["no_value"]]
    parts += [PARTS[key] for key in ("threshold", "peak") if params.get(key) is not None]
    return translate(SEPARATOR).join(_fill(part, params, translate, word) for part in parts)
