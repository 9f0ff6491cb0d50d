"""A scenario's detail: its question and source, its signpost board (every indicator of the
scenario, lit or quiet, with its points as `monitor explain` gives them, when it last fired and
whether it is surging), and the evidence behind its level, one story a row.

Enter on a story opens its entry; `o` opens the story's article; enter on a signpost narrows
the evidence to that indicator.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from monitor.errors import MonitorError
from monitor.indicators import Scenario
from monitor.scoring import ScenarioView
from monitor.tui.board import Board, level_bar, shown_change, tenths
from monitor.tui.reading import Detail, EvidenceRow, load_detail
from monitor.tui.shapes import (
    ago,
    change_text,
    highlight,
    level_style,
    short_time,
    shown,
    stamp,
)
from monitor.tui.widgets import BoardScreen, FilterBar, matches


class DetailLoaded(Message):
    def __init__(self, detail: Detail) -> None:
        super().__init__()
        self.detail = detail


class DetailFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def heading(scenario: Scenario, view: ScenarioView, board: Board) -> Text:
    """The scenario's name, level, changes and marks, its question and its source."""
    level = view.score.level
    alert_at = scenario.alert if scenario.alert is not None else board.config.defaults.alert
    head = Text()
    head.append_text(shown(scenario.title, "bold"))
    head.append("  ")
    head.append(level_bar(level, 10), style=level_style(tenths(level), alert_at,
                                                        board.config.defaults.hysteresis))
    head.append(f" {tenths(level):.1f}", style="bold")
    head.append("  24 h ")
    head.append_text(change_text(shown_change(level, view.change_24h)))
    head.append("  7 d ")
    head.append_text(change_text(shown_change(level, view.change_7d)))
    if view.alert:
        head.append("  ALERT", style="bold reverse red")
    head.append("\n")
    head.append(" ".join(scenario.question.split()))
    if scenario.source:
        head.append("\nsource: ", style="dim")
        head.append(" ".join(scenario.source.split()), style="dim")
    head.append(f"\nscored at {stamp(board.now)}; alert at {alert_at:g}", style="dim")
    return head


class DetailScreen(BoardScreen):
    """One scenario, with the signs that have and have not appeared and the stories behind
    its level."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("o", "open_link", "Open article"),
        Binding("tab", "app.focus_next", "Switch table", show=False),
    ]

    def __init__(self, scenario: Scenario, board: Board) -> None:
        super().__init__()
        self.scenario = scenario
        self.board = board
        self.view = board.views[scenario.id]
        self.detail: Detail | None = None
        self.needle = ""
        self.sub_title = scenario.title

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(heading(self.scenario, self.view, self.board), id="question")
        signs = DataTable[Text](id="signposts", cursor_type="row", zebra_stripes=True)
        signs.border_title = "signposts"
        yield signs
        stories = DataTable[Text](id="stories", cursor_type="row", zebra_stripes=True,
                                  classes="filtered")
        stories.border_title = "evidence"
        yield stories
        yield FilterBar()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stories", DataTable).focus()
        self.load()

    def board_changed(self, board: Board) -> None:
        self.board = board
        self.view = board.views.get(self.scenario.id, self.view)
        self.query_one("#question", Static).update(heading(self.scenario, self.view, board))
        self.load()

    @work(thread=True, exclusive=True, group="detail")
    def load(self) -> None:
        try:
            detail = load_detail(self.dashboard.store_url,
                                 self.board.config, self.scenario.id, self.view, self.board.now)
        except MonitorError as exc:
            self.post_message(DetailFailed(str(exc)))
            return
        self.post_message(DetailLoaded(detail))

    def on_detail_failed(self, message: DetailFailed) -> None:
        self.notify(message.error, severity="error")

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.detail = message.detail
        self._draw_signposts()
        self._draw_stories()

    def _draw_signposts(self) -> None:
        assert self.detail is not None
        table = self.query_one("#signposts", DataTable)
        table.clear(columns=True)
        width = table.size.width or self.app.size.width
        titled = width >= 110
        columns = [("", 1), ("signpost", 26), ("weight", 7), ("points", 6), ("last fired", 10),
                   ("surge", 12)]
        if titled:
            fixed = sum(w for _, w in columns) + 2 * (len(columns) + 1) + 2
            columns.insert(2, ("", max(10, width - fixed)))
        for label, w in columns:
            table.add_column(Text(label, justify="right" if label in ("weight", "points")
                                  else "left"), width=w)
        lit = 0
        for sign in self.detail.signposts:
            lit += sign.lit
            surge = Text()
            if sign.surge is not None:
                surge = Text(f"↑ {sign.surge.recent} vs {sign.surge.baseline:.1f}",
                             style="bold yellow")
            cells = [
                Text("●", style="bold green") if sign.lit else Text("○", style="dim"),
                shown(sign.indicator, "" if sign.lit else "dim"),
                Text(sign.weight, justify="right", style="dim"),
                Text(f"{sign.points:+.1f}" if sign.lit else "-", justify="right",
                     style="bold" if sign.lit else "dim"),
                Text(ago(sign.last, self.board.now).replace(" ago", ""),
                     style="" if sign.lit else "dim"),
                surge,
            ]
            if titled:
                cells.insert(2, shown(sign.title, "dim"))
            table.add_row(*cells, key=sign.indicator)
        n = len(self.detail.signposts)
        table.border_title = f"signposts: {lit} of {n} lit"

    def _shown_rows(self) -> list[EvidenceRow]:
        if self.detail is None:
            return []
        return [r for r in self.detail.evidence
                if matches(self.needle, r.title, r.source, r.story.indicator)]

    def _draw_stories(self) -> None:
        table = self.query_one("#stories", DataTable)
        table.clear(columns=True)
        width = table.size.width or self.app.size.width
        wide = width >= 110
        table.add_column(Text("time"), width=11)
        table.add_column(Text("source"), width=16 if wide else 10)
        table.add_column(Text(""), width=1)
        table.add_column(Text("points", justify="right"), width=6)
        table.add_column(Text("n", justify="right"), width=2)
        if wide:
            table.add_column(Text("indicator"), width=22)
        fixed = 11 + (16 if wide else 10) + 1 + 6 + 2 + (22 if wide else 0) + 2 * (6 + wide) + 2
        table.add_column(Text("title"), width=max(20, width - fixed))
        rows = self._shown_rows()
        for r in rows:
            cells = [
                Text(short_time(r.when)), shown(r.source), Text(r.grade, style="dim"),
                Text(f"{r.points:+.1f}", justify="right"),
                Text(str(r.size), justify="right", style="" if r.size > 1 else "dim"),
            ]
            if wide:
                cells.append(shown(r.story.indicator))
            cells.append(highlight(r.title, r.terms))
            table.add_row(*cells, key=f"{r.story.indicator}:{r.story.cluster}")
        listed = len(self.detail.evidence) if self.detail else 0
        total = max(self.detail.stories if self.detail else 0, listed)
        title = f"evidence: {total:,} stor{'y' if total == 1 else 'ies'}"
        if listed < total:
            title += f", the {listed:,} largest listed"
        if self.needle:
            title += f", {len(rows)} shown for “{self.needle}”"
        table.border_title = title

    def on_filter_bar_filtered(self, message: FilterBar.Filtered) -> None:
        self.needle = message.text
        self._draw_stories()

    def on_resize(self) -> None:
        if self.detail is not None:
            self._draw_signposts()
            self._draw_stories()

    def selected(self) -> EvidenceRow | None:
        table = self.query_one("#stories", DataTable)
        rows = self._shown_rows()
        if not rows or not 0 <= table.cursor_row < len(rows):
            return None
        return rows[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "signposts":
            # A signpost narrows the evidence to its stories (escape in the filter clears it).
            bar = self.query_one(FilterBar)
            bar.value = str(event.row_key.value)
            bar.display = True
            self.query_one("#stories", DataTable).focus()
            return
        row = self.selected()
        if row is not None:
            from monitor.tui.entry import EntryScreen

            self.app.push_screen(EntryScreen(row.entry, self.board))

    def action_open_link(self) -> None:
        row = self.selected()
        if row is not None:
            self.dashboard.open_link(row.link)
