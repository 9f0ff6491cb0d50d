"""What the dashboard shows, read from the store and the rules, and the small text shapes it is
drawn with (level bars, change arrows). No textual here: the worker thread calls `load_board`,
and tests read its output without a terminal."""

from __future__ import annotations

import math
import threading
from bisect import insort
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.evidence import LiveLedger, PastLevels, ledger_views
from monitor.indicators import Config
from monitor.ledger import F64, StoryTable, from_us, to_us
from monitor.scoring import ScenarioView, Score, round_points, tenths

if TYPE_CHECKING:
    from monitor.store import Store

TREND_DAYS = 30
"""Days of a scenario's trend (sparkline): the ledgers kept for the dashboard reach back so
far, so the past days are scored from the same hits as the board."""
TREND_SPAN = timedelta(days=TREND_DAYS)

BLOCKS = " ▏▎▍▌▋▊▉█"
"""Eighths of a cell, so a 10-cell bar shows the level to within 1.25 points."""


@dataclass(frozen=True)
class Board:
    """Every scenario's view at one moment, with the rules they were scored under."""

    now: datetime
    config: Config
    views: dict[str, ScenarioView]
    reading: bool = False
    """Drawn from the stored readings as of `now` (levels, alerts, changes; no stories or
    surges), shown while the scores are computed; a change with no reading at its moment
    is NaN."""
    past: PastLevels | None = None
    """Scores past moments from the hits this board was scored from (its trend)."""
    tops: Mapping[str, tuple[str, float] | None] = field(default_factory=dict)
    """Each scenario's `top_indicator`, found with the scores (off the event loop)."""
    latest: Sequence[Latest] = ()
    """`latest(views)`, found with the scores."""


def scored_board(at: datetime, config: Config, views: dict[str, ScenarioView],
                 past: PastLevels | None = None) -> Board:
    """A board of scored views, with what its tables show of the stories worked out here:
    in the worker or engine thread that scored them, not on the event loop drawing them."""
    tops = {sid: top_indicator(v.score) for sid, v in views.items()}
    return Board(at, config, views, past=past, tops=tops, latest=tuple(latest(views)))


def load_board(store_url: str | None, indicators_path: Path | str,
               now: datetime | None = None) -> Board:
    """Score every scenario from the store at `now` (default: the current time).

    A live board continues the stored alert history (hysteresis), as `monitor scores` does; a
    board at a fixed moment is a what-if and starts from no alerts. It writes nothing."""
    with _kept_lock:
        config, live = _kept(store_url, Path(indicators_path))
        try:
            return _scored(_kept_store(store_url), config, live, now)
        except Exception:  # a database gone for a moment: open it afresh next time
            _close_kept_store()
            raise


_open_store: tuple[str | None, Store] | None = None


def _kept_store(store_url: str | None) -> Store:
    """The store `load_board` reads, kept open between refreshes (opening it checks the
    schema and starts a new connection pool each time: a tenth of a refresh); one at a
    time, under `_kept_lock`."""
    from monitor.store import Store

    global _open_store
    if _open_store is not None and _open_store[0] != store_url:
        _close_kept_store()
    if _open_store is None:
        _open_store = (store_url, Store.open(store_url))
    return _open_store[1]


def _close_kept_store() -> None:
    global _open_store
    if _open_store is not None:
        _open_store[1].close()
        _open_store = None


READING_SLACK = timedelta(hours=1)
"""How far before a change's moment (24 h, 7 d before the latest reading) an earlier reading
may lie and still stand for it: `monitor run` records every five minutes, and a run stopped
for longer leaves a gap the first screen does not paper over."""


def reading_board(store: Store, config: Config) -> Board | None:
    """Every scenario as the latest stored reading has it: what the dashboard draws at once
    while `board_from`/`load_board` score (stale while revalidating). None when a scenario
    has no reading (a fresh store, a scenario just added): the first screen waits for the
    scores then. The readings are `monitor run`'s and the live dashboard's snapshots."""
    ids = [s.id for s in config.scenarios]
    latest = store.latest_snapshots(ids)
    if not ids or len(latest) < len(ids):
        return None
    at = max(snap.at for snap in latest.values())
    if any(snap.at < at - READING_SLACK for snap in latest.values()):
        return None  # a scenario left out of the latest readings: no one moment to show
    earlier = {span: store.latest_snapshots(ids, at - span)
               for span in (timedelta(days=1), timedelta(days=7))}

    def change(sid: str, span: timedelta) -> float:
        past = earlier[span].get(sid)
        if past is None or past.at < at - span - READING_SLACK:
            return math.nan
        return latest[sid].level - past.level

    views = {sid: ScenarioView(Score(sid, snap.level, snap.evidence),
                               change(sid, timedelta(days=1)), change(sid, timedelta(days=7)),
                               (), snap.alert, True)
             for sid, snap in latest.items()}
    return Board(at, config, {sid: views[sid] for sid in ids}, reading=True)


def load_reading(store_url: str | None, indicators_path: Path | str) -> Board | None:
    """`reading_board` over the store at `store_url`, under the rules file as validated but
    not compiled: the reading needs the scenarios, and compiling the matcher takes half a
    second of a first screen that should take about one (`load_board` compiles them next, in
    the same worker). ConfigError when the file has problems."""
    from monitor.errors import ConfigError
    from monitor.indicators import parse
    from monitor.store import Store

    config, problems = parse(Path(indicators_path))
    if config is None or problems:
        raise ConfigError(problems)
    store = Store.open(store_url)
    try:
        return reading_board(store, config)
    finally:
        store.close()


def board_from(store: Store, config: Config, now: datetime | None = None) -> Board:
    """Every scenario scored under `config` from an open store, as `load_board` does; the
    ledger of this store under this config is kept between calls, as there."""
    with _kept_lock:
        kept = _ledgers.get(store.url)
        if kept is None or kept[0] is not config:
            kept = _ledgers[store.url] = (config, LiveLedger(config, TREND_SPAN))
        return _scored(store, config, kept[1], now)


def _scored(store: Store, config: Config, live: LiveLedger, now: datetime | None) -> Board:
    at = now or datetime.now(UTC)
    shown = ledger_views(store, config, at, store.last_alerts() if now is None else None, live)
    return scored_board(at, config, shown, PastLevels(live, _kept_lock))


# One store and rules file's ledger, kept between refreshes: a refresh reads only the hits
# added since the last one (the rules are read again when their file changes).
_kept_lock = threading.Lock()
_kept_key: tuple[str | None, Path, float, int] | None = None
_kept_value: tuple[Config, LiveLedger] | None = None
# The same for `board_from`, by store url: the config an engine scores with, and its ledger.
_ledgers: dict[str, tuple[Config, LiveLedger]] = {}


def _kept(store_url: str | None, path: Path) -> tuple[Config, LiveLedger]:
    from monitor.rules import load

    global _kept_key, _kept_value
    try:
        stat = path.stat()
        key = (store_url, path.resolve(), stat.st_mtime, stat.st_size)
    except OSError:
        key = None
    if key is None or key != _kept_key or _kept_value is None:
        config = load(path, examples=False).rules.config
        _kept_key, _kept_value = key, (config, LiveLedger(config, TREND_SPAN))
    return _kept_value


def level_bar(level: float, width: int = 10) -> str:
    """`level` (0-100) as `width` cells of block characters, partial cells in eighths."""
    eighths = round(max(0.0, min(level, 100.0)) / 100 * width * 8)
    full, part = divmod(eighths, 8)
    bar = BLOCKS[-1] * full + (BLOCKS[part] if part else "")
    return bar.ljust(width)


def shown_change(level: float, change: float) -> float:
    """The change between the levels as shown, so the earlier level is exactly level - change
    (NaN, unknown, stays NaN)."""
    if math.isnan(change):
        return change
    return round(tenths(level) - tenths(level - change), 1)


def arrow(change: float) -> str:
    """A change of the shown level with its direction: `▲ +3.2`, `▼ -1.0`, `· 0.0`; `-` when
    unknown (NaN: no reading at that moment)."""
    if math.isnan(change):
        return "-"
    if change > 0:
        return f"▲ {change:+.1f}"
    if change < 0:
        return f"▼ {change:+.1f}"
    return "·  0.0"


def top_indicator(score: Score) -> tuple[str, float] | None:
    """The indicator with the largest evidence, with its points as the detail shows them."""
    by = score.by_indicator()
    if not by:
        return None
    best = min(by, key=lambda i: (-abs(by[i][0]), i))
    return best, round(score.indicator_points()[best], 1)


# --- the latest evidence across scenarios ---------------------------------------------------


@dataclass(frozen=True)
class Latest:
    """A story behind some scenario's level: when its latest report came, its strongest
    report, and the points it gives each scenario it counts for (largest first)."""

    when: datetime
    entry: int
    source: str
    grade: str
    title: str
    points: tuple[tuple[str, float], ...]


class _Newest:
    """One scenario's newest stories, latest first, read without building them where the
    stories are a ledger's table. Times are kept in microseconds, entries and clusters as
    numbers, read for all of them at once; a story's title only for the rows shown."""

    def __init__(self, score: Score, limit: int) -> None:
        stories = score.stories
        self.table = stories if isinstance(stories, StoryTable) else None
        if self.table is not None:  # a ledger's: no sort of the million others
            self.at = self.table.newest_at(limit)
            self.latest = self.table.values_at("latest", self.at)
            self.clusters = self.table.values_at("cluster", self.at)
            self.entries = self.table.values_at("lead", self.at)
            self.points: Sequence[float] | F64 = self.table.rounded_at()
        else:
            order = sorted(range(len(stories)), key=lambda i: stories[i].latest, reverse=True)
            self.at = order[:limit]
            self.latest = [to_us(stories[i].latest) for i in self.at]
            self.clusters = [stories[i].cluster for i in self.at]
            self.entries = [stories[i].reports[0].entry for i in self.at]
            self.points = round_points(stories, score.level)
        self.stories = stories

    def lead(self, n: int) -> tuple[int, str, str, str]:
        """(entry, source, grade, title) of the story's strongest report."""
        j = self.at[n]
        if self.table is not None:
            return self.table.lead_at(j)
        r = self.stories[j].reports[0]
        return r.entry, r.source, r.grade, r.title

    def points_of(self, n: int) -> float:
        return float(self.points[self.at[n]])


def latest(views: Mapping[str, ScenarioView], limit: int = 100) -> list[Latest]:
    """The stories whose latest report is newest, over every scenario: what just moved.

    A story is shown by its strongest report, one row per such report with the points of
    every scenario it counts for. Stories are read newest first across scenarios, and only
    while they can matter: once `limit` rows are newer, an older story can still add its
    scenario's points to one of them (then its cluster is that row's), never make a row."""
    newest = {sid: _Newest(view.score, limit) for sid, view in views.items()}
    queue = sorted((when, sid, n) for sid, got in newest.items()
                   for n, when in enumerate(got.latest))
    found: dict[int, tuple[int, tuple[int, str, str, str], list[tuple[str, float]]]] = {}
    clusters: set[int] = set()
    whens: list[int] = []  # the rows' times, ascending
    for when, sid, n in reversed(queue):
        settled = len(whens) >= limit and when < whens[-limit]
        source = newest[sid]
        if settled and source.clusters[n] not in clusters:
            continue
        entry = source.entries[n]
        if settled and entry not in found:
            continue
        if entry not in found:
            found[entry] = (when, source.lead(n), [])
            insort(whens, when)
            clusters.add(source.clusters[n])
        found[entry][2].append((sid, source.points_of(n)))
    rows = [Latest(from_us(when), entry, src, grade, title,
                   tuple(sorted(points, key=lambda x: (-abs(x[1]), x[0]))))
            for when, (entry, src, grade, title), points in found.values()]
    rows.sort(key=lambda x: (x.when, x.entry), reverse=True)
    return rows[:limit]
