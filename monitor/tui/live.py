"""What keeps an open dashboard current: an engine that runs in a thread of its own and reports
new boards, reloads of `indicators.yaml` and alert crossings.

Two engines:

- `Polling` (plain `monitor dashboard`) does what `monitor run` does, in its own asyncio loop:
  polls due feeds, takes in a saved `indicators.yaml` (a broken save keeps the last good
  rules), scores, records snapshots and tells alert crossings, through the same
  `monitor.watch.Watch`. Its loop is not the dashboard's: fetching and parsing must not make
  the screen wait, and Textual's loop must not make a fetch wait.
- `Attached` (`monitor dashboard --attach`, and the demo) polls nothing: every few seconds it
  asks the store whether anything changed (`Store.change_marker`) and re-scores when it did, or
  when `indicators.yaml` was saved. Whoever feeds the database (`monitor run`, a team's
  pollers) re-matches stored items under a saved file; the attached dashboard scores with the
  new weights at once and picks up the re-matched hits when they land.

Both tell the latest stored reading (`board.reading_board`) before their first scoring, so
the screen fills at once over a large store.

No textual here: the app hands an engine an `Events` whose methods post Textual messages
(`post_message` is thread-safe), and stops it with `stop()` from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from monitor.errors import ConfigError, MonitorError
from monitor.evidence import Crossing, Reading
from monitor.indicators import Config
from monitor.poll import Poller, PollReport, rematch
from monitor.rules import Rules, load
from monitor.scheduler import serve
from monitor.store import Store
from monitor.tui.board import TREND_SPAN, Board, board_from, reading_board, scored_board
from monitor.watch import Listener, Reload, Watch, saved_at

log = logging.getLogger("monitor.dashboard")


class Mailer(Protocol):
    """What the dashboard needs of an alert mailer (`monitor.digest.AlertMailer`)."""

    async def on_crossing(self, crossing: Crossing) -> None: ...

    async def retry(self, reading: object = None) -> None: ...


class Events(Protocol):
    """Where an engine reports; each method may be called from the engine's thread."""

    def board(self, board: Board) -> None:
        """Every scenario scored anew."""

    def reloaded(self, reload: Reload) -> None:
        """`indicators.yaml` was read: new rules, or the problems that kept the last good."""

    def crossing(self, crossing: Crossing) -> None:
        """A scenario's alert switched on or off."""

    def failed(self, error: str) -> None:
        """Something went wrong that the analyst should see; one sentence."""


class Engine(Protocol):
    label: str
    """A few words for the header: what keeps this dashboard current."""
    polls: bool
    """Whether this engine polls feeds (the dashboard may then poll too, on request); an
    engine that only reads leaves polling to whoever feeds the database."""

    def run(self, events: Events) -> None:
        """Keep the board current until `stop()`; blocks, so call it in a thread."""

    def stop(self) -> None:
        """Ask `run` to return after the work in flight; safe from any thread, at any time."""

    def refresh(self) -> None:
        """Score again now, without waiting for a change."""


def _problems(exc: ConfigError) -> Reload:
    return Reload(None, 0, [str(p) for p in exc.problems])


class _Pace:
    """Spaces out re-scorings that nobody asked for: after one that took `d` seconds the next
    waits at least `max(gap, 4 * d)`, so a large store's scoring (tens of seconds at a million
    hits) never keeps a core busy for more than a fifth of the time."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self._next = -math.inf

    def ready(self) -> bool:
        return time.monotonic() >= self._next

    def took(self, started: float) -> None:
        now = time.monotonic()
        self._next = now + max(self.gap, 4 * (now - started))


async def _tell(listener: Listener, what: object) -> None:
    result = listener(what)
    if result is not None:
        await result


class Polling:
    """Polls, scores and records as `monitor run` does, and tells the dashboard.

    Between the scorings `Watch` records (after new evidence at most once a minute, and every
    `score_every` seconds), the board is re-scored without recording when the store changed
    (new evidence, verdicts, another poller's work), so new evidence shows after the pass
    that brought it; paced so that a slow scoring of a large store runs less often.
    `on_crossing` listeners hear every recorded crossing after the dashboard does; so does
    the alert mailer `mailer_from(store, current config)` makes (None: no emails), which also
    retries its unsent emails after each recorded reading, as `monitor run` does."""

    def __init__(self, store_url: str | None, indicators: Path,
                 make_poller: Callable[[Store, Rules], Poller], *, tick: float = 2.0,
                 score_every: float = 300.0, on_crossing: Sequence[Listener] = (),
                 mailer_from: Callable[[Store, Callable[[], Config]], Mailer | None]
                 | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store_url = store_url
        self.indicators = indicators
        self.make_poller = make_poller
        self.tick = tick
        self.score_every = score_every
        self.on_crossing = list(on_crossing)
        self.mailer_from = mailer_from
        self.clock = clock
        self.label = f"live: polling, every {tick:g} s"
        self.polls = True
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._show: Callable[[], object] | None = None

    def run(self, events: Events) -> None:
        asyncio.run(self._main(events))

    def stop(self) -> None:
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            # RuntimeError: the loop has closed, so run has returned already.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)

    def refresh(self) -> None:
        loop, show = self._loop, self._show
        if loop is not None and show is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(show)

    async def _main(self, events: Events) -> None:
        self._stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self._stopping.is_set():  # stopped before the loop existed to be told
            return
        try:
            store = await asyncio.to_thread(Store.open, self.store_url)
        except MonitorError as exc:
            events.failed(str(exc))
            return
        try:
            await self._serve(store, events)
        except MonitorError as exc:
            events.failed(str(exc))
        finally:
            store.close()

    async def _serve(self, store: Store, events: Events) -> None:
        try:
            rules = (await asyncio.to_thread(load, self.indicators, examples=False)).rules
        except ConfigError as exc:
            events.reloaded(_problems(exc))
            events.failed("indicators.yaml has problems, so nothing is polled; fix them and "
                          "start the dashboard again.")
            return
        # The last stored reading at once, while the store is brought up to date and scored.
        reading = await asyncio.to_thread(reading_board, store, rules.config)
        if reading is not None:
            events.board(reading)
        # As `monitor run` starts: sources as configured, items matched by the current rules.
        await asyncio.to_thread(store.sync_sources, rules.config.feeds)
        await asyncio.to_thread(rematch, store, rules)
        marker = await asyncio.to_thread(store.change_marker)
        pace = _Pace(self.tick)
        started = time.monotonic()
        events.board(await asyncio.to_thread(board_from, store, rules.config))
        pace.took(started)
        scoring = asyncio.Lock()
        recorded = False

        async def on_reading(reading: Reading) -> None:
            nonlocal recorded
            recorded = True
            events.board(scored_board(reading.at, poller.rules.config, reading.views, reading.past))
            if mailer is not None:
                try:
                    await mailer.retry(reading)
                except Exception:
                    log.exception("retrying alert emails failed")

        async def on_crossing(crossing: Crossing) -> None:
            events.crossing(crossing)
            listeners = [*self.on_crossing, *([mailer.on_crossing] if mailer else [])]
            for listener in listeners:
                try:
                    await _tell(listener, crossing)
                except Exception:  # one listener's failure must not silence the others
                    log.exception("an alert listener failed")

        async def show() -> None:
            async with scoring:
                started = time.monotonic()
                try:
                    board = await asyncio.to_thread(board_from, store, poller.rules.config)
                except MonitorError as exc:  # the database gone for a moment: say so
                    events.failed(str(exc))
                    return
                finally:
                    pace.took(started)
                events.board(board)

        async def after_pass(report: PollReport) -> None:
            nonlocal marker, recorded
            recorded = False
            async with scoring:
                await watch.after_pass(report)
            if not (recorded or pace.ready()):
                return  # the change, if any, is still there to see after a later pass
            now = await asyncio.to_thread(store.change_marker)
            changed, marker = now != marker, now
            if changed and not recorded:
                await show()

        async with self.make_poller(store, rules) as poller:
            mailer = (self.mailer_from(store, lambda: poller.rules.config)
                      if self.mailer_from is not None else None)
            watch = Watch(poller, store, self.indicators, score_every=self.score_every,
                          clock=self.clock, on_reload=events.reloaded, on_reading=on_reading,
                          on_crossing=on_crossing, span=TREND_SPAN)
            tasks: set[asyncio.Task[None]] = set()

            def spawn_show() -> None:
                task = asyncio.ensure_future(show())
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            self._show = spawn_show
            await serve(poller, tick=self.tick, stop=self._stop, on_pass=after_pass,
                        handle_signals=False)
            self._show = None
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)


class Attached:
    """Reads a store that others feed, and re-scores when it changes.

    Checks every `every` seconds: a saved `indicators.yaml` is validated (problems are
    reported, the last good rules stay), and the board is re-scored when the rules or the
    store changed, or `rescore_every` seconds passed (levels decay with time). With `now`
    the board is scored at that fixed moment (the demo); without it, alert crossings that the
    feeding process recorded are reported too.

    `rules_from` turns the watched file into rules (default: load it); with `rematch` the
    engine re-matches stored items itself, for a store nothing else feeds (the demo)."""

    def __init__(self, store_url: str | None, indicators: Path, *, every: float = 2.0,
                 rescore_every: float = 300.0, now: datetime | None = None,
                 rules_from: Callable[[Path], Rules] | None = None,
                 rematch: bool = False, label: str | None = None) -> None:
        self.store_url = store_url
        self.indicators = indicators
        self.every = every
        self.rescore_every = rescore_every
        self.now = now
        self.rules_from = rules_from or (lambda path: load(path, examples=False).rules)
        self.rematch = rematch
        self.label = label or f"attached: reading the database every {every:g} s"
        self.polls = False
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._forced = False

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def refresh(self) -> None:
        self._forced = True
        self._wake.set()

    def run(self, events: Events) -> None:
        try:
            store = Store.open(self.store_url)
        except MonitorError as exc:
            events.failed(str(exc))
            return
        try:
            self._watch(store, events)
        finally:
            store.close()

    def _take(self, store: Store, events: Events, *, tell_ok: bool) -> Rules | None:
        try:
            rules = self.rules_from(self.indicators)
        except ConfigError as exc:
            events.reloaded(_problems(exc))
            return None
        changed = rematch(store, rules) if self.rematch else 0
        if tell_ok:
            events.reloaded(Reload(rules, changed, []))
        return rules

    def _watch(self, store: Store, events: Events) -> None:
        seen = saved_at(self.indicators)
        rules: Rules | None = None
        loaded = False
        marker: tuple[str, ...] | None = None
        alerts: dict[str, bool] | None = None
        scored_at = -math.inf
        pace = _Pace(self.every)
        while not self._stopping.is_set():
            try:
                force, self._forced = self._forced, False
                saved = saved_at(self.indicators)
                if not loaded or saved != seen:
                    seen = saved
                    new = self._take(store, events, tell_ok=loaded)
                    loaded = True
                    if new is not None:
                        rules, force = new, True
                if rules is not None and (force or pace.ready()):
                    now = store.change_marker()
                    stale = time.monotonic() - scored_at >= self.rescore_every
                    if force or stale or now != marker:
                        if marker is None and self.now is None:  # the last reading at once
                            reading = reading_board(store, rules.config)
                            if reading is not None:
                                events.board(reading)
                        marker, scored_at = now, time.monotonic()
                        board = board_from(store, rules.config, self.now)
                        pace.took(scored_at)
                        events.board(board)
                        if self.now is None:
                            alerts = self._crossings(store, board, alerts, events)
            except MonitorError as exc:  # a database gone for a moment: say so, try again
                events.failed(str(exc))
            self._wake.wait(self.every)
            self._wake.clear()

    @staticmethod
    def _crossings(store: Store, board: Board, was: dict[str, bool] | None,
                   events: Events) -> dict[str, bool]:
        """The alerts the feeding process recorded; a change since the last look is told."""
        alerts = store.last_alerts()
        if was is not None:
            for sid, on in sorted(alerts.items()):
                if on != was.get(sid, False):
                    view = board.views.get(sid)
                    level = view.score.level if view is not None else 0.0
                    events.crossing(Crossing(sid, on, level, board.now))
        return alerts
