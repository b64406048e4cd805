"""/api/readings over real HTTP semantics: validation, 404s, pages, aggregates, series, roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.history.helpers import add_device, add_rows, bucket_start, expected_buckets

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
async def device_with_rows(
    client: httpx.AsyncClient,
) -> tuple[uuid.UUID, list[tuple[uuid.UUID, datetime, float]]]:
    device = await add_device('Line 1, "east"')
    rows = [(device, T0 + timedelta(seconds=17 * i), float(i % 23)) for i in range(600)]
    await add_rows(rows)
    return device, rows


async def test_raw_readings_page_newest_first_with_total(
    client: httpx.AsyncClient, read_only_headers: dict[str, str], device_with_rows: tuple
) -> None:
    device, rows = device_with_rows
    start, end = rows[100][1], rows[399][1]
    answer = await client.get(
        f"/api/readings/{device}",
        headers=read_only_headers,
        params={"start_time": start.isoformat(), "end_time": end.isoformat(), "limit": 25, "offset": 5},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["device_id"] == str(device)
    assert body["total"] == 300
    expected = [row for row in reversed(rows) if start <= row[1] <= end][5:30]
    assert [(datetime.fromisoformat(r["timestamp"]), r["value"]) for r in body["readings"]] == [
        (row[1], row[2]) for row in expected
    ]
    assert body["readings"][0]["timestamp"].endswith("+00:00")


async def test_aggregate_1min_carries_min_max_count(
    client: httpx.AsyncClient, owner_headers: dict[str, str], device_with_rows: tuple
) -> None:
    device, rows = device_with_rows
    answer = await client.get(
        f"/api/readings/{device}", headers=owner_headers, params={"aggregate": "1min", "limit": 1000}
    )
    assert answer.status_code == 200
    body = answer.json()
    expected = expected_buckets(rows, device, 60)
    assert body["total"] == len(expected)
    for item in body["readings"]:
        avg, low, high, count = expected[int(datetime.fromisoformat(item["timestamp"]).timestamp())]
        assert item["value"] == pytest.approx(avg)
        assert (item["min"], item["max"], item["count"]) == (low, high, count)
    stamps = [item["timestamp"] for item in body["readings"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_latest_count_and_series(
    client: httpx.AsyncClient, read_only_headers: dict[str, str], device_with_rows: tuple
) -> None:
    device, rows = device_with_rows
    latest = (await client.get(f"/api/readings/{device}/latest", headers=read_only_headers)).json()
    assert (datetime.fromisoformat(latest["timestamp"]), latest["value"]) == (rows[-1][1], rows[-1][2])
    counted = await client.get(
        f"/api/readings/{device}/count",
        headers=read_only_headers,
        params={"start_time": rows[10][1].isoformat()},
    )
    assert counted.json() == {"device_id": str(device), "count": 590}
    start, end = T0, T0 + timedelta(hours=3)
    series = await client.get(
        f"/api/readings/{device}/series",
        headers=read_only_headers,
        params={"start_time": start.isoformat(), "end_time": end.isoformat(), "max_points": 40},
    )
    assert series.status_code == 200
    body = series.json()
    assert body["bucket_seconds"] == 300
    assert body["source"] == "readings"  # no rollup has run: every minute with data is stale
    assert len(body["points"]) <= 40
    width = body["bucket_seconds"]
    expected = expected_buckets(
        rows, device, width, start.replace(), datetime.fromtimestamp(bucket_start(end, width) + width, UTC)
    )
    assert {int(datetime.fromisoformat(p["timestamp"]).timestamp()): p["count"] for p in body["points"]} == {
        key: value[3] for key, value in expected.items()
    }


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("", {"start_time": "yesterday"}, "start_time"),
        ("", {"start_time": "2026-05-04T10:00:00Z", "end_time": "2026-05-04T09:00:00Z"}, "before"),
        ("", {"aggregate": "5min"}, "aggregate"),
        ("/count", {"end_time": "2026-13-01"}, "end_time"),
        ("/series", {"start_time": "x"}, "start_time"),
    ],
)
async def test_bad_query_is_400_with_reason(
    client: httpx.AsyncClient,
    owner_headers: dict[str, str],
    device_with_rows: tuple,
    path: str,
    params: dict[str, str],
    detail: str,
) -> None:
    device, _ = device_with_rows
    answer = await client.get(f"/api/readings/{device}{path}", headers=owner_headers, params=params)
    assert answer.status_code == 400
    assert detail in answer.json()["detail"]


async def test_limits_unknown_devices_and_auth(
    client: httpx.AsyncClient, owner_headers: dict[str, str], device_with_rows: tuple
) -> None:
    device, _ = device_with_rows
    for limit in (0, 1001):
        answer = await client.get(f"/api/readings/{device}", headers=owner_headers, params={"limit": limit})
        assert answer.status_code in (400, 422)
    assert (
        await client.get(f"/api/readings/{device}", headers=owner_headers, params={"offset": -1})
    ).status_code in (400, 422)
    unknown = uuid.uuid4()
    for path in ("", "/latest", "/count", "/series"):
        assert (await client.get(f"/api/readings/{unknown}{path}", headers=owner_headers)).status_code == 404
        assert (await client.get(f"/api/readings/{device}{path}")).status_code == 401
    empty = await add_device("no data")
    assert (await client.get(f"/api/readings/{empty}/latest", headers=owner_headers)).status_code == 404
