"""Sharing devices between instances: the assignment every node computes, and the SQLite refusal."""

from __future__ import annotations

import asyncio
import math
import os
import uuid
from pathlib import Path

import pytest

from ddms import startup
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


def test_live_batches_stay_under_the_notify_limit_and_come_back_whole() -> None:
    from datetime import UTC, datetime

    from ddms.bus import LatestValue, StatusChange

    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    values = [
        ["v", str(device), at.isoformat(), 1.5 + n, "normal", "online", "d" * 100, "kPa"]
        for n, device in enumerate(DEVICES)
    ]
    statuses = [["s", str(DEVICES[0]), "offline", "timeout: no answer", at.isoformat(), "online"]]
    payloads = cluster.live_payloads(str(INSTANCES[0]), values + statuses)
    assert len(payloads) > 10
    assert all(len(payload.encode()) < 8000 for payload in payloads)
    import json

    back = [
        cluster._event_of(entry) for payload in payloads for entry in json.loads(payload.partition("|")[2])
    ]
    assert len(back) == len(DEVICES) + 1
    first = back[0]
    assert isinstance(first, LatestValue)
    assert (first.device_id, first.timestamp, first.value, first.device_name) == (
        DEVICES[0],
        at,
        1.5,
        "d" * 100,
    )
    last = back[-1]
    assert isinstance(last, StatusChange)
    assert (last.status, last.error, last.previous) == ("offline", "timeout: no answer", "online")


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
