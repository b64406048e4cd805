"""Extreme values are refused with a readable 400/422, on both databases, and change nothing.

Found by attacking the API (issue 8): an OFFSET past int64, times in year 1 or 9999 (bucket arithmetic
overflowed datetime), and a UTC offset pushing 0001-01-01 into year 0 all answered 500. Times must lie
in [1970-01-01, 9999-12-30] (readings.EARLIEST/LATEST), offsets in int64; JSON numbers such as
``1e999`` (which parses to infinity), NaN or 400-digit integers never reach a service.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ddms import db
from ddms.errors import Invalid
from ddms.models import Device, Reading
from ddms.services import readings
from tests.api import conftest as api_fixtures
from tests.api.conftest import Account
from tests.api.helpers import count_rows
from tests.history.helpers import add_device, add_rows

# The REST app, client and accounts of tests/api, on both databases.
app, client, owner, reader = api_fixtures.app, api_fixtures.client, api_fixtures.owner, api_fixtures.reader

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
ROWS = 12
RANGE_DETAIL = "must be between 1970-01-01T00:00:00Z and 9999-12-30T23:59:59Z"
START, END = "start_time " + RANGE_DETAIL, "end_time " + RANGE_DETAIL

# (path under /api with {device} / {group}, query, status, words the detail must contain)
QUERY_CASES = [
    ("readings/{device}", "offset=9223372036854775808", 422, "offset: Input should be less than or equal"),
    ("readings/{device}", "aggregate=1day&offset=9223372036854775808", 422, "offset:"),
    ("readings/{device}", "offset=" + "9" * 400, 422, "offset:"),
    ("readings/{device}", "limit=9223372036854775808", 422, "limit:"),
    ("readings/{device}", "start_time=0001-01-01T00:00:00", 400, START),
    ("readings/{device}", "start_time=0001-01-01T00:00:00%2B14:00", 400, START),
    ("readings/{device}", "end_time=9999-12-31T23:59:59.999999-14:00", 400, END),
    ("readings/{device}", "aggregate=1day&end_time=9999-12-31T23:59:59", 400, END),
    ("readings/{device}", "aggregate=1min&start_time=1969-12-31T23:59:59Z", 400, START),
    ("readings/{device}/count", "start_time=0001-01-01T00:00:00", 400, START),
    ("readings/{device}/series", "start_time=0001-01-01T00:00:00", 400, START),
    ("readings/{device}/series", "end_time=9999-12-31T23:59:59", 400, END),
    ("readings/{device}/series", "max_points=9223372036854775808", 422, "max_points:"),
    ("export/device/{device}", "aggregate=1day&end_time=9999-12-31T23:59:59", 400, END),
    ("export/device/{device}", "start_time=0001-01-01T00:00:00%2B14:00", 400, START),
    ("export/group/{group}", "start_time=0001-01-01T00:00:00", 400, START),
    ("export/devices", "device_ids={device}&end_time=9999-12-31T23:59:59", 400, END),
]

DEVICE_BODY = '"name": "extreme", "modbus_ip": "10.0.0.9", "modbus_slave_id": 1, "modbus_register": 0'
# Not numbers a float column may hold (1e999 parses to infinity), for every numeric field; past int64
# (or any integer column) for the integer fields.
NON_FINITE = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" + "0" * 400]
TOO_BIG = ["9223372036854775808", "-9223372036854775809", "1e308"]
DEVICE_FLOATS = ["threshold_warning_upper", "threshold_critical_lower", "scale", "offset", "hysteresis"]
DEVICE_INTEGERS = [
    "sampling_interval",
    "modbus_port",
    "retention_days",
    "modbus_register_count",
    "modbus_slave_id",
    "modbus_register",
]
CONFIG_FLOATS = ["sse_interval"]
CONFIG_INTEGERS = ["backup_retention_count", "default_retention_days"]
NUMBER_CASES = [
    (number, DEVICE_FLOATS + DEVICE_INTEGERS, CONFIG_FLOATS + CONFIG_INTEGERS) for number in NON_FINITE
]
NUMBER_CASES += [(number, DEVICE_INTEGERS, CONFIG_INTEGERS) for number in TOO_BIG]


@pytest.fixture
async def targets(client: httpx.AsyncClient, owner: Account) -> dict[str, str]:
    """A device with readings and a group holding it (the ids the query cases name)."""
    device = await add_device("extreme device")
    await add_rows([(device, T0 + timedelta(minutes=7 * index), float(index)) for index in range(ROWS)])
    body = {"name": "g", "device_ids": [str(device)]}
    group = await client.post("/api/groups", headers=owner.headers, json=body)
    assert group.status_code == 201, group.text
    return {"device": str(device), "group": group.json()["id"]}


async def _snapshot(client: httpx.AsyncClient, owner: Account) -> tuple[object, ...]:
    """Everything these requests could have changed."""
    devices = await client.get("/api/devices", headers=owner.headers)
    config = await client.get("/api/config", headers=owner.headers)
    return devices.json(), config.json(), await count_rows(Reading), await count_rows(Device)


@pytest.mark.parametrize(
    ("path", "query", "status", "detail"),
    QUERY_CASES,
    ids=[f"{case[0]}?{case[1][:40]}" for case in QUERY_CASES],
)
async def test_extreme_query_values_are_refused(
    client: httpx.AsyncClient,
    reader: Account,
    owner: Account,
    targets: dict[str, str],
    path: str,
    query: str,
    status: int,
    detail: str,
) -> None:
    before = await _snapshot(client, owner)
    url = f"/api/{path}?{query}".format(**targets)
    answer = await client.get(url, headers=reader.headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert detail in answer.json()["detail"], answer.json()
    assert set(answer.json()) == {"detail"}
    assert await _snapshot(client, owner) == before


@pytest.mark.parametrize(
    ("number", "device_fields", "config_fields"), NUMBER_CASES, ids=[case[0][:20] for case in NUMBER_CASES]
)
async def test_extreme_json_numbers_are_refused(
    client: httpx.AsyncClient,
    owner: Account,
    targets: dict[str, str],
    number: str,
    device_fields: list[str],
    config_fields: list[str],
) -> None:
    """Every numeric field of a device (create and update) and of the configuration, as raw JSON."""
    headers = {**owner.headers, "content-type": "application/json"}
    before = await _snapshot(client, owner)
    attempts = [
        ("POST", "/api/devices", "{" + DEVICE_BODY + f', "{field}": {number}' + "}", field)
        for field in device_fields
    ]
    attempts += [
        ("PUT", f"/api/devices/{targets['device']}", f'{{"{field}": {number}}}', field)
        for field in device_fields
    ]
    attempts += [("PUT", "/api/config", f'{{"{field}": {number}}}', field) for field in config_fields]
    for method, url, body, field in attempts:
        answer = await client.request(method, url, headers=headers, content=body)
        assert answer.status_code == 422, (method, url, body[-60:], answer.text)
        assert answer.json()["detail"].startswith(f"{field}: "), answer.json()
    assert await _snapshot(client, owner) == before


async def test_the_extremes_that_fit_are_answered(
    client: httpx.AsyncClient,
    reader: Account,
    targets: dict[str, str],
) -> None:
    """The bounds themselves work, and the widest bucket arithmetic stays inside datetime."""
    device, headers = targets["device"], reader.headers
    first, last = "1970-01-01T00:00:00Z", "9999-12-30T23:59:59.999999Z"
    far = await client.get(f"/api/readings/{device}", headers=headers, params={"offset": readings.MAX_OFFSET})
    assert far.status_code == 200, far.text
    assert far.json()["readings"] == []
    assert far.json()["total"] == ROWS
    days = await client.get(
        f"/api/readings/{device}",
        headers=headers,
        params={"aggregate": "1day", "start_time": first, "end_time": last},
    )
    assert days.status_code == 200, days.text
    buckets = [(bucket["timestamp"], bucket["count"]) for bucket in days.json()["readings"]]
    assert buckets == [("2026-05-04T00:00:00+00:00", ROWS)]
    one_point = await client.get(
        f"/api/readings/{device}/series",
        headers=headers,
        params={"start_time": first, "end_time": last, "max_points": 1},
    )
    assert one_point.status_code == 200, one_point.text
    assert [point["count"] for point in one_point.json()["points"]] == [ROWS]
    csv = await client.get(
        f"/api/export/device/{device}",
        headers=headers,
        params={"aggregate": "1day", "start_time": first, "end_time": last},
    )
    assert csv.status_code == 200, csv.text
    assert len(csv.text.strip().splitlines()) == 2  # header and the one day


async def test_the_history_service_refuses_out_of_range_charts(
    client: httpx.AsyncClient,
    targets: dict[str, str],
) -> None:
    """Pages call the service directly (a custom chart range): the same bounds, as Invalid, not a crash."""
    device = uuid.UUID(targets["device"])
    async with db.session_scope() as session:
        for start, end in (
            (datetime(1, 1, 1, tzinfo=UTC), T0),
            (T0, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        ):
            with pytest.raises(Invalid, match=RANGE_DETAIL):
                await readings.series(session, device, start, end, max_points=10)
        with pytest.raises(Invalid, match="offset between 0 and"):
            await readings.raw_page(session, device, None, None, 10, readings.MAX_OFFSET + 1)
