"""The feeds screen: every feed's health (last success, last error in words, next poll,
entries) and keys to poll the selected feed or all of them now.

Polling runs in a thread worker with its own event loop, never on the dashboard's; when it is
done the table is re-read and the scores re-computed. While a live engine polls in the same
dashboard, a feed it is polling at that moment is left to it (its lease holds) and reported as
skipped, so no feed is fetched twice at once; an attached dashboard only reads and does not
poll at all (the keys say so).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from monitor.errors import MonitorError
from monitor.poll import PollReport
from monitor.tui.board import Board
from monitor.tui.reading import FeedHealth, load_feeds, poll
from monitor.tui.shapes import ago, plain, shown, until
from monitor.tui.widgets import BoardScreen, FilterBar, matches


class FeedsLoaded(Message):
    def __init__(self, feeds: list[FeedHealth]) -> None:
        super().__init__()
        self.feeds = feeds


class Polled(Message):
    def __init__(self, report: PollReport) -> None:
        super().__init__()
        self.report = report


class FeedsFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def status(health: FeedHealth) -> Text:
    s = health.state
    if not s.active:
        return Text("inactive", style="dim")
    if health.failing:
        return Text("failing", style="bold reverse red")
    if s.consecutive_errors:
        return Text(f"error ×{s.consecutive_errors}", style="bold red")
    if s.last_success_at is None:
        return Text("not yet", style="yellow")
    return Text("ok", style="green")


def report_line(report: PollReport) -> str:
    failed = len(report.failed)
    n = len(report.outcomes)
    line = f"Polled {n} feed{'s' if n != 1 else ''}: {report.new} new"
    if failed:
        line += f", {failed} failed ({', '.join(o.feed for o in report.failed)})"
    return line


class FeedsScreen(BoardScreen):
    """Every feed's polling state, as the store has it."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("p", "poll_one", "Poll feed"),
        Binding("a", "poll_all", "Poll all"),
    ]

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board
        self.feeds: list[FeedHealth] = []
        self.needle = ""
        self.polling = False
        self.last_poll = ""
        self.sub_title = "feeds"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Reading the feeds…"), id="feeds-status")
        yield DataTable[Text](id="feeds", cursor_type="row", zebra_stripes=True,
                              classes="filtered")
        yield FilterBar()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#feeds", DataTable).focus()
        self.load()

    def board_changed(self, board: Board) -> None:
        self.board = board

    @work(thread=True, exclusive=True, group="feeds")
    def load(self) -> None:
        try:
            feeds = load_feeds(self.dashboard.store_url, self.board.config)
        except MonitorError as exc:
            self.post_message(FeedsFailed(str(exc)))
            return
        self.post_message(FeedsLoaded(feeds))

    def on_feeds_loaded(self, message: FeedsLoaded) -> None:
        self.feeds = message.feeds
        self._draw()

    def on_feeds_failed(self, message: FeedsFailed) -> None:
        self.polling = False
        self.query_one("#feeds-status", Static).update(Text(message.error, style="bold red"))

    def _shown(self) -> list[FeedHealth]:
        return [f for f in self.feeds
                if matches(self.needle, f.state.id, f.state.name, f.state.last_error or "")]

    def _draw(self) -> None:
        table = self.query_one("#feeds", DataTable)
        width = table.size.width or self.app.size.width
        cursor = table.cursor_row
        table.clear(columns=True)
        now = self.dashboard.clock()
        wide = width >= 110
        columns = [("feed", 24 if wide else 16), ("", 1), ("status", 9), ("last ok", 9),
                   ("next", 8), ("entries", 7)]
        fixed = sum(w for _, w in columns) + 2 * (len(columns) + 1) + 2
        columns.append(("last error", max(12, width - fixed)))
        for label, w in columns:
            table.add_column(Text(label, justify="right" if label == "entries" else "left"),
                             width=w)
        shown_feeds = self._shown()
        for f in shown_feeds:
            s = f.state
            error = plain(s.last_error) if s.consecutive_errors and s.last_error else ""
            table.add_row(
                shown(s.name), Text(f.grade, style="dim"), status(f),
                Text(ago(s.last_success_at, now).replace(" ago", "")),
                Text(until(s.next_due_at, now) if s.next_due_at else "due") if s.active
                else Text("-"),
                Text(str(s.entry_count), justify="right"),
                Text(error, style="red", no_wrap=True, overflow="ellipsis"),
                key=s.id,
            )
        if shown_feeds:
            table.move_cursor(row=min(max(cursor, 0), len(shown_feeds) - 1), animate=False)
        if not self.polling:
            failing = sum(1 for f in self.feeds if f.state.consecutive_errors)
            line = Text(f"{len(self.feeds)} feeds")
            if failing:
                line.append(f", {failing} with errors", style="bold red")
            if self.dashboard.poll_refused():
                line.append(". Attached: this dashboard only reads; polling is left to whoever "
                            "feeds the database.", style="dim")
            else:
                line.append(". p polls the selected feed now, a polls all.", style="dim")
            if self.last_poll:
                line.append(f"\n{self.last_poll}.")
            self.query_one("#feeds-status", Static).update(line)

    def on_filter_bar_filtered(self, message: FilterBar.Filtered) -> None:
        self.needle = message.text
        self._draw()

    def on_resize(self) -> None:
        if self.feeds:
            self._draw()

    def action_poll_one(self) -> None:
        feeds = self._shown()
        row = self.query_one("#feeds", DataTable).cursor_row
        if 0 <= row < len(feeds):
            self._start([feeds[row].state.id])

    def action_poll_all(self) -> None:
        self._start(None)

    def _start(self, ids: list[str] | None) -> None:
        refused = self.dashboard.poll_refused()
        if refused:
            self.notify(refused, severity="warning")
            return
        if self.polling:
            self.notify("A poll is already running.")
            return
        self.polling = True
        what = ids[0] if ids else "every feed"
        self.query_one("#feeds-status", Static).update(Text(f"Polling {what}…", style="bold"))
        self.run_poll(ids)

    @work(thread=True, group="poll")
    def run_poll(self, ids: list[str] | None) -> None:
        try:
            report = poll(self.dashboard.store_url, self.dashboard.indicators_path,
                          ids, take_leases=not self.dashboard.polls_live())
        except MonitorError as exc:
            self.post_message(FeedsFailed(str(exc)))
            return
        self.post_message(Polled(report))

    def on_polled(self, message: Polled) -> None:
        self.polling = False
        line = self.last_poll = report_line(message.report)
        self.notify(line, severity="warning" if message.report.failed else "information")
        self.load()
        if message.report.new:
            self.dashboard.rescore(line)
