"""What counts as "the database is away" (503 on the API, retried at start-up, a warning on a page):
any driver error carrying a connection-exception or operator-intervention SQLSTATE, not only the
exception classes SQLAlchemy maps them to."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

from ddms import db


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    "sqlstate",
    ["57P03", "57P01", "57P02", "08006", "08001"],  # not accepting connections / shutdown / lost
)
def test_a_server_that_cannot_serve_now_is_an_outage(sqlstate: str) -> None:
    assert db.is_outage(DBAPIError("SELECT 1", {}, DriverError(sqlstate)))


@pytest.mark.parametrize(
    "error",
    [
        ProgrammingError("SELECT x", {}, DriverError("42703")),
        IntegrityError("INSERT", {}, DriverError("23505")),
    ],
)
def test_a_wrong_query_or_a_broken_rule_is_no_outage(error: DBAPIError) -> None:
    assert not db.is_outage(error)


def test_refused_connections_are_an_outage() -> None:
    assert db.is_outage(ConnectionRefusedError(111, "Connect call failed"))
    assert not db.is_outage(ValueError("bad"))
