"""From stored hits to scoring's evidence: which hits to read for a moment, and how a stored
hit and its entry become one `scoring.Evidence`.

Pure apart from the `EvidenceSource` it is handed (the store fits); it never imports the
database layer itself, so scoring and its callers stay free of it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from monitor import scoring
from monitor.indicators import Config
from monitor.ledger import Ledger, from_us
from monitor.text import word_string

if TYPE_CHECKING:
    from monitor.store import ScoredHit, ScoringRows, StoredEntry, StoredHit

CHANGE_SPAN = timedelta(days=7)
"""The longest look back of a scenario view (its 7-day change)."""


class EvidenceSource(Protocol):
    """What `gather` reads (monitor.store.Store fits)."""

    def hits_since(self, since: datetime) -> list[StoredHit]: ...

    def entries_by_pk(self, pks: Iterable[int]) -> dict[int, StoredEntry]: ...

    def false_hits(self) -> frozenset[tuple[int, str]]: ...


@dataclass(frozen=True)
class Gathered:
    """Everything scoring needs at `now`: the evidence, and the hits analysts marked false."""

    now: datetime
    evidence: tuple[scoring.Evidence, ...]
    false_hits: frozenset[tuple[int, str]]


def since(config: Config, now: datetime, span: timedelta = CHANGE_SPAN) -> datetime:
    """The oldest time evidence can matter for a view at `now`: the scoring horizon before the
    view's earliest moment (its 7-day-ago score, or `span` back), or the surge baseline,
    whichever reaches further back."""
    settings = scoring.settings_for(config)
    reach = max(scoring.horizon(config) + max(span, CHANGE_SPAN),
                settings.surge_baseline + settings.surge_window)
    return now - reach


def to_evidence(hits: Iterable[StoredHit],
                entries: Mapping[int, StoredEntry]) -> list[scoring.Evidence]:
    """One Evidence per hit whose entry is known; the wording key is the entry's folded title,
    so copies of one headline in one story count once."""
    out = []
    for h in hits:
        stored = entries.get(h.entry_pk)
        if stored is None:
            continue
        title = stored.entry.title
        out.append(scoring.Evidence(
            entry=h.entry_pk, indicator=h.hit.indicator, source=h.source, cluster=h.cluster_id,
            when=h.when, version=word_string(title), value=h.hit.value, label=h.hit.label,
            title=title,
        ))
    return out


def gather(store: EvidenceSource, config: Config, now: datetime) -> Gathered:
    """The evidence and false hits for views of `config`'s scenarios at `now`."""
    hits: Sequence[StoredHit] = store.hits_since(since(config, now))
    entries = store.entries_by_pk({h.entry_pk for h in hits})
    return Gathered(now, tuple(to_evidence(hits, entries)), store.false_hits())


# --- the fast path: one narrow query, views per scenario, snapshots --------------------------


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector. Reading and scoring a large store allocate millions
    of small acyclic objects while a million evidence records stay alive, and each collection
    pass walks all of them: measured, half the time of the views (bench/scoring.py). Nothing
    made here forms cycles, so reference counting still frees it all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ScoredSource(Protocol):
    """What `gather_scored` reads (monitor.store.Store fits)."""

    def scored_hits_since(self, since: datetime) -> list[ScoredHit]: ...

    def false_hits(self) -> frozenset[tuple[int, str]]: ...


def scored_to_evidence(hits: Iterable[ScoredHit]) -> list[scoring.Evidence]:
    """One Evidence per hit, as `to_evidence` makes it (the wording key computed once per
    entry: an entry with several hits has one title)."""
    versions: dict[int, str] = {}
    out = []
    for h in hits:
        version = versions.get(h.entry_pk)
        if version is None:
            version = versions[h.entry_pk] = word_string(h.title)
        out.append(scoring.Evidence(
            entry=h.entry_pk, indicator=h.indicator, source=h.source, cluster=h.cluster_id,
            when=h.when, version=version, value=h.value, label=h.label, title=h.title,
        ))
    return out


def gather_scored(store: ScoredSource, config: Config, now: datetime) -> Gathered:
    """What `gather` returns, read with one query of only the columns scoring needs."""
    with _no_cyclic_gc():
        hits = store.scored_hits_since(since(config, now))
        return Gathered(now, tuple(scored_to_evidence(hits)), store.false_hits())


def scenario_since(config: Config, scenario: str, now: datetime) -> datetime:
    """The oldest time evidence can matter for `scenario`'s view at `now` (its own horizon
    before the 7-day-ago score, or the surge baseline)."""
    settings = scoring.settings_for(config)
    own = timedelta(seconds=scoring.half_life_seconds(config, scenario)
                    * scoring.HORIZON_HALF_LIVES)
    return now - max(own + CHANGE_SPAN, settings.surge_baseline + settings.surge_window)


def views(config: Config, got: Gathered, was_alert: Mapping[str, bool] | None = None
          ) -> dict[str, scoring.ScenarioView]:
    """Every scenario's view at `got.now`, each computed over only the evidence that can
    touch it (its indicators, within its own reach): the same views as `scoring.view` over
    all of `got.evidence`, without every scenario re-reading every hit three times."""
    settings = scoring.settings_for(config)
    was = was_alert or {}
    out: dict[str, scoring.ScenarioView] = {}
    with _no_cyclic_gc():
        for s in config.scenarios:
            related = {i.id for i in config.indicators
                       if s.id in i.weight or any(s.id in c.weight for c in i.conditions)}
            oldest = scenario_since(config, s.id, got.now)
            mine = [ev for ev in got.evidence if ev.indicator in related and ev.when >= oldest]
            out[s.id] = scoring.view(s.id, mine, config, got.now, settings, got.false_hits,
                                     was_alert=was.get(s.id, False))
    return out


def snapshot_rows(shown: Mapping[str, scoring.ScenarioView]
                  ) -> list[tuple[str, float, float, bool]]:
    """(scenario, level, evidence, alert) of each view, as `Store.save_snapshots` takes them."""
    return [(sid, v.score.level, v.score.evidence, v.alert) for sid, v in shown.items()]


# --- the ledger: columns of hits kept between refreshes --------------------------------------


class RowSource(Protocol):
    """What `LiveLedger` reads (monitor.store.Store fits)."""

    def scoring_batches(self, since: datetime, after_hit: int = 0) -> Iterator[ScoringRows]: ...

    def hit_marks(self, after_hit: int = 0) -> tuple[int, int, int]: ...

    def false_hits(self) -> frozenset[tuple[int, str]]: ...


class LiveLedger:
    """A `ledger.Ledger` of one store under one set of rules, kept between refreshes: the
    first refresh reads every hit that can count, later ones only the hits added since (by
    hit id), and the verdicts. Hits replaced (re-matching, an edited entry) show in the
    store's count of replacements, and the ledger is read again from scratch.

    `span` is how far back before `now` the ledger must score (a dashboard's 30-day trend);
    the views' own 7 days are always covered. `stamp()` and `changed_since()` tell a caller
    that kept levels of past moments which of them the evidence read since has changed."""

    def __init__(self, config: Config, span: timedelta = CHANGE_SPAN) -> None:
        self.config = config
        self.span = span
        self.ledger: Ledger | None = None
        self._since: datetime | None = None
        self._last_hit = 0
        self._replaced = 0
        self._false: frozenset[tuple[int, str]] | None = None
        self._epoch = 0
        """Bumped when the ledger is read afresh or the verdicts change: every moment may
        have moved."""
        self._added: list[int] = []
        """The earliest hit time (microseconds) of each batch of hits added in this epoch."""

    def refresh(self, store: RowSource, now: datetime) -> Ledger:
        oldest = since(self.config, now, self.span)
        replaced, _, newer = store.hit_marks(self._last_hit)
        rebuild = (self.ledger is None or self._since is None or oldest < self._since
                   or replaced != self._replaced)
        if rebuild:
            self.ledger = Ledger(self.config)
            self._since, self._last_hit, self._replaced = oldest, 0, replaced
            self._epoch += 1
            self._added = []
        assert self.ledger is not None and self._since is not None
        if rebuild or newer:
            earliest = None
            last_hit = self._last_hit
            for rows in store.scoring_batches(self._since, self._last_hit):
                self.ledger.add_rows(rows.entries, rows.grouped, rows.valued, word_string)
                last_hit = rows.last_hit
                if not rebuild and rows.entries:  # (a rebuild starts a new epoch)
                    first = min(e[3] for e in rows.entries)
                    earliest = first if earliest is None else min(earliest, first)
                del rows  # one part's Python rows at a time
            # The read takes every hit after the last one read, so hits added since the
            # marks are read too; hits replaced since make the next marks differ: a rebuild
            # then, never a hit missed.
            self._last_hit = last_hit
            if not rebuild and earliest is not None:
                self._added.append(earliest)
        false_hits = store.false_hits()
        if false_hits != self._false:
            if self._false is not None and not rebuild:
                self._epoch += 1
                self._added = []
            self._false = false_hits
        self.ledger.set_false(false_hits)
        return self.ledger

    def stamp(self) -> tuple[int, int]:
        """Where the evidence read so far stands (compare with `changed_since` later)."""
        return self._epoch, len(self._added)

    def changed_since(self, stamp: tuple[int, int] | None) -> datetime | None:
        """The earliest moment whose scores may differ from those scored at `stamp`: None
        when nothing was read since, `datetime.min` (UTC) when everything may differ. A
        moment before every hit added since scores as it did."""
        epoch, batches = stamp if stamp is not None else (-1, 0)
        if epoch != self._epoch:
            return datetime.min.replace(tzinfo=UTC)
        added = self._added[batches:]
        return from_us(min(added)) if added else None


class PastLevels:
    """Levels at past moments scored from a kept `LiveLedger`, under the lock its owner holds
    while it refreshes and scores it (the ledger is not safe to share between threads): a
    dashboard's 30-day trend from the very hits its board was scored from, with no second
    copy of them."""

    def __init__(self, live: LiveLedger, lock: threading.Lock) -> None:
        self.live = live
        self.lock = lock

    def levels(self, at: datetime) -> dict[str, float]:
        """Every scenario's level at `at`."""
        with self.lock:
            ledger = self.live.ledger
            if ledger is None:
                return {s.id: 0.0 for s in self.live.config.scenarios}
            return ledger.levels(at)

    def stamp(self) -> tuple[int, int]:
        with self.lock:
            return self.live.stamp()

    def changed_since(self, stamp: tuple[int, int] | None) -> datetime | None:
        with self.lock:
            return self.live.changed_since(stamp)


def ledger_views(store: RowSource, config: Config, now: datetime,
                 was_alert: Mapping[str, bool] | None = None,
                 live: LiveLedger | None = None) -> dict[str, scoring.ScenarioView]:
    """Every scenario's view at `now` read through a ledger (`live`, kept by the caller
    between refreshes, or a fresh one): the views `views(config, gather(...))` gives."""
    with _no_cyclic_gc():
        ledger = (live or LiveLedger(config)).refresh(store, now)
        return ledger.views(now, was_alert)


# --- readings: every scenario scored, kept, and the alerts it switched ----------------------


@dataclass(frozen=True)
class Crossing:
    """A scenario's alert switched on or off at `at`, at `level`."""

    scenario: str
    on: bool
    level: float
    at: datetime
    score: scoring.Score | None = field(default=None, compare=False, repr=False)
    """The scenario's score at `at`, when the crossing came from a scoring here (its stories
    name the evidence an alert email quotes); None when read from the store's history."""


@dataclass(frozen=True)
class Reading:
    """One scoring of every scenario: the views, when, and the alert crossings it caused."""

    at: datetime
    views: dict[str, scoring.ScenarioView]
    crossings: list[Crossing]
    past: PastLevels | None = field(default=None, compare=False, repr=False)
    """Scores past moments from the hits this reading was scored from."""


class ReadingStore(RowSource, Protocol):
    """What `record_reading` reads and writes (monitor.store.Store fits)."""

    def last_alerts(self) -> dict[str, bool]: ...

    def save_snapshots(self, rows: Iterable[tuple[str, float, float, bool]],
                       now: datetime) -> int: ...


def record_reading(store: ReadingStore, config: Config, at: datetime,
                   live: LiveLedger | None = None) -> Reading:
    """Every scenario scored at `at`, continuing the stored alert history (hysteresis), kept
    as a reading (snapshots: trends, the history the next reading continues), with the alert
    crossings it caused. `live` is a ledger kept between readings, if the caller keeps one."""
    was = store.last_alerts()
    shown = ledger_views(store, config, at, was, live)
    store.save_snapshots(snapshot_rows(shown), at)
    crossings = [Crossing(sid, v.alert, v.score.level, at, v.score)
                 for sid, v in shown.items() if v.alert != was.get(sid, False)]
    return Reading(at, shown, crossings)
