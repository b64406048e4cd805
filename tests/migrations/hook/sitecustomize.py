"""Test hook loaded by the ``ddms migrate`` subprocesses of tests/migrations (via PYTHONPATH).

It numbers every SQL statement any engine of the process sends, and every COMMIT (SQLAlchemy's
class-level ``before_cursor_execute`` and ``commit`` events), then:

- ``DDMS_TEST_RECORD=<file>``: appends one line per statement ("<number> <first line of SQL>");
- ``DDMS_TEST_PAUSE_AT=<n>`` and ``DDMS_TEST_PAUSED_FD=<fd>``: before statement n is sent, writes
  the statement (one line) to that inherited pipe and sleeps, so the test knows exactly where the
  process stands when it sends SIGKILL. Statements 1 .. n-1 have been executed; n has not.

Nothing here runs unless one of the variables is set.
"""

from __future__ import annotations

import os
import time

_ENV = os.environ  # noqa: TID251 (a test hook in a child process, not DDMS configuration)
_RECORD = _ENV.get("DDMS_TEST_RECORD")
_PAUSE_AT = int(_ENV.get("DDMS_TEST_PAUSE_AT", "0"))
_PAUSED_FD = int(_ENV.get("DDMS_TEST_PAUSED_FD", "-1"))

if _RECORD or _PAUSE_AT:
    from typing import Any

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    _count = 0

    def _step(statement: str) -> None:
        global _count
        _count += 1
        first_line = " ".join(statement.split())[:200]
        if _RECORD:
            with open(_RECORD, "a", encoding="utf-8") as record:
                record.write(f"{_count} {first_line}\n")
        if _count == _PAUSE_AT and _PAUSED_FD >= 0:
            os.write(_PAUSED_FD, (first_line + "\n").encode())
            while True:  # until the test's SIGKILL
                time.sleep(60)

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        _step(statement)

    @event.listens_for(Engine, "commit")
    def _commit(_conn: Any) -> None:
        _step("COMMIT")
