"""The cycle that runs after every polling pass, shared by `monitor run` and the dashboard.

After a pass it takes in a saved `indicators.yaml` (a broken save keeps the last good rules and
says why), scores every scenario when there is new evidence (at most once a minute) or when
`score_every` seconds have passed, keeps each reading as a snapshot (trends, alert hysteresis
across restarts) and hands alert crossings to whoever listens: the log in `monitor run`, a
notification in the dashboard, an email.

Blocking work (loading rules, re-matching, scoring) runs in a thread, so the event loop that
drives polling, or the dashboard, never waits on it.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError
from monitor.evidence import CHANGE_SPAN, LiveLedger, PastLevels, Reading, record_reading
from monitor.model import utcnow
from monitor.poll import Poller, PollReport, rematch
from monitor.rules import Rules, load
from monitor.store import Store


@dataclass(frozen=True)
class Reload:
    """What a changed `indicators.yaml` did: new rules (and how many entries were re-matched),
    or the problems that kept the last good rules running."""

    rules: Rules | None
    rematched: int
    problems: list[str]



Listener = Callable[[Any], Awaitable[None] | None]


def saved_at(path: Path) -> float | None:
    """When `path` was last saved (its mtime), None if it cannot be read."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


async def _tell(listener: Listener | None, what: Any) -> None:
    if listener is None:
        return
    result = listener(what)
    if result is not None:
        await result


class Watch:
    """Keeps a poller's rules current and scores the store after passes.

    Listeners (each optional, plain or async): `on_reload(Reload)`, `on_reading(Reading)` and
    `on_crossing(Crossing)`, the last once per crossing, after the reading that caused it was
    stored."""

    def __init__(self, poller: Poller, store: Store, indicators: Path, *,
                 score_every: float = 300.0, clock: Callable[[], datetime] = utcnow,
                 on_reload: Listener | None = None, on_reading: Listener | None = None,
                 on_crossing: Listener | None = None, span: timedelta = CHANGE_SPAN) -> None:
        self.poller = poller
        self.store = store
        self.indicators = indicators
        self.score_every = score_every
        self.clock = clock
        self.on_reload = on_reload
        self.on_reading = on_reading
        self.on_crossing = on_crossing
        self._seen_mtime = saved_at(indicators)
        self._scored_at: float | None = None
        self._ledger: LiveLedger | None = None
        """Hits read so far, kept between readings: each reads only what was added since."""
        self._span = span
        """How far back the readings' ledger can score (a dashboard's trend)."""
        self._lock = threading.Lock()

    @property
    def rules(self) -> Rules:
        return self.poller.rules

    async def after_pass(self, report: PollReport) -> None:
        """The `on_pass` hook for `monitor.scheduler.serve`."""
        await self.reload_if_changed()
        now = asyncio.get_running_loop().time()
        elapsed = now - self._scored_at if self._scored_at is not None else math.inf
        if elapsed >= self.score_every or (report.new and elapsed >= min(self.score_every, 60.0)):
            self._scored_at = now
            await self.score()

    async def reload_if_changed(self) -> Reload | None:
        """Takes in `indicators.yaml` if it was saved since last looked at."""
        mtime = saved_at(self.indicators)
        if mtime == self._seen_mtime:
            return None
        self._seen_mtime = mtime
        try:
            new = (await asyncio.to_thread(load, self.indicators, examples=False)).rules
        except ConfigError as exc:
            outcome = Reload(None, 0, [str(p) for p in exc.problems])
        else:
            self.poller.rules = new
            self.store.sync_sources(new.config.feeds)
            self.poller.feeds = {f.id: f for f in new.config.feeds}
            changed = await asyncio.to_thread(rematch, self.store, new)
            outcome = Reload(new, changed, [])
            self._scored_at = None  # new rules mean new scores at the next pass
        await _tell(self.on_reload, outcome)
        return outcome

    async def score(self) -> Reading:
        """Scores every scenario now, stores the reading, and tells its crossings."""
        reading = await asyncio.to_thread(self.score_and_record)
        await _tell(self.on_reading, reading)
        for crossing in reading.crossings:
            await _tell(self.on_crossing, crossing)
        return reading

    def score_and_record(self) -> Reading:
        config = self.rules.config
        at = self.clock()
        with self._lock:
            if self._ledger is None or self._ledger.config is not config:  # new rules
                self._ledger = LiveLedger(config, self._span)
            live = self._ledger
            reading = record_reading(self.store, config, at, live)
        return replace(reading, past=PastLevels(live, self._lock))

