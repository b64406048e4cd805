"""Sharing devices between instances: the assignment every node computes, and the SQLite refusal."""

from __future__ import annotations

import asyncio
import json
import math
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ddms import startup
from ddms.bus import Bus, LatestValue, StatusChange
from ddms.errors import ConsoleError
from ddms.services import cluster

# Fixed ids (stable across processes and runs): a test that passes once passes always.
DEVICES = [uuid.UUID(int=(n * 2654435761) % (1 << 128)) for n in range(1, 1001)]
INSTANCES = [uuid.UUID(int=(n * 40503 + 7) << 64) for n in range(1, 6)]


@pytest.mark.parametrize("devices", [7, 12, 20, 100, 1000])
@pytest.mark.parametrize("instances", [1, 2, 3, 5])
def test_each_instance_gets_its_fair_share_within_20_percent(devices: int, instances: int) -> None:
    owners = cluster.assign(DEVICES[:devices], INSTANCES[:instances])
    assert set(owners) == set(DEVICES[:devices])
    loads = [sum(1 for owner in owners.values() if owner == member) for member in INSTANCES[:instances]]
    fair = devices / instances
    # Within 20 % of the fair share, or within one device when a share is a handful of devices.
    assert max(loads) <= max(fair * 1.2, math.ceil(fair)), loads
    assert min(loads) >= min(fair * 0.8, math.floor(fair)), loads


def test_every_node_computes_the_same_assignment_whatever_the_order() -> None:
    first = cluster.assign(DEVICES[:300], INSTANCES[:3])
    second = cluster.assign(list(reversed(DEVICES[:300])), list(reversed(INSTANCES[:3])))
    assert first == second


def test_a_joining_instance_moves_few_devices() -> None:
    before = cluster.assign(DEVICES, INSTANCES[:3])
    after = cluster.assign(DEVICES, INSTANCES[:4])
    moved = sum(1 for device in DEVICES if before[device] != after[device])
    # The newcomer's quarter has to move; bounded loads move some more, never most of them.
    assert 250 <= moved <= 450, moved
    assert sum(1 for device in DEVICES if after[device] == INSTANCES[3]) == 250


def test_a_leaving_instance_moves_only_its_devices_and_a_few_more() -> None:
    before = cluster.assign(DEVICES, INSTANCES[:4])
    after = cluster.assign(DEVICES, INSTANCES[:3])
    orphans = [device for device in DEVICES if before[device] == INSTANCES[3]]
    moved = [device for device in DEVICES if before[device] != after[device]]
    assert set(orphans) <= set(moved)
    assert len(moved) <= len(orphans) * 1.6, (len(moved), len(orphans))


def test_device_keys_are_signed_64_bit_and_distinct() -> None:
    keys = {cluster.device_key(device) for device in DEVICES}
    assert len(keys) == len(DEVICES)
    assert all(-(1 << 63) <= key < (1 << 63) for key in keys)


def test_the_lock_namespaces_written_into_the_sql_are_the_constants() -> None:
    assert str(cluster.NS_INSTANCE) in cluster._LIVE
    assert cluster.NS_INSTANCE == 1145918209
    assert cluster.NS_LEADER == 1145918210


def test_a_second_instance_on_one_sqlite_file_is_refused_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
    held = len(startup._instance_lock)
    try:
        startup.hold_instance_lock(url)
        with pytest.raises(ConsoleError) as refused:
            startup.hold_instance_lock(url)  # a second open file: flock refuses it like another process
        message = refused.value.detail
        assert "\n" not in message
        assert "single-instance" in message
        assert "already runs on" in message
        assert f"{tmp_path / 'ddms.db'}" in message
    finally:
        while len(startup._instance_lock) > held:
            startup._instance_lock.pop().close()  # type: ignore[attr-defined]
    startup.hold_instance_lock(url)  # released: a restart after the first one ended is fine
    startup._instance_lock.pop().close()  # type: ignore[attr-defined]


AT = datetime(2026, 12, 1, 12, 0, 0, 123457, tzinfo=UTC)


def _entries(events: list[LatestValue | StatusChange]) -> list[list[Any]]:
    return [
        cluster._value_entry(event) if isinstance(event, LatestValue) else cluster._status_entry(event)
        for event in events
    ]


def _decoded(payloads: list[str]) -> list[LatestValue | StatusChange]:
    return [
        cluster._event_of(entry) for payload in payloads for entry in json.loads(payload.partition("|")[2])
    ]


def test_live_batches_stay_under_the_notify_limit_and_come_back_whole() -> None:
    values: list[LatestValue | StatusChange] = [
        LatestValue(device, AT, 1.5 + n, "normal", "online", "d" * 99 + "é", "kPa")
        for n, device in enumerate(DEVICES)
    ]
    statuses: list[LatestValue | StatusChange] = [
        StatusChange(DEVICES[0], "offline", "timeout: no answer", AT, previous="online")
    ]
    payloads = cluster.live_payloads(INSTANCES[0].hex, _entries(values + statuses))
    assert len(payloads) > 10
    assert all(len(payload.encode()) < 8000 for payload in payloads)
    assert all(payload.startswith(INSTANCES[0].hex + "|") for payload in payloads)
    assert _decoded(payloads) == values + statuses  # microseconds, names and order intact


def test_live_batches_fit_when_entries_grow_and_drop_only_what_cannot_fit() -> None:
    """Chunks are sized from the last one's entries: longer ones after short ones are re-split."""
    short = [LatestValue(device, AT, 1.0, "normal", "online", "p", "") for device in DEVICES[:300]]
    wide = [  # 100 characters outside the BMP: 12 bytes each as JSON escapes
        LatestValue(device, AT, math.nan, "critical", "online", "\U0001f525" * 100, "°C")
        for device in DEVICES[300:400]
    ]
    unsendable = StatusChange(DEVICES[400], "error", "x" * 8000, AT, previous="online")
    events: list[LatestValue | StatusChange] = [*short, *wide, unsendable, *short[:10]]
    payloads = cluster.live_payloads(INSTANCES[0].hex, _entries(events))
    assert all(len(payload.encode()) < 8000 for payload in payloads)
    back = _decoded(payloads)
    expected = [*short, *wide, *short[:10]]
    assert len(back) == len(expected)
    assert all(
        (got.device_id, got.device_name, got.unit) == (want.device_id, want.device_name, want.unit)
        for got, want in zip(back, expected, strict=True)
    )
    assert all(isinstance(got, LatestValue) and math.isnan(got.value) for got in back[300:400])


async def test_malformed_live_notices_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    node = cluster.Node("postgresql://unused", bus=bus)
    seen: list[object] = []
    bus.listen(seen.append)
    device = DEVICES[0].hex
    for body in [
        "not json",
        "5",
        '[["v",5,1,2,"normal","online","n","u"]]',
        '[{"v":1}]',
        '[["v","zz",1,2,"normal","online","n","u"]]',
        f'[["v","{device}",1e300,2,"normal","online","n","u"]]',
        f'[["v","{device}",1]]',
        '[["q"]]',
    ]:
        caplog.clear()
        node._publish_live(f"{INSTANCES[1].hex}|{body}")
        assert "ignored a malformed live notice" in caplog.text, body
    good = cluster.live_payloads(
        INSTANCES[1].hex, _entries([LatestValue(DEVICES[0], AT, 2.0, "normal", "online")])
    )
    node._publish_live(good[0].replace(INSTANCES[1].hex, node.id.hex, 1))  # its own notice: not replayed
    assert seen == []
    node._publish_live(good[0])
    assert seen == [LatestValue(DEVICES[0], AT, 2.0, "normal", "online")]


def test_status_on_sqlite_says_one_instance_at_most(tmp_path: Path) -> None:
    from tests.services.test_cli import ddms_command

    listing = ddms_command("status", url=f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", data_dir=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.strip() == "SQLite database: one instance at most (several need PostgreSQL)"


def test_ddms_serve_refuses_a_sqlite_file_another_instance_runs_on(tmp_path: Path) -> None:
    from tests.services.test_cli import ddms_command

    url = f"sqlite+aiosqlite:///{tmp_path / 'ddms.db'}"
    held = len(startup._instance_lock)
    startup.hold_instance_lock(url)  # this process plays the running instance
    try:
        second = ddms_command("serve", "--port", "1", url=url, data_dir=tmp_path)
    finally:
        while len(startup._instance_lock) > held:
            startup._instance_lock.pop().close()  # type: ignore[attr-defined]
    assert second.returncode == 1, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert lines[0].startswith(f"error: another DDMS instance (pid {os.getpid()}) already runs on"), lines


class _FakeNode:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def valid(self) -> bool:
        return True


@pytest.mark.parametrize("leading", [True, False])
async def test_history_jobs_and_deliveries_run_on_the_leader_only(leading: bool, tmp_path: Path) -> None:
    from ddms import runtime
    from ddms.config import load_settings
    from ddms.scheduler import HistoryScheduler
    from ddms.services.delivery import DeliveryService

    ran: list[str] = []

    async def job() -> None:
        ran.append("job")

    with runtime.installed(runtime.Runtime()) as current:
        current.cluster = _FakeNode(leading)
        scheduler = HistoryScheduler(load_settings(ddms_data_dir=tmp_path))
        await scheduler._guarded(job)
        delivery = DeliveryService()
        delivery._wake(uuid.UUID(int=1))  # a channel with a row to send: a worker only on the leader
        workers = dict(delivery._workers)
        for task in workers.values():
            task.cancel()
        await asyncio.gather(*workers.values(), return_exceptions=True)
    assert ran == (["job"] if leading else [])
    assert bool(workers) is leading
