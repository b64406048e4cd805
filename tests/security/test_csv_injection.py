"""CSV formula injection: names and units that a spreadsheet would run are exported as text.

Every export goes through ``ddms.services.export`` (REST ``/api/export/...`` and the pages'
``/ui/export/...`` alike); these tests read the files over REST on both databases, which covers
the SQLite cursor path, PostgreSQL's ``COPY ... TO STDOUT`` and the aggregated path, and compare
exact cells.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ddms import db
from ddms.config import Settings
from ddms.main import create_api
from ddms.models import Role
from ddms.schemas.devices import GroupCreate
from ddms.services import groups
from ddms.services.export import csv_text
from tests.api.helpers import OWNER_PASSWORD, add_user, bearer, tokens_for
from tests.history.helpers import add_device, add_rows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# (name, unit) as stored -> (name, unit) as the exported cells must read
HOSTILE = {
    ('=HYPERLINK("http://x")', "@SUM(1)"): ('\'=HYPERLINK("http://x")', "'@SUM(1)"),
    ("-cmd|' /C calc'!A0", "+1+1"): ("'-cmd|' /C calc'!A0", "'+1+1"),
    ("\tTAB", "\r=1"): ("'\tTAB", "'\r=1"),
    ("-3.5", "-2"): ("-3.5", "-2"),  # numbers are no formulas: left as they are
    ("Kessel 1", "°C"): ("Kessel 1", "°C"),
}


@pytest.fixture
async def export_client(database: db.Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The REST app on the test database and a client signed in as a read-only user."""
    await add_user("admin", Role.OWNER, OWNER_PASSWORD)
    reader = await add_user("csv_reader", Role.READ_ONLY)
    application = create_api(settings)
    async with LifespanManager(application):
        token = (await tokens_for(settings, reader)).access_token
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=bearer(token)
        ) as http:
            yield http


def table(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8"), newline="")))


async def hostile_devices() -> dict[uuid.UUID, tuple[str, str]]:
    """One device per hostile (name, unit), each with three readings of -3.5 (a negative number)."""
    expected: dict[uuid.UUID, tuple[str, str]] = {}
    for offset, ((name, unit), cells) in enumerate(HOSTILE.items()):
        device = await add_device(name, unit=unit)
        await add_rows([(device, T0 + timedelta(seconds=10 * i + offset), -3.5) for i in range(3)])
        expected[device] = cells
    return expected


@pytest.mark.parametrize(
    ("cell", "exported"),
    [
        ("=1+1", "'=1+1"),
        ("+A1", "'+A1"),
        ("-A1", "'-A1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("+", "'+"),
        ("-inf", "'-inf"),
        ("-3.5", "-3.5"),
        ("+2", "+2"),
        ("-1e3", "-1e3"),
        ("-.5", "-.5"),
        ("3.5", "3.5"),
        ("m³/h", "m³/h"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
    ],
)
def test_csv_text_prefixes_what_a_spreadsheet_would_evaluate(cell: str, exported: str) -> None:
    assert csv_text(cell) == exported


async def test_device_exports_raw_and_aggregated_escape_the_unit(export_client: httpx.AsyncClient) -> None:
    expected = await hostile_devices()
    for device, (_name, unit) in expected.items():
        raw = table(await export_client.get(f"/api/export/device/{device}"))
        assert raw[0] == ["timestamp", "value", "unit"]
        assert [row[1:] for row in raw[1:]] == [["-3.5", unit]] * 3
        hourly = table(await export_client.get(f"/api/export/device/{device}", params={"aggregate": "1hour"}))
        assert hourly[1:] == [[hourly[1][0], "-3.5", "-3.5", "-3.5", "3", unit]]


async def test_group_and_device_list_exports_escape_names_and_units(export_client: httpx.AsyncClient) -> None:
    expected = await hostile_devices()
    async with db.session_scope() as session:
        group = await groups.create_group(
            session=session, data=GroupCreate(name="=Halle", device_ids=list(expected))
        )
    by_group = table(await export_client.get(f"/api/export/group/{group.id}"))
    by_list = table(
        await export_client.get("/api/export/devices", params={"device_ids": ",".join(map(str, expected))})
    )
    for exported in (by_group, by_list):
        assert exported[0] == ["timestamp", "device_name", "value", "unit"]
        rows = exported[1:]
        assert len(rows) == 3 * len(HOSTILE)
        assert sorted((name, value, unit) for _ts, name, value, unit in rows) == sorted(
            (name, "-3.5", unit) for name, unit in expected.values() for _ in range(3)
        )
