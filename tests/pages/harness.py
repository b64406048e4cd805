"""What the NiceGUI main file of the page tests builds the app from (set by the fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ddms.config import Settings
from ddms.models import utcnow

current_settings: Settings | None = None
now: Callable[[], datetime] = utcnow
"""The pages' clock (``pages.register(now=...)``): real time unless a test fixes it (``page_now``)."""
