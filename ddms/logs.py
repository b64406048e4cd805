"""Logging set-up: one line per event, key=value extras, never a secret."""

from __future__ import annotations

import logging

_RESERVED = set(vars(logging.makeLogRecord({})))


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value ...`` with the record's extra fields appended."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}
        extras.pop("message", None)
        extras.pop("asctime", None)
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        return line


def configure(level: str) -> None:
    # Database drivers log SQL parameters (password hashes, token ids) at INFO/DEBUG: warnings only.
    for driver in ("aiosqlite", "asyncpg", "sqlalchemy.engine"):
        logging.getLogger(driver).setLevel(logging.WARNING)
    root = logging.getLogger()
    if any(isinstance(h.formatter, KeyValueFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
