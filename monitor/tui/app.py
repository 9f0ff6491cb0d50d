"""The dashboard: a scenarios screen (one row per scenario: level, changes, alerts, top
indicator) and a scenario's detail (the stories behind its level).

The store is read only off the event loop, and results come back as messages: a thread worker
scores a fixed board, or a live engine (monitor/tui/live.py) in a thread of its own keeps the
board current, takes in a saved indicators.yaml (its problems show in a banner until fixed) and
tells alert crossings, which show as notifications. Every text that comes from a feed or from
indicators.yaml is drawn as a `rich.text.Text`, never as markup, so a headline with square
brackets shows as written.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from monitor.errors import MonitorError
from monitor.indicators import Scenario
from monitor.scoring import ScenarioView, round_points
from monitor.tui.board import (
    Board,
    arrow,
    level_bar,
    load_board,
    load_reading,
    shown_change,
    tenths,
    top_indicator,
)
from monitor.tui.live import Engine
from monitor.watch import Crossing, Reload


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


class ScoresLoaded(Message):
    """The worker scored every scenario."""

    def __init__(self, board: Board) -> None:
        super().__init__()
        self.board = board


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


class DetailScreen(Screen[None]):
    """One scenario: its question, where it comes from, and the stories behind its level."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, scenario: Scenario, view: ScenarioView, now: datetime) -> None:
        super().__init__()
        self.scenario = scenario
        self.view = view
        self.now = now

    def compose(self) -> ComposeResult:
        s, score = self.scenario, self.view.score
        head = Text()
        head.append(s.title, style="bold")
        head.append(f"  level {tenths(score.level):.1f} at {_stamp(self.now)}")
        if self.view.alert:
            head.append("  ALERT", style="bold red")
        head.append("\n")
        head.append(s.question)
        if s.source:
            head.append("\nSource: ", style="dim")
            head.append(s.source, style="dim")
        if not score.stories:
            head.append("\nNo evidence counts for this scenario now.", style="italic")
        yield Header()
        yield Static(head, id="question")
        yield DataTable(id="stories", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#stories", DataTable)
        table.add_columns("time", "source", "indicator", "points", "title")
        stories = self.view.score.stories
        for story, points in zip(stories, round_points(stories, self.view.score.level),
                                 strict=True):
            lead = story.reports[0]
            source = f"{lead.source} {lead.grade}"
            if len(story.reports) > 1:
                source += f" +{len(story.reports) - 1}"
            table.add_row(
                Text(story.latest.strftime("%Y-%m-%d %H:%M")), Text(source),
                Text(story.indicator), Text(f"{points:+.1f}", justify="right"),
                Text(" ".join(lead.title.split())),
                key=f"{story.indicator}:{story.cluster}",
            )
        table.focus()


class MonitorApp(App[None]):
    """The dashboard over the store at `store_url` with the rules at `indicators_path`, scored
    at `now` (default: the current time at each refresh).

    With an `engine` the board keeps itself current (see monitor/tui/live.py); without one it
    is scored once, and again on `r`."""

    CSS_PATH = "monitor.tcss"
    TITLE = "monitor"
    BINDINGS = [
        Binding("r", "reload", "Refresh"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, store_url: str | None, indicators_path: Path | str,
                 now: datetime | None = None, *, engine: Engine | None = None) -> None:
        super().__init__()
        self.store_url = store_url
        self.indicators_path = Path(indicators_path)
        self.now = now
        self.board: Board | None = None
        self.engine = engine
        self.engine_thread: threading.Thread | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        problems = Static(id="problems")
        problems.display = False
        yield problems
        yield Static(Text("Scoring…"), id="status")
        yield DataTable(id="scenarios", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#scenarios", DataTable)
        table.add_columns("scenario", "level", "24 h", "7 d", "marks", "top indicator")
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
        self.query_one("#status", Static).update(Text("Scoring…"))
        if self.engine is not None:
            self.engine.refresh()
        else:
            self.load_scores()

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

    def on_scores_loaded(self, message: ScoresLoaded) -> None:
        board = self.board = message.board
        table = self.query_one("#scenarios", DataTable)
        # The cursor stays on its scenario when a refresh arrives (rules may reorder rows).
        keys = [k.value for k in table.rows]
        cursor = table.cursor_row
        kept = keys[cursor] if 0 <= cursor < len(keys) else None
        table.clear()
        alerts = 0
        for scenario in board.config.scenarios:
            v = board.views[scenario.id]
            level = v.score.level
            marks = Text()
            if v.alert:
                alerts += 1
                marks.append("ALERT", style="bold red")
            if v.surges:
                marks.append(" " if marks else "")
                marks.append(f"surge {len(v.surges)}", style="bold yellow")
            top = top_indicator(v.score)
            table.add_row(
                Text(scenario.title),
                Text(f"{level_bar(level)} {tenths(level):5.1f}"),
                Text(arrow(shown_change(level, v.change_24h))),
                Text(arrow(shown_change(level, v.change_7d))),
                marks,
                Text(f"{top[0]} {top[1]:+.1f}" if top else "-"),
                key=scenario.id,
            )
        ids = [sc.id for sc in board.config.scenarios]
        if ids:
            row = ids.index(kept) if kept in ids else min(max(cursor, 0), len(ids) - 1)
            table.move_cursor(row=row, animate=False)
        n = len(board.config.scenarios)
        if board.reading:
            status = Text(f"As of {_stamp(board.now)} (the last stored reading), scoring…: "
                          f"{n} scenario{'s' if n != 1 else ''}")
        else:
            status = Text(f"Scores at {_stamp(board.now)}: {n} scenario{'s' if n != 1 else ''}")
        if alerts:
            status.append(f", {alerts} in alert", style="bold red")
        if not board.reading:
            status.append(". Enter opens a scenario.", style="dim")
        self.query_one("#status", Static).update(status)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#status", Static).update(Text(message.error, style="bold red"))

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
        if self.board is None or self.board.reading or event.data_table.id != "scenarios":
            return  # a stored reading has no stories: the detail waits for the scores
        sid = event.row_key.value
        scenario = self.board.config.scenario(sid) if sid else None
        if scenario is not None:
            self.push_screen(DetailScreen(scenario, self.board.views[scenario.id],
                                          self.board.now))
