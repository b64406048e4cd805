"""Logging set-up: one line per event, key=value extras, never a secret."""

from __future__ import annotations

import logging
import re

_RESERVED = set(vars(logging.makeLogRecord({})))
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators: anything a terminal or a log
# reader may take for the end of a line (or use to rewrite one).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def escape(text: object) -> str:
    """``text`` with every control character escaped as ``repr`` would (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(lambda match: _NAMED.get(match[0]) or repr(match[0])[1:-1], str(text))


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value ...`` with the record's extra fields appended.

    The message and the extras are escaped: user data in them (a username, a device or group name
    with a newline) cannot start a forged log line. A traceback keeps its lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
        extras.pop("message", None)
        extras.pop("asctime", None)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return escape(line)


def configure(level: str) -> None:
    # Database drivers log SQL parameters (password hashes, token ids) at INFO/DEBUG: warnings only.
    for driver in ("aiosqlite", "asyncpg", "sqlalchemy.engine"):
        logging.getLogger(driver).setLevel(logging.WARNING)
    # httpx logs every request's URL at INFO; a webhook URL often carries a token in its path.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    root = logging.getLogger()
    if any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter(LINE_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
