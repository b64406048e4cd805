"""The live bridge's own CPU per entry, without PostgreSQL: encoding a batch and publishing one.

    .venv/bin/python benchmarks/cluster_bridge.py [--entries 2000] [--listeners 3] [--profile]

``--entries`` readings (one per device, names like the simulator's) are kept by a node the way
``Node._on_local_event`` keeps them and encoded as ``Node._flush_live_now`` does (the send side), then
the notices are published on another node's bus with ``Node._publish_live`` (the receive side) with
``--listeners`` bus listeners (pages, streams) beside the node's own. ``--profile`` prints where the
receive side's time goes (cProfile): JSON, ids and times, the events' construction or the bus fan-out.
What this leaves out is asyncpg's part (sending the query, parsing the notices), which
``benchmarks/cluster.py`` measures in the instances' total CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file: this script's folder would shadow the collector package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import cProfile
import pstats
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from ddms.bus import Bus, Event, LatestValue
from ddms.services import cluster


def per_entry(run: Callable[[], object], entries: int, rounds: int = 20) -> float:
    """Microseconds of CPU per entry of one ``run()``, the mean over ``rounds`` after one warm-up."""
    run()
    started = time.process_time()
    for _ in range(rounds):
        run()
    return 1e6 * (time.process_time() - started) / rounds / entries


def main(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    readings = [
        LatestValue(uuid.uuid4(), now, 12.345678 + n, "normal", "online", f"sensor-{n:04d} pressure", "kPa")
        for n in range(args.entries)
    ]
    sender = uuid.uuid4().hex

    def send() -> list[str]:
        kept: dict[uuid.UUID, LatestValue] = {}
        for reading in readings:
            kept[reading.device_id] = reading
        return cluster.live_payloads(sender, [cluster._value_entry(event) for event in kept.values()])

    payloads = send()
    bus = Bus()
    node = cluster.Node("postgresql://unused", bus=bus)
    bus.listen(node._on_local_event)
    for _ in range(args.listeners):
        bus.listen(lambda _event: None)
    seen: list[Event] = []
    bus.listen(seen.append, device_ids={readings[0].device_id})

    def receive() -> None:
        for payload in payloads:
            node._publish_live(payload)

    size = sum(len(payload) for payload in payloads)
    print(f"{args.entries} readings in {len(payloads)} notices, {size / args.entries:.0f} bytes each")
    print(f"  send (keep + encode): {per_entry(send, args.entries):.2f} us per entry")
    print(f"  receive (decode + publish): {per_entry(receive, args.entries):.2f} us per entry")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(10):
            receive()
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--listeners", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    main(parser.parse_args())
