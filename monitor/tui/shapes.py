"""The small text shapes the screens are drawn with: feed text made safe to show, sparklines,
matched words highlighted, colours for levels and changes, times said relative to now.

No textual here and no I/O: every function takes values and returns a `rich.text.Text` or a
string, so tests read the shapes without a terminal. Text that comes from a feed only ever
reaches the screen through `plain` and `Text(...)`: never as markup, never with its escapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.text import Text

from monitor.model import stamp as stamp  # the screens write moments as everything else does

SPARKS = "▁▂▃▄▅▆▇█"

# Escape sequences first (CSI with its parameters, OSC up to its terminator, two-byte ESC
# forms), so their parameters go with them; then any control or direction-changing character
# left, which could move the cursor, ring the bell or reorder the line.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_C1_CSI = re.compile(r"\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BLANKS = re.compile(r"\s+")


def plain(text: str | None) -> str:
    """`text` as one line that is safe to draw: escape sequences and control characters
    removed, runs of blanks (newlines too) made one space."""
    if not text:
        return ""
    text = _C1_CSI.sub("", _ANSI.sub("", text))
    text = _CONTROL.sub(" ", text)
    return _BLANKS.sub(" ", text).strip()


def plain_lines(text: str | None) -> str:
    """`text` made safe as `plain` makes it, keeping its paragraphs as lines."""
    if not text:
        return ""
    return "\n".join(plain(line) for line in text.splitlines() if plain(line))


def shown(text: str | None, style: str = "") -> Text:
    """Feed or rules text as a `Text` that is drawn exactly as written (no markup)."""
    return Text(plain(text), style=style, no_wrap=True, overflow="ellipsis")


def _term_pattern(term: str) -> re.Pattern[str] | None:
    parts = [re.escape(p) for p in term.split()]
    if not parts:
        return None
    # Words of a term match as written, but any run of blanks between them will do.
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)", re.IGNORECASE)


def highlight(text: str, terms: Iterable[str], style: str = "bold underline") -> Text:
    """`text` (made plain) with every occurrence of the matched `terms` in `style`."""
    out = shown(text)
    for term in set(terms):
        pattern = _term_pattern(plain(term))
        if pattern is not None:
            out.highlight_regex(pattern, style)
    return out


def sparkline(levels: Sequence[float | None], width: int, top: float | None = None) -> Text:
    """`levels` (oldest first) in `width` cells, each cell the latest level of its share of the
    days; drawn from 0 to `top` (default: the highest level shown, at least 25, so a line
    near zero stays low). A day without any level is a blank."""
    if width <= 0 or not levels:
        return Text(" " * max(width, 0))
    n = len(levels)
    cells: list[float | None] = []
    for i in range(min(width, n)):
        lo, hi = i * n // min(width, n), (i + 1) * n // min(width, n)
        known = [v for v in levels[lo:hi] if v is not None]
        cells.append(known[-1] if known else None)
    peak = top if top is not None else max([25.0, *[c for c in cells if c is not None]])
    out = Text(no_wrap=True)
    for c in cells:
        if c is None:
            out.append(" ")
            continue
        step = round(max(0.0, min(c, peak)) / peak * (len(SPARKS) - 1)) if peak > 0 else 0
        out.append(SPARKS[step])
    out.pad_right(width - len(cells))
    return out


def level_style(level: float, alert_at: float, hysteresis: float = 10.0) -> str:
    """Red at or above the alert level, yellow within `hysteresis` below it, else green."""
    if level >= alert_at:
        return "bold red"
    if level >= alert_at - hysteresis:
        return "yellow"
    return "green"


def change_text(change: float, big: float = 10.0) -> Text:
    """A change of the shown level: `▲ +3.2` / `▼ -1.0` / `·  0.0`, large moves in bold; `-`
    when unknown (NaN: a stored reading with none at that moment)."""
    if math.isnan(change):
        return Text("-", style="dim", justify="right")
    if change > 0:
        text, style = f"▲{change:+5.1f}", "yellow"
    elif change < 0:
        text, style = f"▼{change:+5.1f}", "cyan"
    else:
        return Text("·  0.0", style="dim", justify="right")
    if abs(change) >= big:
        style = f"bold {style}"
    return Text(text, style=style, justify="right")


def ago(when: datetime | None, now: datetime) -> str:
    """How long before `now` `when` was, in the largest whole unit: `5 m`, `3 h`, `12 d`."""
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "ahead"
    if seconds < 60:
        return "just now"
    return _span(seconds) + " ago"


def until(when: datetime | None, now: datetime) -> str:
    """How long after `now` `when` is: `in 12 m`, or `due` once it has passed."""
    if when is None:
        return "-"
    seconds = (when - now).total_seconds()
    return "due" if seconds <= 0 else "in " + _span(seconds)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def short_time(when: datetime) -> str:
    """Month, day and time: what a row of evidence shows."""
    return when.strftime("%m-%d %H:%M")
