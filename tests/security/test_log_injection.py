"""User data with line breaks (usernames, device and group names) cannot forge a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from ddms import db, logs
from ddms.services import auth

FORGED = "2026-01-01 00:00:00,000 INFO ddms.services.auth: owner logged in"
HOSTILE = f"evil\r\n{FORGED}\n\u2028\x1b[2Jx"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, formatted as ``ddms serve`` formats its log."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logs.KeyValueFormatter(logs.LINE_FORMAT))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def assert_one_line_each(output: io.StringIO, records: int) -> list[str]:
    lines = output.getvalue().split("\n")
    assert lines[-1] == ""  # every record ends with one newline ...
    lines = lines[:-1]
    assert len(lines) == records, lines  # ... and has no other line break
    for line in lines:
        assert not {"\r", "\u2028", "\x1b"} & set(line)
        assert not line.startswith(FORGED)
    return lines


async def test_a_hostile_username_in_a_lockout_is_one_log_line(
    database: db.Database, log_output: io.StringIO
) -> None:
    """The lock-out warning carries the attempted username (a real code path, no bcrypt needed)."""
    for _ in range(auth.throttle().limit):
        async with db.session_scope() as session:
            attempt = await auth.throttle().reserve(session=session, username=HOSTILE, client="10.0.0.9")
            auth.throttle().failed(attempt)
    [lockout] = assert_one_line_each(log_output, 1)
    assert "login locked out" in lockout
    assert "username=evil\\r\\n" + FORGED.lower() in lockout  # escaped as repr would, and still readable


def test_hostile_device_and_group_names_are_one_line(log_output: io.StringIO) -> None:
    """The collector's own call shapes: names as ``%s`` arguments and as extras."""
    logging.getLogger("collector.poller").info("device %s (%s unit %d): online", HOSTILE, "10.0.0.5:502", 1)
    logging.getLogger("collector.runner").info("collector: stopped polling %s (deleted)", HOSTILE)
    logging.getLogger("ddms.services.groups").info("group saved", extra={"group": HOSTILE})
    lines = assert_one_line_each(log_output, 3)
    assert "device evil\\r\\n2026-01-01" in lines[0]
    assert "\\u2028\\x1b[2Jx" in lines[1]
    assert lines[2].endswith("group saved group=evil\\r\\n" + FORGED + "\\n\\u2028\\x1b[2Jx")


def test_a_traceback_keeps_its_lines(log_output: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("ddms").exception("failed for %s", "a\nb")
    text = log_output.getvalue()
    assert "failed for a\\nb\nTraceback (most recent call last):\n" in text
    assert text.rstrip("\n").endswith("ValueError: boom")
