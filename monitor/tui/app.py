"""The dashboard: the scenarios table (monitor/tui/scenarios.py) on the main screen, and from
it a scenario's detail (detail.py), an entry (entry.py), the feeds (feeds.py) and the help
(help.py).

The store is read only off the event loop, and results come back as messages: thread workers
score a fixed board and read the screens' details, or a live engine (monitor/tui/live.py) in a
thread of its own keeps the board current, takes in a saved indicators.yaml (its problems show
in a banner until fixed) and tells alert crossings, which show as notifications. Either way a
new board reaches every open screen (`BoardScreen.board_changed`). Every text that comes from
a feed or from indicators.yaml is drawn as a `rich.text.Text`, never as markup, so a headline
with square brackets shows as written.
"""

from __future__ import annotations

import asyncio
import threading
import time
import webbrowser
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from monitor.errors import MonitorError
from monitor.evidence import Crossing
from monitor.fetch import prepare_parser_processes
from monitor.memory import return_large_blocks
from monitor.tui.board import Board, load_board, load_reading, tenths
from monitor.tui.detail import DetailScreen
from monitor.tui.entry import EntryScreen
from monitor.tui.feeds import FeedsScreen
from monitor.tui.help import HelpScreen
from monitor.tui.live import Engine
from monitor.tui.reading import Trends, load_trends, trend_days
from monitor.tui.scenarios import SORTS, LatestTable, ScenarioTable
from monitor.tui.shapes import stamp as _stamp
from monitor.tui.widgets import BoardScreen, FilterBar
from monitor.watch import Reload

__all__ = ["DetailScreen", "MonitorApp"]


class ScoresLoaded(Message):
    """The worker scored every scenario."""

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board


class TrendsLoaded(Message):
    """The worker read or re-scored each scenario's last 30 days; when all are done, at
    `moments`, scored from `source` (a kept ledger) as it stood at `stamp`."""

    def __init__(self, trends: Trends, moments: list[datetime] | None = None,
                 source: object = None, stamp: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.trends = trends
        self.moments = moments
        self.source = source
        self.stamp = stamp


class LoadFailed(Message):
    """The worker could not read the rules or the store; `error` says why in one sentence."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RulesReloaded(Message):
    """indicators.yaml was read again: `problems` is empty when its new rules were taken in."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__()
        self.problems = problems


class AlertCrossed(Message):
    """A scenario's alert switched on or off."""

    def __init__(self, crossing: Crossing) -> None:
        super().__init__()
        self.crossing = crossing


class _Posted:
    """An engine's `Events`, as messages to the app (posting is safe from any thread)."""

    def __init__(self, app: App[None]) -> None:
        self.app = app

    def board(self, board: Board) -> None:
        self.app.post_message(ScoresLoaded(board))

    def reloaded(self, reload: Reload) -> None:
        self.app.post_message(RulesReloaded(reload.problems))

    def crossing(self, crossing: Crossing) -> None:
        self.app.post_message(AlertCrossed(crossing))

    def failed(self, error: str) -> None:
        self.app.post_message(LoadFailed(error))


_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _unless_closing(handler: _Handler) -> _Handler:
    """For handlers of what workers post: a message can arrive while the app is closing and
    its widgets are already gone; it is then dropped instead of failing the exit."""

    @wraps(handler)
    def guarded(self: App[None], *args: Any) -> Any:
        try:
            return handler(self, *args)
        except NoMatches:
            if self.is_running:  # not shutting down: a real mistake
                raise
            return None

    return guarded  # type: ignore[return-value]


class MonitorApp(App[None]):
    """The dashboard over the store at `store_url` with the rules at `indicators_path`, scored
    at `now` (default: the current time at each refresh).

    With an `engine` the board keeps itself current (see monitor/tui/live.py), and every
    re-scoring the dashboard asks for (`r`, a mark, a poll) goes through it, so there is one
    scoring path; without one the board is scored once, and again on `r`, a mark or a poll.
    Either way, unless `now` is fixed, the latest stored reading (`board.reading_board`) is
    drawn first while the scores are computed; a scenario opens only once they arrive.

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
                 now: datetime | None = None, *, engine: Engine | None = None) -> None:
        super().__init__()
        # Before the app runs and replaces sys.stderr: the live engine's polls and the feeds
        # screen's start parser processes (see monitor.fetch.prepare_parser_processes).
        prepare_parser_processes()
        # The ledger's arrays, a few MB each, go back to the system when dropped (see
        # monitor.memory): a dashboard stays open all day.
        return_large_blocks()
        self.store_url = store_url
        self.indicators_path = Path(indicators_path)
        self.now = now
        self.board: Board | None = None
        self.trends: Trends = {}
        # Past days' levels by (scenario, moment), kept across refreshes for the days before
        # any evidence read since (scoring 29 past days of a large store takes a while), with
        # the ledger they were scored from and its stamp then.
        self._past: dict[tuple[str, datetime], float] = {}
        self._past_source: object = None
        self._past_stamp: tuple[int, int] | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.opener: Callable[[str], object] = webbrowser.open
        self._announce: list[tuple[str, Board | None]] = []
        # A board that arrived while the trends were being scored: scored next, when those
        # finish (cancelling them instead would never finish under a busy live engine).
        self._trends_next: Board | None = None
        self._trends_board: Board | None = None
        self._status_lines = 1
        self.engine = engine
        self.engine_thread: threading.Thread | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        problems = Static(id="problems")
        problems.display = False
        yield problems
        yield Static(Text("Scoring…"), id="status")
        yield ScenarioTable()
        yield LatestTable()
        yield FilterBar()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#scenarios", ScenarioTable)
        table.show()
        table.focus()
        if self.engine is None:
            self.load_scores()
            return
        self.sub_title = self.engine.label
        # A thread of its own, not a Textual thread worker: Textual cannot stop one, and its
        # executor would wait for it at exit; this one is stopped and joined on unmount.
        self.engine_thread = threading.Thread(target=self._run_engine, args=(self.engine,),
                                              name="monitor-live")
        self.engine_thread.start()

    def _run_engine(self, engine: Engine) -> None:
        try:
            engine.run(_Posted(self))
        except Exception as exc:  # a bug in the engine: say so on screen, not as a traceback
            self.post_message(LoadFailed(f"Live updates stopped: {type(exc).__name__}: {exc}"))

    async def on_unmount(self) -> None:
        # The engine's pass in flight finishes (each feed's transaction commits or never
        # starts) before the app is gone, so quitting never leaves a thread or half a write.
        thread = self.engine_thread
        if self.engine is not None and thread is not None:
            self.engine.stop()
            await asyncio.to_thread(thread.join)

    def action_reload(self) -> None:
        self._set_status(Text("Scoring…"))
        self._score()

    def rescore(self, reason: str) -> None:
        """Score again after `reason` (a mark, a poll) and announce what moved."""
        self._announce.append((reason, self.board))
        self._score()

    def _score(self) -> None:
        if self.engine is not None:
            self.engine.refresh()
        else:
            self.load_scores()

    def poll_refused(self) -> str | None:
        """Why this dashboard must not poll feeds itself (attached: it only reads), or None."""
        if self.engine is not None and not self.engine.polls:
            return ("This dashboard is attached and only reads the database; whoever feeds "
                    "it polls (monitor run, monitor poll).")
        return None

    def polls_live(self) -> bool:
        """Whether a live engine polls here: a poll from the feeds screen then leaves the
        feeds it is polling to it (their leases) instead of fetching them twice."""
        return self.engine is not None and self.engine.polls

    @work(thread=True, exclusive=True, group="scores")
    def load_scores(self) -> None:
        try:
            # The first screen: the latest stored reading at once, then the scores.
            if self.board is None and self.now is None:
                reading = load_reading(self.store_url, self.indicators_path)
                if reading is not None:
                    self.post_message(ScoresLoaded(reading))
            board = load_board(self.store_url, self.indicators_path, self.now)
        except MonitorError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        self.post_message(ScoresLoaded(board))

    def _trend(self, board: Board) -> None:
        # Handed over in an attribute, not as the worker's argument: a finished Textual
        # worker keeps its arguments until the cyclic garbage collector runs, and a board
        # holds a scoring's arrays (tens of MB a refresh at a million hits).
        self._trends_board = board
        self.load_trends()

    @work(thread=True, exclusive=True, group="trends")
    def load_trends(self) -> None:
        worker = get_current_worker()
        board, self._trends_board = self._trends_board, None
        past = board.past if board is not None else None
        if board is None or past is None:
            return
        current = {sid: v.score.level for sid, v in board.views.items()}
        # Taken before scoring: hits read meanwhile make the next look score their days again.
        stamp = past.stamp()
        kept = self._past if self._past_source is past.live else {}
        changed = past.changed_since(self._past_stamp) if kept else None
        known = {key: level for key, level in kept.items() if changed is None or key[1] < changed}
        shown = [time.monotonic()]

        def progress(trends: Trends) -> None:
            # The sparklines fill in from today backwards, redrawn at most twice a second.
            if time.monotonic() - shown[0] >= 0.5:
                shown[0] = time.monotonic()
                self.post_message(TrendsLoaded(trends))

        try:
            trends = load_trends(self.store_url, board.config, board.now, current,
                                 progress=progress, cancelled=lambda: worker.is_cancelled,
                                 known=known, past=past)
        except MonitorError as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(TrendsLoaded(trends, trend_days(board.now), past.live, stamp))

    @_unless_closing
    def on_scores_loaded(self, message: ScoresLoaded) -> None:
        board = self.board = message.board
        self.query_one("#scenarios", ScenarioTable).show(board)
        self.query_one("#latest", LatestTable).show(board)
        self._status()
        for screen in self.screen_stack:
            if isinstance(screen, BoardScreen):
                screen.board_changed(board)
        if board.reading:
            return  # no stories to trend or to announce: the scores follow
        while self._announce:
            reason, before = self._announce.pop(0)
            self.notify(moved(reason, before, board), title="Scores updated")
        if any(w.group == "trends" and not w.is_finished for w in self.workers):
            self._trends_next = board
        else:
            self._trend(board)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        board = self._trends_next
        if event.worker.group == "trends" and event.worker.is_finished and board is not None:
            self._trends_next = None
            self._trend(board)

    @_unless_closing
    def on_trends_loaded(self, message: TrendsLoaded) -> None:
        self.trends = message.trends
        if message.moments is not None:
            self._past_source, self._past_stamp = message.source, message.stamp
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
        scenarios = f"{n} scenario{'s' if n != 1 else ''}"
        if board.reading:
            status = Text(f"As of {_stamp(board.now)} (the last stored reading), scoring…: "
                          f"{scenarios}")
        else:
            status = Text(f"Scores at {_stamp(board.now)}: {scenarios}")
        if alerts:
            status.append(f", {alerts} in alert", style="bold red")
        if table.needle:
            status.append(f", {table.row_count} shown for “{table.needle}”")
        elif not board.reading:
            status.append(". ? for keys", style="dim")
        self._set_status(status)

    def _set_status(self, text: Text) -> None:
        # The screen is laid out again only when the line's height changes: a refresh then
        # redraws one line instead of the whole screen.
        status = self.query_one("#status", Static)
        room = max((status.size.width or self.size.width) - 2, 1)
        lines = sum(max(1, -(-cell_len(line) // room)) for line in text.plain.split("\n"))
        status.update(text, layout=lines != self._status_lines)
        self._status_lines = lines

    @_unless_closing
    def on_load_failed(self, message: LoadFailed) -> None:
        self._set_status(Text(message.error, style="bold red"))

    @_unless_closing
    def on_rules_reloaded(self, message: RulesReloaded) -> None:
        banner = self.query_one("#problems", Static)
        if not message.problems:
            banner.display = False
            banner.update(Text())
            return
        n = len(message.problems)
        text = Text(f"{self.indicators_path.name} has {n} problem{'s' if n != 1 else ''}; "
                    "the last good rules keep running until it is fixed:", style="bold")
        for line in message.problems:
            text.append("\n")
            text.append(line)
        banner.update(text)
        banner.display = True

    def on_alert_crossed(self, message: AlertCrossed) -> None:
        c = message.crossing
        scenario = self.board.config.scenario(c.scenario) if self.board is not None else None
        title = scenario.title if scenario is not None else c.scenario
        if c.on:
            self.bell()
            self.notify(f"{title}: alert on, level {tenths(c.level):.1f}", title="Alert",
                        severity="error", timeout=60, markup=False)
        else:
            self.notify(f"{title}: alert off, level {tenths(c.level):.1f}", title="Alert",
                        severity="information", timeout=20, markup=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.board is not None and event.data_table.id == "latest" and event.row_key.value:
            self.push_screen(EntryScreen(int(event.row_key.value), self.board))
            return
        if self.board is None or self.board.reading or event.data_table.id != "scenarios":
            return  # a stored reading has no stories: the detail waits for the scores
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
        if self.board is not None and not self.board.reading and scenario is not None:
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
