"""An axis per unit when several devices share a chart: each unit once, the sides alternating and the
axes on one side stepping outwards, the plot area making room for them."""

from __future__ import annotations

from pages.components import charts


def test_each_unit_gets_one_axis_alternating_sides_further_out() -> None:
    lines = [
        charts.Line(name, unit, [["2026-01-01T00:00:00+00:00", 1.0, 1.0, 1.0, 1]])
        for name, unit in (("A", "°C"), ("B", "bar"), ("C", "°C"), ("D", "m³/h"), ("E", "kW"), ("F", ""))
    ]
    options = charts.multi_options(lines)
    axes = options["yAxis"]
    assert [axis["name"] for axis in axes] == ["°C", "bar", "m³/h", "kW", ""]
    assert [(axis["position"], axis["offset"]) for axis in axes] == [
        ("left", 0),
        ("right", 0),
        ("left", 56),
        ("right", 56),
        ("left", 112),
    ]
    assert options["grid"]["left"] == 56 + 2 * 56
    assert options["grid"]["right"] == 56 + 56
    named = {s["name"]: s["yAxisIndex"] for s in options["series"] if "id" not in s}
    assert named == {"A": 0, "B": 1, "C": 0, "D": 2, "E": 3, "F": 4}


def test_one_unit_keeps_the_single_axis_layout() -> None:
    options = charts.multi_options([charts.Line("A", "°C", []), charts.Line("B", "°C", [])])
    assert len(options["yAxis"]) == 1
    assert options["grid"]["right"] == 24
    assert charts.multi_options([])["yAxis"][0]["name"] == ""
