"""The wall display's arithmetic (pages/components/wall_layout.py): grid, order, pages, rotation."""

from __future__ import annotations

import uuid

import pytest

from ddms.services.levels import WAITING_LEVEL
from pages.components.wall_layout import (
    GAP_PX,
    MIN_VALUE_PX,
    ROTATE_DEFAULT,
    ROTATE_MAX,
    ROTATE_MIN,
    Rotation,
    Standing,
    fit,
    grid_area,
    paginate,
    rotate_seconds,
    tile_height,
    wall_order,
)

FULL_HD = grid_area(1920, 1080)


def tile_size(count: int, area: tuple[int, int]) -> tuple[float, float]:
    shape = fit(count, *area)
    width, height = area
    return (
        (width - (shape.columns - 1) * GAP_PX) / shape.columns,
        (height - (shape.rows - 1) * GAP_PX) / shape.rows,
    )


def test_twenty_devices_fit_one_1080p_page_with_values_of_64_px_or_more() -> None:
    shape = fit(20, *FULL_HD)
    assert shape.per_page >= 20
    assert shape.columns * shape.rows >= 20
    assert shape.value_px >= MIN_VALUE_PX
    _width, height = tile_size(20, FULL_HD)
    assert tile_height(shape.value_px) <= height, "every line of a tile fits inside it"


def test_sixty_four_devices_page_in_balanced_pages_that_stay_readable() -> None:
    shape = fit(64, *FULL_HD)
    assert 20 <= shape.per_page < 64
    pages = paginate([uuid.uuid4() for _ in range(64)], shape.per_page)
    sizes = [len(page) for page in pages]
    assert sum(sizes) == 64
    assert max(sizes) - min(sizes) <= 1, sizes
    assert max(sizes) <= shape.columns * shape.rows <= shape.per_page
    assert shape.value_px >= MIN_VALUE_PX


@pytest.mark.parametrize("screen", [(1920, 1080), (1280, 800), (3840, 2160), (1080, 1920), (800, 480)])
@pytest.mark.parametrize("count", [1, 2, 7, 20, 64, 1000])
def test_a_page_always_fits_its_screen(screen: tuple[int, int], count: int) -> None:
    area = grid_area(*screen)
    shape = fit(count, *area)
    width, height = tile_size(count, area)
    assert width > 0
    assert tile_height(shape.value_px) <= height
    assert shape.value_px * 5 <= width, "the number and its unit fit the tile's width"
    if count > shape.per_page:
        assert shape.value_px >= MIN_VALUE_PX, "paging exists to keep the values readable"


def test_fewer_devices_get_bigger_text() -> None:
    sizes = [fit(count, *FULL_HD).value_px for count in (1, 4, 9, 16, 25)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[-1]


def test_alarms_come_first_critical_warning_offline_then_normal_in_listing_order() -> None:
    ids = [uuid.uuid4() for _ in range(7)]
    standings = [
        Standing(ids[0], "normal"),
        Standing(ids[1], "offline"),
        Standing(ids[2], WAITING_LEVEL),
        Standing(ids[3], "warning"),
        Standing(ids[4], "normal"),
        Standing(ids[5], "critical"),
        Standing(ids[6], "warning"),
    ]
    assert wall_order(standings) == [ids[5], ids[3], ids[6], ids[1], ids[0], ids[2], ids[4]]


def test_an_unacknowledged_latched_alarm_keeps_its_class_until_acknowledged() -> None:
    quiet, latched, warm = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    waiting = [
        Standing(quiet, "normal"),
        Standing(warm, "warning", "warning", alarm_acknowledged=True),
        Standing(latched, "normal", "critical", alarm_acknowledged=False),
    ]
    assert wall_order(waiting) == [latched, warm, quiet]
    acknowledged = [waiting[0], waiting[1], Standing(latched, "normal", "critical", alarm_acknowledged=True)]
    assert wall_order(acknowledged) == [warm, latched, quiet], "then first among the normal ones"


def test_pages_split_in_order_and_an_empty_wall_has_one_empty_page() -> None:
    order = [uuid.uuid4() for _ in range(5)]
    assert paginate(order, 2) == [order[0:2], order[2:4], order[4:5]]
    assert paginate(order, 4) == [order[0:3], order[3:5]]
    assert paginate(order, 5) == [order]
    assert paginate([], 25) == [[]]


def test_rotation_moves_on_every_n_ticks_and_wraps() -> None:
    rotation = Rotation(3, pages=3)
    seen = []
    for _ in range(9):
        changed = rotation.tick()
        seen.append((rotation.page, changed))
    assert seen == [
        (0, False),
        (0, False),
        (1, True),
        (1, False),
        (1, False),
        (2, True),
        (2, False),
        (2, False),
        (0, True),
    ]


def test_rotation_stays_on_a_single_page_and_first_restarts_the_interval() -> None:
    single = Rotation(1)
    assert [single.tick() for _ in range(3)] == [False, False, False]
    rotation = Rotation(2, pages=2)
    rotation.tick()
    rotation.tick()
    assert rotation.page == 1
    rotation.tick()
    rotation.first()
    assert (rotation.page, rotation.tick()) == (0, False), "a full interval on the first page"
    rotation.set_pages(1)
    assert rotation.page == 0


def test_fewer_pages_than_the_one_on_screen_go_back_to_the_first() -> None:
    rotation = Rotation(1, pages=3)
    rotation.tick()
    rotation.tick()
    assert rotation.page == 2
    rotation.set_pages(2)
    assert rotation.page == 0
    rotation.set_pages(5)
    assert rotation.page == 0


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (None, ROTATE_DEFAULT),
        ("15", 15),
        ("0", ROTATE_MIN),
        ("-4", ROTATE_MIN),
        ("99999", ROTATE_MAX),
        ("x", 10),
    ],
)
def test_the_rotation_interval_comes_from_the_address_within_bounds(raw: str | None, seconds: int) -> None:
    assert rotate_seconds(raw) == seconds
