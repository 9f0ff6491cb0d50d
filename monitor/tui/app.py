"""The dashboard: the scenarios table (monitor/tui/scenarios.py) on the main screen, and from
it a scenario's detail (detail.py), an entry (entry.py), the feeds (feeds.py) and the help
(help.py).

The store is read only in thread workers, which post what they read back as messages, so the
event loop never waits on the database. Every text that comes from a feed or from
indicators.yaml is drawn as a `rich.text.Text`, never as markup, so a headline with square
brackets shows as written.
"""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from monitor.errors import MonitorError
from monitor.tui.board import Board, load_board, tenths
from monitor.tui.detail import DetailScreen
from monitor.tui.entry import EntryScreen
from monitor.tui.feeds import FeedsScreen
from monitor.tui.help import HelpScreen
from monitor.tui.reading import (
    Trends,
    evidence_stamp,
    load_trends,
    scoring_key,
    trend_days,
)
from monitor.tui.scenarios import SORTS, LatestTable, ScenarioTable
from monitor.tui.shapes import stamp as _stamp
from monitor.tui.widgets import BoardScreen, FilterBar

__all__ = ["DetailScreen", "MonitorApp"]


class ScoresLoaded(Message):
    """The worker scored every scenario."""

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board


class TrendsLoaded(Message):
    """The worker read or re-scored each scenario's last 30 days (`done`: all of them) at
    `moments`, under rules with `key` (reading.scoring_key)."""

    def __init__(self, trends: Trends, moments: list[datetime] | None = None,
                 key: str = "") -> None:
        super().__init__()
        self.trends = trends
        self.moments = moments
        self.key = key


class LoadFailed(Message):
    """The worker could not read the rules or the store; `error` says why in one sentence."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class MonitorApp(App[None]):
    """The dashboard over the store at `store_url` with the rules at `indicators_path`, scored
    at `now` (default: the current time at each refresh).

    `clock` (the real time, for feed health) and `opener` (how a link reaches the browser)
    are attributes so a test can fix the one and observe the other."""

    CSS_PATH = "monitor.tcss"
    TITLE = "monitor"
    BINDINGS = [
        Binding("s", "sort", "Sort"),
        Binding("slash", "filter", "Filter"),
        Binding("f", "feeds", "Feeds"),
        Binding("r", "reload", "Refresh"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, store_url: str | None, indicators_path: Path | str,
                 now: datetime | None = None) -> None:
        super().__init__()
        self.store_url = store_url
        self.indicators_path = Path(indicators_path)
        self.now = now
        self.board: Board | None = None
        self.trends: Trends = {}
        # Past days' levels by (scenario, moment), kept across refreshes while the rules and
        # the stored evidence stay the same: scoring 29 past days of a large store takes a
        # while.
        self._past: dict[tuple[str, datetime], float] = {}
        self._past_key = ""
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.opener: Callable[[str], object] = webbrowser.open
        self._announce: list[tuple[str, Board | None]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Scoring…"), id="status")
        yield ScenarioTable()
        yield LatestTable()
        yield FilterBar()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#scenarios", ScenarioTable)
        table.show()
        table.focus()
        self.load_scores()

    def action_reload(self) -> None:
        self.query_one("#status", Static).update(Text("Scoring…"))
        self.load_scores()

    def rescore(self, reason: str) -> None:
        """Score again after `reason` (a mark, a poll) and announce what moved."""
        self._announce.append((reason, self.board))
        self.load_scores()

    @work(thread=True, exclusive=True, group="scores")
    def load_scores(self) -> None:
        try:
            board = load_board(self.store_url, self.indicators_path, self.now)
        except MonitorError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        self.post_message(ScoresLoaded(board))

    @work(thread=True, exclusive=True, group="trends")
    def load_trends(self, board: Board) -> None:
        worker = get_current_worker()
        current = {sid: v.score.level for sid, v in board.views.items()}
        try:
            key = scoring_key(board.config) + "\n" + evidence_stamp(self.store_url)
        except MonitorError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        known = dict(self._past) if key == self._past_key else {}
        shown = [time.monotonic()]

        def progress(trends: Trends) -> None:
            # The sparklines fill in from today backwards, redrawn at most twice a second.
            if time.monotonic() - shown[0] >= 0.5:
                shown[0] = time.monotonic()
                self.post_message(TrendsLoaded(trends))

        try:
            trends = load_trends(self.store_url, board.config, board.now, current,
                                 progress=progress, cancelled=lambda: worker.is_cancelled,
                                 known=known)
        except MonitorError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(TrendsLoaded(trends, trend_days(board.now), key))

    def on_scores_loaded(self, message: ScoresLoaded) -> None:
        board = self.board = message.board
        self.query_one("#scenarios", ScenarioTable).show(board)
        self.query_one("#latest", LatestTable).show(board)
        self._status()
        for screen in self.screen_stack:
            if isinstance(screen, BoardScreen):
                screen.board_changed(board)
        while self._announce:
            reason, before = self._announce.pop(0)
            self.notify(moved(reason, before, board), title="Scores updated")
        self.load_trends(board)

    def on_trends_loaded(self, message: TrendsLoaded) -> None:
        self.trends = message.trends
        if message.moments is not None:
            self._past_key = message.key
            self._past = {(sid, at): level for sid, levels in message.trends.items()
                          for at, level in zip(message.moments[:-1], levels, strict=False)
                          if level is not None}
        self.query_one("#scenarios", ScenarioTable).show(trends=message.trends)

    def _status(self) -> None:
        board = self.board
        if board is None:
            return
        table = self.query_one("#scenarios", ScenarioTable)
        n = len(board.config.scenarios)
        alerts = sum(1 for v in board.views.values() if v.alert)
        status = Text(f"Scores at {_stamp(board.now)}: {n} scenario{'s' if n != 1 else ''}")
        if alerts:
            status.append(f", {alerts} in alert", style="bold red")
        if table.needle:
            status.append(f", {table.row_count} shown for “{table.needle}”")
        else:
            status.append(". ? for keys", style="dim")
        self.query_one("#status", Static).update(status)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#status", Static).update(Text(message.error, style="bold red"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.board is not None and event.data_table.id == "latest" and event.row_key.value:
            self.push_screen(EntryScreen(int(event.row_key.value), self.board))
            return
        if self.board is None or event.data_table.id != "scenarios":
            return
        sid = event.row_key.value
        scenario = self.board.config.scenario(sid) if sid else None
        if scenario is not None:
            self.push_screen(DetailScreen(scenario, self.board))

    def on_filter_bar_filtered(self, message: FilterBar.Filtered) -> None:
        self.query_one("#scenarios", ScenarioTable).show(needle=message.text)
        self.query_one("#latest", LatestTable).show(needle=message.text)
        self._status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sort":
            return self.screen is self.screen_stack[0]
        if action == "filter":
            return bool(self.screen.query(FilterBar))
        if action == "feeds":
            return not isinstance(self.screen, FeedsScreen)
        return True

    def action_sort(self, order: str | None = None) -> None:
        table = self.query_one("#scenarios", ScenarioTable)
        table.show(order=order or SORTS[(SORTS.index(table.order) + 1) % len(SORTS)])
        self._status()

    def action_filter(self) -> None:
        for bar in self.screen.query(FilterBar):
            bar.open()

    def action_feeds(self) -> None:
        if self.board is not None:
            self.push_screen(FeedsScreen(self.board))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_link(self, link: str | None) -> None:
        """Open `link` in the browser if it is a web link, off the event loop."""
        if not link or not link.lower().startswith(("http://", "https://")):
            self.notify("This entry has no web link to open.", severity="warning")
            return
        self._open(link)

    @work(thread=True, group="browser")
    def _open(self, link: str) -> None:
        self.opener(link)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Feeds", "Every feed's health; poll one or all now",
                            self.action_feeds)
        yield SystemCommand("Poll every feed now", "Fetch every feed, whether due or not",
                            self._poll_all)
        for order in SORTS:
            label = "as written" if order == "file" else f"by {order}"
            yield SystemCommand(f"Sort scenarios {label}", "Order the scenarios table",
                                lambda order=order: self.action_sort(order))
        yield SystemCommand("Refresh", "Score every scenario again now", self.action_reload)
        yield SystemCommand("Keys", "Every key and how to read the screens", self.action_help)
        if self.board is not None:
            for s in self.board.config.scenarios:
                yield SystemCommand(f"Open {s.title}", s.question,
                                    lambda sid=s.id: self._open_scenario(sid))

    def _open_scenario(self, sid: str) -> None:
        scenario = self.board.config.scenario(sid) if self.board else None
        if self.board is not None and scenario is not None:
            self.push_screen(DetailScreen(scenario, self.board))

    def _poll_all(self) -> None:
        if self.board is None:
            return
        screen = FeedsScreen(self.board)
        self.push_screen(screen, callback=None)
        self.call_after_refresh(screen.action_poll_all)


def moved(reason: str, before: Board | None, after: Board) -> str:
    """`reason`, then each scenario whose shown level changed, `old -> new`."""
    changes = []
    if before is not None:
        for sid, v in after.views.items():
            old = before.views.get(sid)
            if old is None:
                continue
            a, b = tenths(old.score.level), tenths(v.score.level)
            if a != b:
                changes.append(f"{sid} {a:.1f} → {b:.1f} ({b - a:+.1f})")
    return reason + (": " + "; ".join(changes) if changes else "; no level moved")
