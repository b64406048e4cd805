"""WCAG AA contrast of every text/background pair the theme uses, in light and dark mode (issue 12)."""

from __future__ import annotations

import pytest

from pages import theme


def test_contrast_formula_matches_the_wcag_reference_values() -> None:
    assert theme.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert theme.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic AA miss
    # the figures issue 12 measured on the old theme
    assert theme.contrast("#ffffff", "#f59e0b") == pytest.approx(2.15, abs=0.01)
    assert theme.contrast("#2e7d32", "#1e272e") == pytest.approx(2.96, abs=0.01)
    assert theme.contrast("#c62828", "#1e272e") == pytest.approx(2.70, abs=0.01)


@pytest.mark.parametrize(("what", "text", "background", "large"), theme.text_pairs(), ids=lambda v: str(v))
def test_every_text_pair_meets_wcag_aa(what: str, text: str, background: str, large: bool) -> None:
    needed = 3.0 if large else 4.5
    ratio = theme.contrast(text, background)
    assert ratio >= needed, f"{what}: {text} on {background} is {ratio:.2f}:1, AA needs {needed}:1"


def test_pairs_cover_both_modes_every_tone_and_every_fill() -> None:
    pairs = theme.text_pairs()
    for mode in theme.MODES:
        for surface in mode.surfaces.values():
            shown = {text for _what, text, background, _large in pairs if background == surface}
            assert set(mode.tones.values()) | {mode.muted, mode.link, mode.chart_text} <= shown
    fills = {background for _what, _text, background, _large in pairs}
    fills_used = {
        *theme.LEVEL_COLOURS.values(),
        *theme.STATUS_COLOURS.values(),
        *theme.SEVERITY_COLOURS.values(),
    }
    assert fills_used <= fills


def test_the_page_css_applies_the_checked_colours_per_mode() -> None:
    """The pairs are the CSS's colours: each tone is written under its mode's scope."""
    for mode in theme.MODES:
        for tone, colour in mode.tones.items():
            assert f"{mode.css_scope}.{theme.tone_class(tone)} {{ color: {colour} !important; }}" in theme.CSS
        assert f"{mode.css_scope}.nicegui-link {{ color: {mode.link}; }}" in theme.CSS
    assert f".body--dark .text-negative {{ color: {theme.DARK.tones['critical']} !important; }}" in theme.CSS


def test_text_on_amber_is_dark_and_on_green_or_red_white() -> None:
    assert theme.on_colour(theme.LEVEL_COLOURS["warning"]) == theme.INK
    assert theme.on_colour(theme.LEVEL_COLOURS["normal"]) == theme.WHITE
    assert theme.on_colour(theme.LEVEL_COLOURS["critical"]) == theme.WHITE
    assert "color: #1b1b1b" in theme.fill_style(theme.LEVEL_COLOURS["warning"])


def test_dark_chart_theme_has_dark_grid_and_light_labels() -> None:
    light, dark = theme.chart_theme(dark=False), theme.chart_theme(dark=True)
    grid = dark["valueAxis"]["splitLine"]["lineStyle"]["color"][0]
    assert grid != light["valueAxis"]["splitLine"]["lineStyle"]["color"][0]
    assert theme.relative_luminance(grid) < 0.1  # a dark grid, not the light one on a dark page
    label = dark["timeAxis"]["axisLabel"]["color"]
    assert theme.contrast(label, theme.DARK.surfaces["page"]) >= 4.5
    assert dark["legend"]["textStyle"]["color"] == label
