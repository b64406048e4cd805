"""Colours and sizes shared by every page: one industrial, high-contrast look."""

from __future__ import annotations

import re
import uuid

from ddms.i18n import N_

PRIMARY = "#1f5f99"
HEADER = "#1b2631"
LEVEL_COLOURS = {"normal": "#2e7d32", "warning": "#f59e0b", "critical": "#c62828", "offline": "#757575"}
STATUS_COLOURS = {"online": "#2e7d32", "offline": "#757575", "error": "#c62828"}
LEVEL_LABELS = {
    "normal": N_("Normal"),
    "warning": N_("Warning"),
    "critical": N_("Critical"),
    "offline": N_("Offline"),
}
STATUS_LABELS = {"online": N_("Online"), "offline": N_("Offline"), "error": N_("Error")}
SEVERITY_COLOURS = {"warning": "#f59e0b", "error": "#d84315", "critical": "#c62828"}
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

CSS = """
.ddms-page { max-width: 1600px; margin: 0 auto; width: 100%; }
.ddms-numeral { font-size: 2.6rem; line-height: 1.1; font-weight: 700; font-variant-numeric: tabular-nums; }
.ddms-unit { font-size: 1.1rem; opacity: .75; margin-left: .25rem; }
.ddms-spark { width: 100%; height: 3rem; display: block; }
.ddms-card { border-left: 8px solid var(--ddms-level, #757575); min-height: 190px; }
.ddms-tile { border-radius: 14px; color: white; padding: 1.2rem 1.4rem; min-height: 30vh; }
.ddms-tile .ddms-numeral { font-size: clamp(2.8rem, 5.5vw, 6.5rem); }
.ddms-tile-name { font-size: clamp(1.2rem, 2.4vw, 2.2rem); font-weight: 600; }
.ddms-conn { display: inline-flex; align-items: center; gap: .35rem; font-size: .85rem; }
.ddms-conn::before { content: ""; width: .7rem; height: .7rem; border-radius: 50%; background: #9e9e9e; }
.ddms-conn[data-state="online"]::before { background: #4caf50; }
.ddms-conn[data-state="offline"]::before { background: #ef5350; }
.q-btn, .q-field, .q-item { min-height: 44px; }
.body--dark .ddms-card { background: #1e272e; }
.ddms-latched { outline: 3px dashed var(--ddms-alarm, #c62828); outline-offset: -3px; }
.ddms-tile.ddms-latched { outline-width: 6px; outline-color: white; }
@keyframes ddms-blink { 50% { opacity: .35; } }
.ddms-bell-critical .q-badge { animation: ddms-blink 1s step-start infinite; }
"""

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
