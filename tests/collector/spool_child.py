"""A collector alone in its own process (settings from the environment), for the kill -9 tests.

Prints ``started`` once the collector runs; SIGTERM stops it the way ``ddms serve`` does
(polling stops, the writer flushes or spools), then exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import ddms.main  # noqa: F401  (the composition root: imports services in a working order)
from collector.runner import Collector
from ddms import db
from ddms.config import load_settings


async def main() -> None:
    settings = load_settings()
    database = db.configure(settings.resolved_database_url)
    collector = Collector(settings, backoff_cap=1.0)
    await collector.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    sys.stdout.write("started\n")
    sys.stdout.flush()
    await stop.wait()
    await collector.stop()
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
