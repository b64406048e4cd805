"""The wall display's arithmetic, kept pure so it is unit tested: how many tiles fit a screen, in
which order they come, how they split into pages and which page is on screen.

A wall is read from across a room (5 m) on a screen without keyboard or mouse, so nothing may be
below the fold: the tiles of one page fill the screen exactly, and when there are more devices than
fit with a readable value (``MIN_VALUE_PX``) the wall pages through them on a timer. The alarmed
devices come first, so the first page is the one that matters.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ddms.services.levels import WAITING_LEVEL

# The CSS the page draws with uses the same numbers (``WALL_CSS`` in pages/components/wall.py).
HEADER_PX = 64  # the title / page / clock / connection bar
PAD_PX = 12  # around the grid (left, right, bottom)
GAP_PX = 12  # between tiles
TILE_PAD_PX = 14  # inside a tile
LINE_GAP_PX = 4  # between the lines of a tile
MIN_VALUE_PX = 64  # the smallest value text a page may have: readable from 5 m on a 1080p screen
MAX_VALUE_PX = 200
VALUE_EMS = 5.0  # the width of the value and its unit, in value-font ems ("1,234.56 kWh")
NAME_SHARE, NAME_MIN, NAME_MAX = 0.42, 18, 56
SMALL_SHARE, SMALL_MIN, SMALL_MAX = 0.30, 16, 40
DEFAULT_SCREEN = (1920, 1080)  # what the wall is laid out for until the browser tells its size

# Sort classes: critical, warning, offline, then normal (and devices waiting for a first reading).
LEVEL_CLASS = {"critical": 3, "warning": 2, "offline": 1, "normal": 0, WAITING_LEVEL: 0}
# An alarm nobody acknowledged yet keeps its device in the class of its severity, even when the value
# is back to normal (latched): the night's excursion is still on the first page in the morning.
ALARM_CLASS = {"critical": 3, "warning": 2, "error": 1}
ALARM_RANK = {"warning": 1, "error": 2, "critical": 3}


def grid_area(width: int, height: int) -> tuple[int, int]:
    """The space the tiles share on a screen (browser viewport) of ``width`` x ``height`` CSS px."""
    return max(1, width - 2 * PAD_PX), max(1, height - HEADER_PX - PAD_PX)


@dataclass(frozen=True, slots=True)
class Fit:
    """One page's grid and its text sizes (CSS px)."""

    columns: int
    rows: int
    per_page: int  # how many devices one page holds (the largest count still readable)
    value_px: int
    name_px: int
    small_px: int

    def style(self) -> str:
        """The CSS variables of the grid element (numbers only)."""
        return (
            f"--ddms-cols: {self.columns}; --ddms-rows: {self.rows}; --ddms-value: {self.value_px}px; "
            f"--ddms-name: {self.name_px}px; --ddms-small: {self.small_px}px"
        )


def _name_px(value_px: int) -> int:
    return min(NAME_MAX, max(NAME_MIN, round(value_px * NAME_SHARE)))


def _small_px(value_px: int) -> int:
    return min(SMALL_MAX, max(SMALL_MIN, round(value_px * SMALL_SHARE)))


def tile_height(value_px: int) -> float:
    """The height a tile needs for its lines: name, value, level and time, alarm."""
    lines = 1.2 * _name_px(value_px) + 1.0 * value_px + 2 * 1.25 * _small_px(value_px)
    return 2 * TILE_PAD_PX + 3 * LINE_GAP_PX + lines


def value_px_for(tile_width: float, tile_height_px: float) -> int:
    """The largest value text whose tile lines fit ``tile_height_px`` and whose number fits the width."""
    widest = math.floor((tile_width - 2 * TILE_PAD_PX) / VALUE_EMS)
    low, high = 0, min(MAX_VALUE_PX, widest)
    while low < high:  # tile_height grows with the value size: bisect the largest that fits
        middle = (low + high + 1) // 2
        if tile_height(middle) <= tile_height_px:
            low = middle
        else:
            high = middle - 1
    return low


def _grid(count: int, width: int, height: int) -> tuple[int, int, int]:
    """(value px, columns, rows) of the best grid for ``count`` tiles in the area: the largest value."""
    best = (-1, 1, count)
    for columns in range(1, count + 1):
        rows = math.ceil(count / columns)
        tile_w = (width - (columns - 1) * GAP_PX) / columns
        tile_h = (height - (rows - 1) * GAP_PX) / rows
        if tile_w <= 0 or tile_h <= 0:
            break
        best = max(best, (value_px_for(tile_w, tile_h), -columns, rows))
    value, columns, rows = best
    return value, -columns, rows


def fit(count: int, width: int, height: int) -> Fit:
    """The grid for ``count`` devices on a ``width`` x ``height`` grid area (``grid_area``).

    A page holds as many devices as fit with the value text at least ``MIN_VALUE_PX`` (at least one);
    the pages are then balanced (64 devices, 25 a page: three pages of 22, 21, 21), and the grid is
    the one giving the largest text for a page of that size.
    """
    count = max(1, count)
    low, high = 1, count
    while low < high:  # fewer tiles never get smaller text: bisect the largest readable page
        middle = (low + high + 1) // 2
        if _grid(middle, width, height)[0] >= MIN_VALUE_PX:
            low = middle
        else:
            high = middle - 1
    pages = math.ceil(count / low)
    size = math.ceil(count / pages)
    value, columns, rows = _grid(size, width, height)
    value = max(value, 1)
    return Fit(columns, rows, low, value, _name_px(value), _small_px(value))


@dataclass(frozen=True, slots=True)
class Standing:
    """What the order needs to know of one device."""

    device_id: uuid.UUID
    level: str  # ``services.levels.display_level`` (or ``WAITING_LEVEL``)
    alarm_severity: str | None = None  # its worst active or latched alarm
    alarm_acknowledged: bool = True

    @property
    def sort_class(self) -> int:
        alarm = 0 if self.alarm_acknowledged else ALARM_CLASS.get(self.alarm_severity or "", 0)
        return max(LEVEL_CLASS.get(self.level, 0), alarm)

    @property
    def alarm_rank(self) -> int:
        """Within a class: unacknowledged alarms first, then acknowledged ones, worst first."""
        if self.alarm_severity is None:
            return 0
        return ALARM_RANK.get(self.alarm_severity, 0) + (0 if self.alarm_acknowledged else 10)


def wall_order(standings: Sequence[Standing]) -> list[uuid.UUID]:
    """Critical, warning, offline, then normal; the given (listing) order among equals."""
    ranked = sorted(standings, key=lambda s: (-s.sort_class, -s.alarm_rank))  # stable
    return [standing.device_id for standing in ranked]


def paginate(order: Sequence[uuid.UUID], per_page: int) -> list[list[uuid.UUID]]:
    """Balanced pages of at most ``per_page`` devices, in order (at least one page, maybe empty)."""
    if not order:
        return [[]]
    pages = math.ceil(len(order) / max(1, per_page))
    size, longer = divmod(len(order), pages)  # the first ``longer`` pages get one more
    split, start = [], 0
    for page in range(pages):
        end = start + size + (1 if page < longer else 0)
        split.append(list(order[start:end]))
        start = end
    return split


class Rotation:
    """Which page is on screen. A once-a-second ``tick`` moves to the next page every ``seconds``, so
    a test drives it by calling ``tick`` instead of waiting."""

    def __init__(self, seconds: int, pages: int = 1) -> None:
        self.seconds = max(1, seconds)
        self.pages = max(1, pages)
        self.page = 0
        self.elapsed = 0

    def set_pages(self, pages: int) -> None:
        self.pages = max(1, pages)
        if self.page >= self.pages:
            self.first()

    def first(self) -> None:
        """Back to the first page, with a full interval on it (a new alarm is on it)."""
        self.page, self.elapsed = 0, 0

    def tick(self) -> bool:
        """One second passed; True when the page changed."""
        if self.pages == 1:
            self.page, self.elapsed = 0, 0
            return False
        self.elapsed += 1
        if self.elapsed < self.seconds:
            return False
        self.page, self.elapsed = (self.page + 1) % self.pages, 0
        return True


ROTATE_DEFAULT, ROTATE_MIN, ROTATE_MAX = 10, 2, 3600


def rotate_seconds(raw: str | None) -> int:
    """``?rotate=N`` from the address: seconds per page, within bounds; the default when absent or bad."""
    try:
        seconds = int(raw) if raw is not None else ROTATE_DEFAULT
    except ValueError:
        return ROTATE_DEFAULT
    return min(ROTATE_MAX, max(ROTATE_MIN, seconds))
