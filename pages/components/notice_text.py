"""Notification texts in the reader's language, from the notification's codes and values.

The engine stores with each notification the template codes and values (``params``) its English
title and message were rendered from (``ddms.services.alarm_texts``). The drawer renders the same
templates through the catalog: severity, transition and kind words with the pages' label maps,
numbers with the locale's separators. Nothing is parsed back from the English sentence, so rewording
a template keeps its translation. A notification without params (stored before they existed, or a
code this version does not know) is shown with its stored English text.
"""

from __future__ import annotations

from typing import Any

from ddms.i18n import _, format_number
from ddms.schemas.alarms import NotificationOut
from ddms.services import alarm_texts
from pages import theme

_LABELS = {
    "severity": theme.SEVERITY_LABELS,
    "transition": theme.TRANSITION_LABELS,
    "kind": theme.ALARM_KIND_LABELS,
}
_NUMBERS = ("value", "threshold", "peak")


def _word(key: str, value: Any) -> str:
    if key in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(value, 6)
    labels = _LABELS.get(key)
    if labels is not None and value in labels:
        return _(labels[value])
    return str(value)


def title_text(item: NotificationOut) -> str:
    if item.params:
        try:
            return alarm_texts.title(item.params, _, _word)
        except (KeyError, IndexError, ValueError):
            pass
    return item.title


def message_text(item: NotificationOut) -> str:
    if item.params:
        try:
            return alarm_texts.message(item.params, _, _word)
        except (KeyError, IndexError, ValueError):
            pass
    return item.message
