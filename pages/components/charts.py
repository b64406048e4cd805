"""ECharts options for history: one device (thresholds, coloured bands) or several (a group, or devices
picked to compare: a line per device, an axis per unit)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ddms.i18n import _, current_language
from pages import theme

# Time and number formatting in the browser, in the page's language (ECharts' own labels stay neutral).
# The tooltip is built as DOM nodes whose text is set as text (``append`` of strings, ``textContent``),
# never as an HTML string: series names are device names, and ECharts puts a string formatter's result
# into ``innerHTML`` (a device named ``<img src=x onerror=...>`` ran script for anyone hovering).
_TOOLTIP_JS = """(params) => {
  const list = Array.isArray(params) ? params : [params];
  if (!list.length) return '';
  const lang = %(lang)s, t = new Date(list[0].value[0]);
  const num = v => (v === null || v === undefined) ? '—'
    : Number(v).toLocaleString(lang, {maximumFractionDigits: 6});
  const node = (tag, text) => {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = String(text);
    return el;
  };
  const box = node('div');
  box.append(node('b', t.toLocaleString(lang)));
  for (const p of list) {
    if (String(p.seriesId).startsWith(%(envelope)s)) continue;
    const v = p.value, row = node('div'), dot = node('span');
    dot.style.cssText = 'display:inline-block;margin-right:4px;border-radius:50%%;width:10px;height:10px';
    dot.style.backgroundColor = typeof p.color === 'string' ? p.color : %(primary)s;
    row.append(dot, String(p.seriesName) + ': ', node('b', num(v[1])));
    if (v.length > 4 && v[4] > 1)
      row.append(' (' + %(min)s + ' ' + num(v[2]) + ', ' + %(max)s + ' ' + num(v[3]) + ', n=' + v[4] + ')');
    box.append(row);
  }
  return box;
}"""
TOOLTIP_CLASS = "ddms-chart-tooltip"
ENVELOPE_ID = "envelope-"  # ids of the min/max band series (the tooltip lists only the lines)
GAP_COLOUR = theme.LEVEL_COLOURS["offline"]


def _js_number(value: float) -> str:
    """A finite number as a JavaScript literal (the axis functions are code: only numbers go in)."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return repr(number)


def _axis_end(end: str, low: float, high: float) -> str:
    """JS for an axis end ("min" or "max") that includes the data and the thresholds ``low``..``high``,
    rounded to a tenth of the span's magnitude (so the tick labels stay short)."""
    rounding = "floor" if end == "min" else "ceil"
    lo, hi = _js_number(low), _js_number(high)
    return (
        f"(v) => {{ const lo = Math.min(v.min, {lo}), hi = Math.max(v.max, {hi});"
        " const span = (hi - lo) || Math.abs(hi) || 1;"
        " const inv = Math.pow(10, 1 - Math.floor(Math.log10(span)));"
        f" return Math.{rounding}({'lo' if end == 'min' else 'hi'} * inv) / inv; }}"
    )


def browser_language() -> str:
    return {"zh": "zh-CN"}.get(current_language(), "en-US")


def tooltip() -> dict[str, Any]:
    code = _TOOLTIP_JS % {
        "lang": json.dumps(browser_language()),
        "min": json.dumps(_("min")),
        "max": json.dumps(_("max")),
        "primary": json.dumps(theme.PRIMARY),
        "envelope": json.dumps(ENVELOPE_ID),
    }
    return {"trigger": "axis", ":formatter": code, "confine": True, "className": TOOLTIP_CLASS}


@dataclass(frozen=True, slots=True)
class View:
    """The time axis: the chosen range (``high`` None: it ends now and grows with live values) and,
    when zoomed, the visible part of it (ISO instants; the dataZoom components start there)."""

    low: str | None = None
    high: str | None = None
    zoom: tuple[str, str] | None = None


def base_options(view: View | None = None) -> dict[str, Any]:
    view = view or View()
    x_axis: dict[str, Any] = {"type": "time"}
    if view.low is not None:
        x_axis["min"] = view.low
    if view.high is not None:
        x_axis["max"] = view.high
    zoom: dict[str, Any] = (
        {"startValue": view.zoom[0], "endValue": view.zoom[1]} if view.zoom else {"start": 0, "end": 100}
    )
    return {
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 80},
        "xAxis": x_axis,
        "yAxis": {"type": "value", "scale": True},
        "tooltip": tooltip(),
        "legend": {"top": 4},
        "dataZoom": [
            {"type": "inside", "filterMode": "none", **zoom},
            {"type": "slider", "height": 28, "bottom": 16, "filterMode": "none", **zoom},
        ],
        "toolbox": {
            "right": 16,
            "top": 0,
            "feature": {
                "dataZoom": {"yAxisIndex": "none", "title": {"zoom": _("Zoom"), "back": _("Undo zoom")}},
                "restore": {"title": _("Reset zoom")},
            },
        },
        "series": [],
    }


def _bands(device: Any) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Coloured value bands (markArea) and the matching line colours (visualMap pieces)."""
    cl, wl = device.threshold_critical_lower, device.threshold_warning_lower
    wu, cu = device.threshold_warning_upper, device.threshold_critical_upper
    big = 1e12  # bands reach past any axis range; the axis is fitted to the data
    edges = [
        ("critical", -big, cl),
        ("warning", cl if cl is not None else -big, wl),
        (
            "normal",
            wl if wl is not None else (cl if cl is not None else -big),
            wu if wu is not None else (cu if cu is not None else big),
        ),
        ("warning", wu, cu if cu is not None else big),
        ("critical", cu, big),
    ]
    areas, pieces = [], []
    for level, low, high in edges:
        if low is None or high is None or low >= high:
            continue
        colour = theme.LEVEL_COLOURS[level]
        if level != "normal" or any(v is not None for v in (cl, wl, wu, cu)):
            areas.append([{"yAxis": low, "itemStyle": {"color": colour, "opacity": 0.08}}, {"yAxis": high}])
        pieces.append({"gte": low, "lt": high, "color": colour})
    return areas, pieces


Episode = tuple[str, str, str]  # start ISO, end ISO, severity


def alarm_areas(episodes: list[Episode]) -> list[list[dict[str, Any]]]:
    """Alarm episodes as vertical markArea bands over their time span, in their severity's colour."""
    areas: list[list[dict[str, Any]]] = []
    for start, end, severity in episodes:
        colour = theme.SEVERITY_COLOURS.get(severity, theme.LEVEL_COLOURS["critical"])
        areas.append([{"xAxis": start, "itemStyle": {"color": colour, "opacity": 0.22}}, {"xAxis": end}])
    return areas


def gap_areas(gaps: list[tuple[str, str]]) -> list[list[dict[str, Any]]]:
    """Stretches without a single reading (the device was offline or not polled), shaded grey."""
    return [
        [{"xAxis": start, "itemStyle": {"color": GAP_COLOUR, "opacity": 0.15}}, {"xAxis": end}]
        for start, end in gaps
    ]


def envelope(
    key: str, name: str, points: list[list[Any]], colour: str, opacity: float = 0.25
) -> list[dict[str, Any]]:
    """The min..max band behind a line: a transparent series at each bucket's min and, stacked on it,
    a filled one of height max - min. A 5-second spike inside a 2-minute bucket moves its max, so the
    band shows it at every zoom level even where the average hardly moves. Holes stay holes."""
    low = [[p[0], p[2]] for p in points]
    span = [[p[0], None if p[2] is None or p[3] is None else p[3] - p[2]] for p in points]
    common = {
        "type": "line",
        "name": name,
        "stack": ENVELOPE_ID + key,
        "stackStrategy": "all",  # a negative min still carries the span (ECharts' default: same sign)
        "showSymbol": False,
        "silent": True,
        "encode": {"x": 0, "y": 1},
        "lineStyle": {"opacity": 0},
        "z": 1,
    }
    return [
        common | {"id": f"{ENVELOPE_ID}low-{key}", "data": low},
        common
        | {
            "id": f"{ENVELOPE_ID}span-{key}",
            "data": span,
            "areaStyle": {"color": colour, "opacity": opacity},
        },
    ]


def envelope_bounds(options: dict[str, Any], key: str) -> list[tuple[str, float | None, float | None]]:
    """``(time, low, high)`` of the band ``key`` as drawn (the stacked sum is its top): what tests and
    a reader check against the stored extremes."""
    by_id = {series.get("id"): series for series in options["series"]}
    low, span = by_id[f"{ENVELOPE_ID}low-{key}"]["data"], by_id[f"{ENVELOPE_ID}span-{key}"]["data"]
    return [
        (a[0], a[1], None if a[1] is None or b[1] is None else a[1] + b[1])
        for a, b in zip(low, span, strict=True)
    ]


def device_options(
    device: Any,
    points: list[list[Any]],
    episodes: list[Episode] | None = None,
    gaps: list[tuple[str, str]] | None = None,
    view: View | None = None,
) -> dict[str, Any]:
    """One device's line (avg per bucket; min/max/count in the tooltip) over its min/max band, with
    thresholds and level bands, its alarm episodes and the stretches without readings shaded."""
    options = base_options(view)
    lines = []
    for name, label, colour in (
        ("threshold_critical_lower", _("Critical low"), theme.LEVEL_COLOURS["critical"]),
        ("threshold_warning_lower", _("Warning low"), theme.LEVEL_COLOURS["warning"]),
        ("threshold_warning_upper", _("Warning high"), theme.LEVEL_COLOURS["warning"]),
        ("threshold_critical_upper", _("Critical high"), theme.LEVEL_COLOURS["critical"]),
    ):
        value = getattr(device, name)
        if value is not None:
            lines.append(
                {
                    "yAxis": value,
                    "name": label,
                    "lineStyle": {"color": colour, "type": "dashed"},
                    "label": {"formatter": f"{label}: {value:g}", "position": "insideStartTop"},
                }
            )
    areas, pieces = _bands(device)
    options["yAxis"]["name"] = device.unit
    limits = [line["yAxis"] for line in lines]
    if limits:  # the axis fits the data; stretch it so every threshold line stays in view
        options["yAxis"][":min"] = _axis_end("min", min(limits), max(limits))
        options["yAxis"][":max"] = _axis_end("max", min(limits), max(limits))
    marked = areas + gap_areas(gaps or []) + alarm_areas(episodes or [])
    options["series"] = [
        {
            "type": "line",
            "name": device.name,
            "data": points,
            "showSymbol": False,
            "connectNulls": False,
            "encode": {"x": 0, "y": 1},
            "lineStyle": {"width": 2},
            "z": 3,
            "markLine": {"symbol": "none", "silent": True, "data": lines},
            "markArea": {"silent": True, "data": marked},
        },
        *envelope("0", device.name, points, theme.PRIMARY),
    ]
    options["legend"]["data"] = [device.name]
    if pieces and len(pieces) > 1:
        options["visualMap"] = {
            "show": False,
            "dimension": 1,
            "seriesIndex": 0,
            "pieces": pieces,
            "outOfRange": {"color": theme.PRIMARY},
        }
    return options


# ECharts' default palette: a group's device gets the same colour for its line and its band.
PALETTE = ("#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc")


@dataclass(frozen=True, slots=True)
class Line:
    """One device in a chart of several: its name, unit (its y axis) and points."""

    name: str
    unit: str
    points: list[list[Any]]


AXIS_OFFSET = 56  # px between two y axes on the same side


def unit_axes(units: list[str]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A y axis per distinct unit, alternating left and right (further out each time), and the axis
    index of each unit: °C and bar on one chart each keep their own scale, named by the unit."""
    order = list(dict.fromkeys(units)) or [""]
    axes = []
    for index, unit in enumerate(order):
        axes.append(
            {
                "type": "value",
                "scale": True,
                "name": unit,
                "position": "left" if index % 2 == 0 else "right",
                "offset": (index // 2) * AXIS_OFFSET,
                "alignTicks": index > 0,
                "splitLine": {"show": index == 0},
            }
        )
    return axes, {unit: index for index, unit in enumerate(order)}


def multi_options(
    series: list[Line],
    view: View | None = None,
    episodes: list[Episode] | None = None,
) -> dict[str, Any]:
    """One line per device (a group, or devices picked to compare), each over its own min/max band
    (same colour, fainter), each broken where its device sent nothing, on the y axis of its unit;
    the alarm episodes, when given, as shaded time spans."""
    options = base_options(view)
    axes, axis_of = unit_axes([line.unit for line in series])
    options["yAxis"] = axes
    left = sum(1 for axis in axes if axis["position"] == "left")
    right = len(axes) - left
    options["grid"]["left"] = 56 + (left - 1) * AXIS_OFFSET
    options["grid"]["right"] = 24 if right == 0 else 56 + (right - 1) * AXIS_OFFSET
    if right:  # a right axis's name sits where the toolbox is: the plot starts lower
        options["grid"]["top"] = 64
    lines: list[dict[str, Any]] = []
    bands: list[dict[str, Any]] = []
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        axis = axis_of[line.unit]
        lines.append(
            {
                "type": "line",
                "name": line.name,
                "data": line.points,
                "showSymbol": False,
                "connectNulls": False,
                "encode": {"x": 0, "y": 1},
                "color": colour,
                "yAxisIndex": axis,
                "z": 3,
            }
        )
        bands += [
            band | {"yAxisIndex": axis}
            for band in envelope(str(index), line.name, line.points, colour, opacity=0.15)
        ]
    if lines and episodes:
        lines[0]["markArea"] = {"silent": True, "data": alarm_areas(episodes)}
    options["series"] = lines + bands
    options["legend"]["data"] = list(dict.fromkeys(line.name for line in series))
    return options
