"""The alarm bell of the shared frame: active unacknowledged alarms, the tab title, the optional sound.

The count and the worst severity come from ``alarms.active_summary()``, the engine's in-memory state:
no query per page. The bell listens to the bus (``on_alarm_notices``); the listener only notes that
something changed, and a short UI timer applies it in the page, so a burst of transitions costs one
browser update (the pattern of ``pages.components.live``).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from nicegui import context, ui

from ddms.bus import AlarmNotice, get_bus
from ddms.i18n import _, format_integer
from ddms.services import alarms
from pages import theme

SOUND_KEY = "alarm_sound"  # per-user switch in the browser's user storage, like dark_mode
REFRESH_SECONDS = 0.5
_SOUNDING = ("raised", "escalated")

# A short two-tone beep made in the browser (WebAudio): no sound file, nothing fetched.
BEEP_JS = """
(() => {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  const ctx = window.__ddmsAudio = window.__ddmsAudio || new Ctx();
  [0, 0.25].forEach((at, i) => {
    const osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = i ? 660 : 880;
    gain.gain.value = 0.08;
    osc.connect(gain).connect(ctx.destination);
    osc.start(ctx.currentTime + at);
    osc.stop(ctx.currentTime + at + 0.18);
  });
})();
"""


def sound_enabled(storage: MutableMapping[str, Any]) -> bool:
    return bool(storage.get(SOUND_KEY, False))


def titled(count: int, title: str) -> str:
    """The browser tab's title: ``(3) Dashboard · DDMS`` while alarms wait, the plain title otherwise."""
    return f"({format_integer(count)}) {title}" if count else title


class AlarmBell:
    """The header's bell button with its badge; ``on_click`` opens the notification drawer."""

    def __init__(self, title: str, storage: MutableMapping[str, Any], on_click: Callable[[], Any]) -> None:
        self.title = title
        self.storage = storage
        self.changed = True
        self.new_critical = False
        self.shown: tuple[int, str | None] | None = None
        with (
            ui.button(icon="notifications", on_click=on_click)
            .props("flat round color=white")
            .mark("alarm-bell")
            .props(theme.testid("alarm-bell")) as self.button
        ):
            self.badge = (
                ui.badge("0")
                .props("floating text-color=white")
                .classes("text-sm font-bold")
                .mark("alarm-count")
                .props(theme.testid("alarm-count"))
            )
            self.tip = ui.tooltip("")
        unregister = get_bus().on_alarm_notices(self.note)
        context.client.on_delete(unregister)
        self.refresh()  # the first answer already carries the count in its title
        # not immediate: an immediate timer awaits the connection, and NiceGUI then answers before
        # the rest of the page is built
        ui.timer(REFRESH_SECONDS, self.refresh, immediate=False)

    def note(self, notices: list[AlarmNotice]) -> None:
        """Bus listener (runs in the publisher's context): remember, do not touch the page here."""
        self.changed = True
        if any(n.transition in _SOUNDING and n.alarm.severity == "critical" for n in notices):
            self.new_critical = True

    def refresh(self) -> None:
        if not self.changed:
            return
        self.changed = False
        summary = alarms.active_summary()
        count, worst = summary.count_unacknowledged, summary.worst
        if (count, worst) != self.shown:
            self.shown = (count, worst)
            self.badge.set_text(format_integer(count))
            self.badge.set_visibility(count > 0)
            colour = theme.SEVERITY_COLOURS.get(worst or "", theme.LEVEL_COLOURS["normal"])
            self.badge.style(f"{theme.fill_style(colour)}; top: 2px; right: 0")
            if worst == "critical":
                self.button.classes(add="ddms-bell-critical")
            else:
                self.button.classes(remove="ddms-bell-critical")
            self.tip.set_text(_("{n} active unacknowledged alarms").format(n=format_integer(count)))
            ui.page_title(titled(count, self.title))
        if self.new_critical:
            self.new_critical = False
            if sound_enabled(self.storage):
                ui.run_javascript(BEEP_JS)
