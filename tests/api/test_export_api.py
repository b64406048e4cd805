"""/api/export: CSV columns, quoting, file names, ordering, ranges, groups, device lists, archived devices."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest

from tests.history.helpers import add_device, add_rows, expected_buckets

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
TRICKY = 'Kessel 3, "Nord"\nZeile 2'


def parse(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8"))))


async def test_device_export_raw_quotes_names_and_orders_newest_first(
    client: httpx.AsyncClient, read_only_headers: dict[str, str]
) -> None:
    device = await add_device(TRICKY, unit='m³/h, "norm"')
    rows = [(device, T0 + timedelta(seconds=i), i / 4) for i in range(50)]
    await add_rows(rows)
    answer = await client.get(
        f"/api/export/device/{device}",
        headers=read_only_headers,
        params={"start_time": rows[10][1].isoformat(), "end_time": rows[19][1].isoformat()},
    )
    table = parse(answer)
    assert table[0] == ["timestamp", "value", "unit"]
    assert [(datetime.fromisoformat(t), float(v), u) for t, v, u in table[1:]] == [
        (row[1], row[2], 'm³/h, "norm"') for row in reversed(rows[10:20])
    ]
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=Kessel_3___Nord__Zeile_2_")
    assert disposition.split(";")[1].strip().endswith(".csv")


async def test_group_and_device_list_exports_name_each_row(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    first, second = await add_device(TRICKY), await add_device("plain")
    await add_rows(
        [(first, T0 + timedelta(seconds=2 * i), 1.0) for i in range(5)]
        + [(second, T0 + timedelta(seconds=2 * i + 1), 2.0) for i in range(5)]
    )
    group = await client.post(
        "/api/groups",
        headers=owner_headers,
        json={"name": "Halle 7", "device_ids": [str(first), str(second)]},
    )
    assert group.status_code == 201
    by_group = parse(await client.get(f"/api/export/group/{group.json()['id']}", headers=owner_headers))
    by_list = parse(
        await client.get(
            "/api/export/devices", headers=owner_headers, params={"device_ids": f"{first},{second}"}
        )
    )
    for table in (by_group, by_list):
        assert table[0] == ["timestamp", "device_name", "value", "unit"]
        assert len(table) == 11
        assert [row[1] for row in table[1:]] == ["plain", TRICKY] * 5
        stamps = [row[0] for row in table[1:]]
        assert stamps == sorted(stamps, reverse=True)


async def test_aggregated_export_and_empty_range(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    device = await add_device("pump")
    rows = [(device, T0 + timedelta(seconds=13 * i), float(i % 7)) for i in range(400)]
    await add_rows(rows)
    table = parse(
        await client.get(f"/api/export/device/{device}", headers=owner_headers, params={"aggregate": "1hour"})
    )
    assert table[0] == ["time_bucket", "avg_value", "min_value", "max_value", "count", "unit"]
    expected = expected_buckets(rows, device, 3600)
    assert len(table) - 1 == len(expected)
    for stamp, avg, low, high, count, _unit in table[1:]:
        want = expected[int(datetime.fromisoformat(stamp).timestamp())]
        assert (float(avg), float(low), float(high), int(count)) == pytest.approx(want)
    empty = parse(
        await client.get(
            f"/api/export/device/{device}",
            headers=owner_headers,
            params={"start_time": "2020-01-01T00:00:00Z", "end_time": "2020-01-02T00:00:00Z"},
        )
    )
    assert empty == [["timestamp", "value", "unit"]]


async def test_non_ascii_name_gets_rfc5987_filename(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    device = await add_device("温度 传感器/1")
    disposition = (await client.get(f"/api/export/device/{device}", headers=owner_headers)).headers[
        "content-disposition"
    ]
    plain, starred = disposition.split("; filename*=UTF-8''")
    assert plain.startswith("attachment; filename=")
    assert plain.isascii()
    assert "/" not in plain
    assert unquote(starred).startswith("温度_传感器_1_")
    assert unquote(starred).endswith(".csv")


async def test_archived_device_stays_exportable(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    device = await add_device("retired")
    await add_rows([(device, T0 + timedelta(minutes=i), float(i)) for i in range(3)])
    deleted = await client.delete(
        f"/api/devices/{device}", headers=owner_headers, params={"keep_data": "true"}
    )
    assert deleted.status_code == 204
    assert len(parse(await client.get(f"/api/export/device/{device}", headers=owner_headers))) == 4
    assert (
        len(
            parse(
                await client.get(
                    "/api/export/devices", headers=owner_headers, params={"device_ids": str(device)}
                )
            )
        )
        == 4
    )


@pytest.mark.parametrize("ids", [None, "", "not-a-uuid", "5c0d1e5e-0000-4000-8000-00000000dead"])
async def test_device_list_needs_valid_known_ids(
    client: httpx.AsyncClient, owner_headers: dict[str, str], ids: str | None
) -> None:
    params = {} if ids is None else {"device_ids": ids}
    answer = await client.get("/api/export/devices", headers=owner_headers, params=params)
    assert answer.status_code == 400
    assert "device" in answer.json()["detail"].lower()


async def test_export_errors(client: httpx.AsyncClient, owner_headers: dict[str, str]) -> None:
    assert (await client.get(f"/api/export/device/{uuid.uuid4()}", headers=owner_headers)).status_code == 404
    assert (await client.get(f"/api/export/group/{uuid.uuid4()}", headers=owner_headers)).status_code == 404
    device = await add_device("x")
    assert (await client.get(f"/api/export/device/{device}")).status_code == 401
    bad = await client.get(f"/api/export/device/{device}", headers=owner_headers, params={"end_time": "soon"})
    assert bad.status_code == 400


async def test_a_range_is_checked_before_the_file_starts(
    client: httpx.AsyncClient, read_only_headers: dict[str, str]
) -> None:
    """An offset-less time is UTC (the whole file, no failure mid-stream); a bad one is a 400, no CSV."""
    device = await add_device("naive")
    await add_rows([(device, T0 + timedelta(seconds=i), float(i)) for i in range(5)])
    url = f"/api/export/device/{device}"
    naive = await client.get(url, headers=read_only_headers, params={"start_time": "2026-06-01T08:00:02"})
    aware = await client.get(url, headers=read_only_headers, params={"start_time": "2026-06-01T08:00:02Z"})
    assert parse(naive) == parse(aware)
    assert [(datetime.fromisoformat(t), float(v)) for t, v, _unit in parse(naive)[1:]] == [
        (T0 + timedelta(seconds=i), float(i)) for i in (4, 3, 2)
    ]
    assert naive.headers["cache-control"] == "no-store"
    for bad in ("yesterday", "0000-01-01T00:00:00"):
        refused = await client.get(url, headers=read_only_headers, params={"end_time": bad})
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["detail"].startswith("end_time ")


async def test_exports_in_a_time_zone_with_a_bom_on_request(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    """``tz`` writes every time in that zone with its offset (the same instants), ``bom`` starts the
    file with a UTF-8 byte order mark; without them the contract's plain UTF-8 in UTC is unchanged."""
    # a quoted name over two lines, the second looking like a row: COPY's lines must be read as CSV
    device = await add_device('锅炉 "1",\n2026-06-01T08:00:00.000000+00:00,x', unit="°C")
    rows = [(device, T0 + timedelta(minutes=7 * i), float(i)) for i in range(30)]
    await add_rows(rows)
    group = await client.post(
        "/api/groups", headers=owner_headers, json={"name": "车间", "device_ids": [str(device)]}
    )
    shanghai = {"tz": "Asia/Shanghai", "bom": "true"}
    for path, extra, stamp_column in (
        (f"/api/export/device/{device}", {}, 0),
        (f"/api/export/device/{device}", {"aggregate": "1hour"}, 0),
        (f"/api/export/group/{group.json()['id']}", {}, 0),
        ("/api/export/devices", {"device_ids": str(device)}, 0),
    ):
        plain = await client.get(path, headers=owner_headers, params=extra)
        local = await client.get(path, headers=owner_headers, params=extra | shanghai)
        assert local.status_code == 200, local.text
        assert not plain.content.startswith(b"\xef\xbb\xbf"), "the REST default stays plain UTF-8"
        assert local.content.startswith(b"\xef\xbb\xbf"), path
        utc_rows = parse(plain)
        local_rows = list(csv.reader(io.StringIO(local.content.decode("utf-8-sig"))))
        assert local_rows[0] == utc_rows[0]
        assert len(local_rows) == len(utc_rows) > 1
        for utc_row, local_row in zip(utc_rows[1:], local_rows[1:], strict=True):
            assert local_row[stamp_column].endswith("+08:00"), local_row
            assert datetime.fromisoformat(local_row[stamp_column]) == datetime.fromisoformat(
                utc_row[stamp_column]
            )
            # PostgreSQL's COPY (UTC) writes 29 where the formatter writes 29.0: the same number
            assert [float(v) if v[0].isdigit() else v for v in local_row[1:]] == [
                float(v) if v[0].isdigit() else v for v in utc_row[1:]
            ]
        assert all(row[stamp_column].endswith("+00:00") for row in utc_rows[1:])


async def test_an_unknown_time_zone_is_refused(
    client: httpx.AsyncClient, owner_headers: dict[str, str]
) -> None:
    device = await add_device("pump")
    answer = await client.get(
        f"/api/export/device/{device}", headers=owner_headers, params={"tz": "Mars/Olympus"}
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "tz is not a known IANA time zone (such as Europe/Berlin): 'Mars/Olympus'"
    }
