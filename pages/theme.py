"""Colours and sizes shared by every page: one industrial, high-contrast look."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from ddms.i18n import N_

PRIMARY = "#1f5f99"
HEADER = "#1b2631"
# Fills: card edges, wall tiles, badges, chart lines. Text on a fill takes `on_colour(fill)`.
LEVEL_COLOURS = {"normal": "#2e7d32", "warning": "#f59e0b", "critical": "#c62828", "offline": "#6d6d6d"}
STATUS_COLOURS = {"online": "#2e7d32", "offline": "#6d6d6d", "error": "#c62828"}
LEVEL_LABELS = {
    "normal": N_("Normal"),
    "warning": N_("Warning"),
    "critical": N_("Critical"),
    "offline": N_("Offline"),
}
WAITING_LABEL = N_("Waiting for first reading")
STATUS_LABELS = {"online": N_("Online"), "offline": N_("Offline"), "error": N_("Error")}
SEVERITY_COLOURS = {"warning": "#f59e0b", "error": "#c2410c", "critical": "#c62828"}
SEVERITY_RANK = {"warning": 1, "error": 2, "critical": 3}
SEVERITY_LABELS = {
    "warning": N_("Warning"),
    "error": N_("Error"),
    "critical": N_("Critical"),
    "info": N_("Info"),
}
ALARM_KIND_LABELS = {
    "threshold": N_("Threshold"),
    "offline": N_("Offline"),
    "device_error": N_("Device error"),
}
ALARM_STATE_LABELS = {"active": N_("Active"), "cleared": N_("Cleared")}
TRANSITION_LABELS = {
    "raised": N_("Raised"),
    "escalated": N_("Escalated"),
    "deescalated": N_("De-escalated"),
    "cleared": N_("Cleared"),
    "acknowledged": N_("Acknowledged"),
}
ROLE_LABELS = {"owner": N_("Owner"), "admin": N_("Admin"), "read_only": N_("Read-only")}

WHITE = "#ffffff"
INK = "#1b1b1b"  # dark text on light fills (amber): white on #f59e0b is only 2.15:1


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of a ``#rrggbb`` colour."""
    channels = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    r, g, b = ((c / 12.92) if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio (1 to 21); AA asks 4.5 for normal text and 3 for large text."""
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def on_colour(fill: str) -> str:
    """The text colour for a fill: white where it reads at AA, else near-black (amber, light greys)."""
    return WHITE if contrast(WHITE, fill) >= 4.5 else INK


def fill_style(fill: str) -> str:
    """Inline style of a badge or tile filled with a theme colour: the fill and its readable text."""
    return f"background: {fill} !important; color: {on_colour(fill)} !important"


@dataclass(frozen=True)
class Mode:
    """The colours text takes in one mode, and the backgrounds that text sits on.

    ``tones`` colour text that names a level or severity (a card's "Critical", a red error line); the
    fills above are too dark for a dark background and, for amber, too light for a white one.
    """

    name: str
    css_scope: str  # selector prefix: the dark rules apply under Quasar's ``body--dark``
    surfaces: dict[str, str]
    muted: str  # secondary text (Quasar's text-grey-7/8)
    link: str  # links and flat/outline primary buttons
    tones: dict[str, str]
    chart_text: str
    chart_line: str  # axis lines
    chart_grid: str  # split lines (not text: only kept faint)
    unread: str  # the background of an unread notification


LIGHT = Mode(
    name="light",
    css_scope="",
    surfaces={"page": WHITE, "card": WHITE},
    muted="#616161",
    link=PRIMARY,
    tones={
        "normal": "#2e7d32",
        "warning": "#b45309",
        "critical": "#c62828",
        "error": "#c2410c",
        "offline": "#6d6d6d",
        "info": PRIMARY,
    },
    chart_text="#424242",
    chart_line="#9e9e9e",
    chart_grid="#e0e0e0",
    unread="#e3f2fd",
)
DARK = Mode(
    name="dark",
    css_scope=".body--dark ",
    surfaces={"page": "#121212", "card": "#1d1d1d", "device card": "#1e272e"},
    muted="#b0bec5",
    link="#8ab4f8",
    tones={
        "normal": "#81c784",
        "warning": "#fbbf24",
        "critical": "#ff8a80",
        "error": "#ff8a65",
        "offline": "#bdbdbd",
        "info": "#8ab4f8",
    },
    chart_text="#cfd8dc",
    chart_line="#78909c",
    chart_grid="#37474f",
    unread="#17324d",
)
MODES = (LIGHT, DARK)
LEVEL_TONES = {level: level for level in LEVEL_COLOURS}  # a level's text is the tone of its name
QUASAR_TEXT = {"text-negative": "critical", "text-positive": "normal", "text-warning": "warning"}


def tone_class(tone: str) -> str:
    """The CSS class colouring text in a level's or severity's tone, readable in both modes."""
    if tone not in LIGHT.tones:
        raise ValueError(f"unknown tone: {tone!r}")
    return f"ddms-tone-{tone}"


def text_pairs() -> list[tuple[str, str, str, bool]]:
    """Every text/background pair the theme puts on screen: (what, text, background, large text).

    The contrast test checks each against WCAG AA; ``mode_css`` writes the same colours, so a colour
    changed here is changed and checked at once.
    """
    pairs: list[tuple[str, str, str, bool]] = []
    for mode in MODES:
        for surface, background in mode.surfaces.items():
            where = f"{mode.name} {surface}"
            pairs += [
                (f"{where}: {tone} text", colour, background, False) for tone, colour in mode.tones.items()
            ]
            pairs += [
                (f"{where}: muted text", mode.muted, background, False),
                (f"{where}: link", mode.link, background, False),
                (f"{where}: chart labels", mode.chart_text, background, False),
            ]
        text = INK if mode is LIGHT else WHITE
        pairs.append((f"{mode.name}: text on an unread notification", text, mode.unread, False))
    fills = {**LEVEL_COLOURS, **{f"status {k}": v for k, v in STATUS_COLOURS.items()}}
    fills |= {f"severity {k}": v for k, v in SEVERITY_COLOURS.items()} | {"primary button": PRIMARY}
    pairs += [(f"text on the {name} fill", on_colour(fill), fill, False) for name, fill in fills.items()]
    pairs += [
        ("header title", WHITE, HEADER, False),
        ("header page name", "#bdbdbd", HEADER, False),  # Quasar's text-grey-4
    ]
    return pairs


def mode_css() -> str:
    """The rules that give text its colour per mode (Quasar's own classes included, e.g. the red of an
    outline Delete button or a link, which default to colours made for a white page)."""
    rules = []
    for mode in MODES:
        scope = mode.css_scope
        for tone, colour in mode.tones.items():
            rules.append(f"{scope}.{tone_class(tone)} {{ color: {colour} !important; }}")
        for quasar, tone in QUASAR_TEXT.items():
            rules.append(f"{scope}.{quasar} {{ color: {mode.tones[tone]} !important; }}")
        rules.append(f"{scope}.text-grey-7, {scope}.text-grey-8 {{ color: {mode.muted} !important; }}")
        rules.append(f"{scope}.nicegui-link {{ color: {mode.link}; }}")
        rules.append(f"{scope}.bg-blue-1 {{ background: {mode.unread} !important; }}")
    rules.append(f"{DARK.css_scope}.q-btn:not(.bg-primary).text-primary {{ color: {DARK.link} !important; }}")
    rules.append(f"{DARK.css_scope}.ddms-card {{ background: {DARK.surfaces['device card']}; }}")
    return "\n".join(rules) + "\n"


def chart_theme(dark: bool) -> dict[str, Any]:
    """An ECharts theme for the mode: text, axis and grid colours (ECharts draws on a canvas, which no
    CSS reaches). Given to ``ui.echart(theme=...)``, which applies it when the chart is created."""
    mode = DARK if dark else LIGHT
    axis = {
        "axisLine": {"lineStyle": {"color": mode.chart_line}},
        "axisTick": {"lineStyle": {"color": mode.chart_line}},
        "axisLabel": {"color": mode.chart_text},
        "splitLine": {"lineStyle": {"color": [mode.chart_grid]}},
        "nameTextStyle": {"color": mode.chart_text},
    }
    return {
        "backgroundColor": "transparent",
        "textStyle": {"color": mode.chart_text},
        "title": {"textStyle": {"color": mode.chart_text}},
        "legend": {"textStyle": {"color": mode.chart_text}, "inactiveColor": mode.chart_line},
        "timeAxis": axis,
        "valueAxis": axis,
        "categoryAxis": axis,
        "logAxis": axis,
        "toolbox": {"iconStyle": {"borderColor": mode.chart_text}},
        "dataZoom": {
            "textStyle": {"color": mode.chart_text},
            "borderColor": mode.chart_line,
            "dataBackground": {"lineStyle": {"color": mode.chart_line}},
        },
        "tooltip": {
            "backgroundColor": mode.surfaces["card"],
            "borderColor": mode.chart_line,
            "textStyle": {"color": mode.chart_text if dark else INK},
        },
    }


CSS = """
.ddms-page { max-width: 1600px; margin: 0 auto; width: 100%; }
.ddms-numeral { font-size: 2.6rem; line-height: 1.1; font-weight: 700; font-variant-numeric: tabular-nums; }
.ddms-unit { font-size: 1.1rem; opacity: .75; margin-left: .25rem; }
.ddms-spark { width: 100%; height: 3rem; display: block; }
.ddms-card { border-left: 8px solid var(--ddms-level, #6d6d6d); min-height: 190px; }
.ddms-tile { border-radius: 14px; color: white; padding: 1.2rem 1.4rem; min-height: 30vh; }
.ddms-tile .ddms-numeral { font-size: clamp(2.8rem, 5.5vw, 6.5rem); }
.ddms-tile-name { font-size: clamp(1.2rem, 2.4vw, 2.2rem); font-weight: 600; }
.ddms-conn { display: inline-flex; align-items: center; gap: .35rem; font-size: .85rem; }
.ddms-conn::before { content: ""; width: .7rem; height: .7rem; border-radius: 50%; background: #9e9e9e; }
.ddms-conn[data-state="online"]::before { background: #4caf50; }
.ddms-conn[data-state="offline"]::before { background: #ef5350; }
.q-btn, .q-field, .q-item { min-height: 44px; }
.ddms-latched { outline: 3px dashed var(--ddms-alarm, #c62828); outline-offset: -3px; }
.ddms-tile.ddms-latched { outline-width: 6px; outline-color: white; }
@keyframes ddms-blink { 50% { opacity: .35; } }
.ddms-bell-critical .q-badge { animation: ddms-blink 1s step-start infinite; }
.ddms-tile-filter { cursor: pointer; }
.ddms-tile-filter[aria-pressed="true"] { outline: 3px solid var(--q-primary); outline-offset: 2px; }
.ddms-header-title { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
@media (max-width: 599.98px) { .ddms-conn-text { display: none; } }
.ddms-row { border-left: 6px solid var(--ddms-level, #6d6d6d); }
"""
CSS += mode_css()

# Keeps every `.ddms-conn` element in step with the websocket (the server cannot say it is gone).
CONNECTION_JS = """
<script>
setInterval(() => {
  const on = !!(window.socket && window.socket.connected);
  document.querySelectorAll('.ddms-conn').forEach(el => {
    el.dataset.state = on ? 'online' : 'offline';
    el.lastChild.textContent = on ? el.dataset.on : el.dataset.off;
  });
}, 1000);
</script>
"""


# What a marker or test id may contain: lower-case words, digits and dashes (fixed words and ids).
# No quote, space, colon, brace or angle bracket can pass, so nothing built from it can be code.
_KEY = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def testid(name: str) -> str:
    """The props string of a ``data-testid`` for browser tests (``.mark()`` markers exist only on the
    server side).

    NiceGUI parses a props string and evaluates every ``:prop`` in it as JavaScript, so it must never
    contain user data: a device named ``x" :title="alert(1)" y="`` would run script for everyone who
    sees its card. Test ids are fixed words or :func:`key` (a record's id); anything else raises.
    """
    if not _KEY.fullmatch(name):
        raise ValueError(f"test ids are fixed words and record ids, not user data: {name!r}")
    return f"data-testid={name}"


def key(kind: str, record_id: uuid.UUID) -> str:
    """The marker and test id of one record's element (``device-card-<uuid>``): from its id, never its
    name (names hold spaces, which split NiceGUI markers, and quotes)."""
    if not isinstance(record_id, uuid.UUID):
        raise TypeError(f"element keys are built from record ids (UUID), not {type(record_id).__name__}")
    value = f"{kind}-{record_id}"
    testid(value)  # the same alphabet as a test id
    return value
