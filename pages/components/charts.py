"""ECharts options for history: one device (thresholds, coloured bands) or a group (a line per device)."""

from __future__ import annotations

import json
import math
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
    }
    return {"trigger": "axis", ":formatter": code, "confine": True, "className": TOOLTIP_CLASS}


def base_options() -> dict[str, Any]:
    return {
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 40, "bottom": 80},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "scale": True},
        "tooltip": tooltip(),
        "legend": {"top": 4},
        "dataZoom": [
            {"type": "inside", "filterMode": "none"},
            {"type": "slider", "height": 28, "bottom": 16},
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


def device_options(
    device: Any, points: list[list[Any]], episodes: list[Episode] | None = None
) -> dict[str, Any]:
    """One device's line (avg per bucket; min/max/count in the tooltip) with thresholds and bands,
    and its alarm episodes as shaded time spans."""
    options = base_options()
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
    options["series"] = [
        {
            "type": "line",
            "name": device.name,
            "data": points,
            "showSymbol": False,
            "sampling": "lttb",
            "encode": {"x": 0, "y": 1},
            "lineStyle": {"width": 2},
            "markLine": {"symbol": "none", "silent": True, "data": lines},
            "markArea": {"silent": True, "data": areas + alarm_areas(episodes or [])},
        }
    ]
    if pieces and len(pieces) > 1:
        options["visualMap"] = {
            "show": False,
            "dimension": 1,
            "seriesIndex": 0,
            "pieces": pieces,
            "outOfRange": {"color": theme.PRIMARY},
        }
    return options


def group_options(series: list[tuple[str, list[list[Any]]]]) -> dict[str, Any]:
    """One line per device of a group."""
    options = base_options()
    options["series"] = [
        {
            "type": "line",
            "name": name,
            "data": points,
            "showSymbol": False,
            "sampling": "lttb",
            "encode": {"x": 0, "y": 1},
        }
        for name, points in series
    ]
    return options
