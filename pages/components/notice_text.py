"""Notification texts in the reader's language.

The engine stores each notification's title and message in English (the REST contract's words, as
service errors are). The drawer shows them translated: each sentence the engine writes is matched
here with its placeholders, the words inside (severity, transition, kind) translated, and refilled.
A sentence not listed is shown as it is.
"""

from __future__ import annotations

import re

from ddms.i18n import N_, _, format_number
from pages import theme

TITLES = [
    N_("{name} is offline"),
    N_("{name} is online again"),
    N_("{name} answers with errors"),
    N_("{name} answers normally again"),
    N_("{name} is back to normal"),
    N_("{name}: {severity} ({transition})"),
]
PARTS = [
    N_("value {number}"),
    N_("limit {number}"),
    N_("peak {number}"),
    N_("no value"),
    N_("{kind} alarm {transition}"),
]
_KINDS = {"offline": "offline", "device error": "device_error", "threshold": "threshold"}


def _pattern(template: str) -> re.Pattern[str]:
    pieces = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(pieces))
    return re.compile(f"^{regex}$")


_TITLES = [(_pattern(t), t) for t in TITLES]
_PARTS = [(_pattern(t), t) for t in PARTS]


def _word(key: str, value: str) -> str:
    if key == "severity":
        return _(theme.SEVERITY_LABELS.get(value, value))
    if key == "transition":
        return _(theme.TRANSITION_LABELS.get(value, value))
    if key == "kind":
        return _(theme.ALARM_KIND_LABELS.get(_KINDS.get(value, value), value))
    if key == "number":
        try:
            return format_number(float(value), 6)
        except ValueError:
            return value
    return value


def _translate(text: str, patterns: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, template in patterns:
        match = pattern.match(text)
        if match:
            return _(template).format(**{k: _word(k, v) for k, v in match.groupdict().items()})
    return text


def title_text(title: str) -> str:
    return _translate(title, _TITLES)


def message_text(message: str) -> str:
    """``value 97.5, limit 95, peak 98``: each part on its own."""
    return _(", ").join(_translate(part, _PARTS) for part in message.split(", "))
