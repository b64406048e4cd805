"""Placeholder replaced by the live-data work (issue 3)."""

from __future__ import annotations

from ddms.config import Settings


class Collector:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
