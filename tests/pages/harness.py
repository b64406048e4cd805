"""What the NiceGUI main file of the page tests builds the app from (set by the fixtures)."""

from __future__ import annotations

from ddms.config import Settings

current_settings: Settings | None = None
