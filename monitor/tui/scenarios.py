"""The scenarios table: one row per scenario with its level as a bar and a number, its 24 h and
7 d changes, a 30-day trend and its alert and surge marks, sorted by level or by change; and
under it the latest evidence across scenarios, so what just moved is one key away.

The columns fit the terminal: at 80 columns the trend shows two days a cell and the title
gives way first; wider terminals get the full 30-day trend and the top indicator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from monitor.indicators import Scenario
from monitor.scoring import ScenarioView
from monitor.tui.board import Board, Latest, level_bar, shown_change, tenths, top_indicator
from monitor.tui.shapes import change_text, level_style, short_time, shown, sparkline
from monitor.tui.widgets import matches

SORTS = ("level", "24 h", "7 d", "file")
"""The orders `s` cycles through: by level, by the size of the 24 h or 7 d move, as written."""


@dataclass(frozen=True)
class Layout:
    title: int
    bar: int
    trend: int
    marks: int
    top: int
    """0: no top indicator column."""


def layout(width: int) -> Layout:
    """Column widths for a table `width` cells wide (cell padding and a scrollbar included)."""
    wide = width >= 110
    bar, trend, marks = (10, 30, 13) if wide else (8, 15, 8)
    fixed = (bar + 6) + 6 + 6 + trend + marks + 2 * 6 + 2
    top = 0
    if width - fixed >= 60:
        top = min(32, width - fixed - 30)
        fixed += top + 2
    return Layout(max(12, min(32, width - fixed)), bar, trend, marks, top)


def sort_key(order: str, view: ScenarioView) -> float:
    if order == "level":
        return -view.score.level
    if order in ("24 h", "7 d"):
        change = view.change_24h if order == "24 h" else view.change_7d
        moved = shown_change(view.score.level, change)
        # Unknown (NaN: a stored reading with none at that moment) sorts as no move; a NaN
        # key would leave the order undefined.
        return 0.0 if math.isnan(moved) else -abs(moved)
    return 0.0


def marks(view: ScenarioView, wide: bool) -> Text:
    out = Text(no_wrap=True)
    if view.alert:
        out.append("ALERT", style="bold reverse red")
    if view.surges:
        out.append(" " if out else "")
        n = len(view.surges)
        out.append(f"surge {n}" if wide else f"↑{n}", style="bold yellow")
    return out


class ScenarioTable(DataTable[Text]):
    """The scenarios, re-drawn by `show` whenever the board, the trends, the order, the
    filter or the terminal's width change."""

    def __init__(self) -> None:
        super().__init__(id="scenarios", cursor_type="row", zebra_stripes=True,
                         classes="filtered")
        self.board: Board | None = None
        self.trends: Mapping[str, Sequence[float | None]] = {}
        self.order = SORTS[0]
        self.needle = ""
        self._drawn_width = -1
        self._heads: list[tuple[tuple[object, ...], int]] = []
        self._rows: list[tuple[str, list[Text]]] = []
        self._column_keys: list[ColumnKey] = []

    def show(self, board: Board | None = None,
             trends: Mapping[str, Sequence[float | None]] | None = None,
             order: str | None = None, needle: str | None = None) -> None:
        self.board = board or self.board
        self.trends = self.trends if trends is None else trends
        self.order = order or self.order
        self.needle = self.needle if needle is None else needle
        self._draw()

    def on_resize(self) -> None:
        if self.size.width != self._drawn_width:
            self._draw()

    def visible_ids(self) -> list[str]:
        return [str(k.value) for k in self.rows]

    def _draw(self) -> None:
        board = self.board
        width = self.size.width or self.app.size.width
        self._drawn_width = self.size.width
        shape = layout(width)
        cursor_id = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            cursor_id = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        head = {self.order: " ▼"}
        columns = [(Text("scenario" + head.get("file", "")), shape.title),
                   (Text("level" + head.get("level", "")), shape.bar + 6),
                   (Text("24 h" + head.get("24 h", ""), justify="right"), 6),
                   (Text("7 d" + head.get("7 d", ""), justify="right"), 6),
                   (Text("30 days"), shape.trend),
                   (Text("marks"), shape.marks)]
        if shape.top:
            columns.append((Text("top indicator"), shape.top))
        rows: list[tuple[str, list[Text]]] = []
        if board is not None:
            scenarios = [s for s in board.config.scenarios
                         if matches(self.needle, s.id, s.title, s.question)]
            if self.order != "file":
                scenarios.sort(key=lambda s: sort_key(self.order, board.views[s.id]))
            rows = [(s.id, self._cells(board, s, shape)) for s in scenarios]
        heads = [(_signature(t), w) for t, w in columns]
        if heads == self._heads and [k for k, _ in rows] == [k for k, _ in self._rows]:
            # The same rows in the same order: change only the cells that differ, so the
            # table keeps its layout (clearing it makes the screen lay everything out anew).
            for (key, cells), (_, was) in zip(rows, self._rows, strict=True):
                for n, (cell, old) in enumerate(zip(cells, was, strict=True)):
                    if _signature(cell) != _signature(old):
                        self.update_cell(key, self._column_keys[n], cell)
            self._rows = rows
            return
        self.clear(columns=True)
        self._column_keys = [self.add_column(t, width=w) for t, w in columns]
        self._heads, self._rows = heads, rows
        for key, cells in rows:
            self.add_row(*cells, key=key)
        ids = [key for key, _ in rows]
        if cursor_id in ids:
            self.move_cursor(row=ids.index(str(cursor_id)), animate=False)

    def _cells(self, board: Board, s: Scenario, shape: Layout) -> list[Text]:
        v = board.views[s.id]
        level = v.score.level
        alert_at = s.alert if s.alert is not None else board.config.defaults.alert
        style = level_style(tenths(level), alert_at, board.config.defaults.hysteresis)
        bar = Text(level_bar(level, shape.bar), style=style, no_wrap=True)
        bar.append(f"{tenths(level):6.1f}", style="bold" if v.alert else "")
        row = [
            shown(s.title, "bold" if v.alert else ""),
            bar,
            change_text(shown_change(level, v.change_24h)),
            change_text(shown_change(level, v.change_7d)),
            sparkline(self.trends.get(s.id, ()), shape.trend),
            marks(v, shape.trend >= 30),
        ]
        if shape.top:
            top = board.tops[s.id] if s.id in board.tops else top_indicator(v.score)
            row.append(Text(f"{top[0]} {top[1]:+.1f}" if top else "-", no_wrap=True,
                            overflow="ellipsis"))
        return row


def _signature(text: Text) -> tuple[object, ...]:
    return text.plain, str(text.style), tuple(text.spans), text.justify


class LatestTable(DataTable[Text]):
    """The newest evidence across scenarios, under the scenarios table: enter opens it."""

    def __init__(self) -> None:
        super().__init__(id="latest", cursor_type="row", zebra_stripes=True)
        self.border_title = "latest evidence"
        self.rows_shown: list[Latest] = []
        self.board: Board | None = None
        self.needle = ""
        self._drawn_width = -1

    def show(self, board: Board | None = None, needle: str | None = None) -> None:
        """Re-draw from `board`, narrowed to the stories whose title, source or scenarios
        hold every word of `needle` (the scenarios' filter)."""
        self.board = board or self.board
        self.needle = self.needle if needle is None else needle
        rows = self.board.latest if self.board is not None else ()
        shown = [r for r in rows
                 if matches(self.needle, r.title, r.source, *(s for s, _ in r.points))]
        if shown == self.rows_shown and self._drawn_width == self._width():
            return  # a refresh that moved nothing shown here: no hundred rows laid out again
        self.rows_shown = shown
        self._draw()

    def on_resize(self) -> None:
        if self._width() != self._drawn_width:
            self._draw()

    def _width(self) -> int:
        return self.size.width or self.app.size.width

    def _draw(self) -> None:
        width = self._drawn_width = self._width()
        self.clear(columns=True)
        moves = 34 if width >= 110 else 28
        self.add_column(Text("time"), width=11)
        self.add_column(Text("points  scenario"), width=moves)
        self.add_column(Text("title"), width=max(20, width - 11 - moves - 2 * 4 - 2))
        for row in self.rows_shown:
            (sid, p), *more = row.points
            counts = Text(f"{p:+6.1f}", style="bold", no_wrap=True, overflow="ellipsis")
            counts.append(f" +{len(more)} " if more else "    ", style="dim")
            counts.append(sid)
            self.add_row(Text(short_time(row.when)), counts, shown(row.title), key=str(row.entry))
        self.border_title = f"latest evidence: {len(self.rows_shown)} stories"
