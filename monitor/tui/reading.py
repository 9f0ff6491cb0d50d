"""What the dashboard's screens read from and write to the store, besides the board itself:
30-day trends, a scenario's signpost board and evidence, one entry with its hits, marking a
hit false, the feeds' health, and polling feeds now.

No textual here: screens call these from thread workers (never on the event loop), and tests
call them directly. Each call opens the store, does its work and closes it again, so a worker
never shares a connection with another thread.
"""

from __future__ import annotations

import asyncio
import getpass
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor import scoring
from monitor.evidence import LiveLedger, PastLevels
from monitor.indicators import Config, Indicator
from monitor.poll import PollReport, is_failing
from monitor.scoring import ScenarioView, Story, Surge, round_points
from monitor.store import Feedback, SourceState, Store, StoredEntry
from monitor.tui.board import TREND_DAYS


@contextmanager
def _opened(store_url: str | None) -> Iterator[Store]:
    store = Store.open(store_url)
    try:
        yield store
    finally:
        store.close()


def who() -> str:
    """The analyst a verdict is recorded for: the OS user, as `monitor feedback` records it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no user database entry (some containers)
        return "unknown"


# --- trends ----------------------------------------------------------------------------------


def trend_days(now: datetime, days: int = TREND_DAYS) -> list[datetime]:
    """The moments a trend shows, oldest first: the end (midnight UTC) of each of the
    `days - 1` days before today, then `now`. Whole days, so the past points stay the same
    moments from one refresh to the next and need scoring only once."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=days - 2 - i) for i in range(days - 1)] + [now]


Trends = dict[str, list[float | None]]


def load_trends(store_url: str | None, config: Config, now: datetime,
                current: dict[str, float], days: int = TREND_DAYS,
                progress: Callable[[Trends], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False,
                known: Mapping[tuple[str, datetime], float] | None = None,
                past: PastLevels | None = None) -> Trends:
    """Each scenario's level at each of `trend_days(now)`: the last stored snapshot of that
    day where there is one (what was shown then), else the level of `known` for that
    scenario and moment (scored before), else the level scored now from the stored evidence
    of that day, as `monitor backtest` replays it. The last point is `current`.

    `past` scores the missing days from the ledger the board was scored from (a dashboard
    keeps one, reaching back `days`); without it the hits are read here into a ledger of
    their own. Days are filled newest first, `progress` is handed the trends so far (None for
    days not done yet) after each day, and the work stops early (days left None) once
    `cancelled()` says so."""
    moments = trend_days(now, days)
    with _opened(store_url) as store:
        stored = store.snapshots(since=moments[0] - timedelta(days=1),
                                 until=moments[-2] + timedelta(microseconds=1))
        taken: dict[tuple[str, int], float] = {}
        for snap in stored:  # by scenario then time, so a later snapshot of a day wins
            day = bisect_left(moments, snap.at, hi=days - 1)
            if day < days - 1:
                taken[(snap.scenario, day)] = snap.level
        for (sid, at), level in (known or {}).items():
            d = bisect_left(moments, at, hi=days - 1)
            if d < days - 1 and moments[d] == at:
                taken.setdefault((sid, d), level)
        missing = {d for s in config.scenarios for d in range(days - 1)
                   if (s.id, d) not in taken}
        if missing and past is None:
            live = LiveLedger(config, span=timedelta(days=days))
            live.refresh(store, now)
            past = PastLevels(live, threading.Lock())
    out: Trends = {}
    for s in config.scenarios:
        out[s.id] = [taken.get((s.id, d)) for d in range(days - 1)] + [current.get(s.id, 0.0)]
    for d in range(days - 2, -1, -1):
        if cancelled():
            break
        if d not in missing or past is None:
            continue
        levels = past.levels(moments[d])
        # A breath between days: a refresh waiting for the ledger takes it now, instead of
        # after the whole month.
        time.sleep(0.002)
        for s in config.scenarios:
            if out[s.id][d] is None:
                out[s.id][d] = levels.get(s.id, 0.0)
        if progress is not None:
            progress({sid: list(levels) for sid, levels in out.items()})
    return out


# --- a scenario's detail ---------------------------------------------------------------------


@dataclass(frozen=True)
class Signpost:
    """One indicator of a scenario, lit (it has evidence now) or quiet."""

    indicator: str
    title: str
    weight: str
    """Its weight on the scenario, `+1`, or a range when conditions change it."""
    points: float
    """Its share of the level: the sum of its stories' points as `monitor explain` rounds
    them."""
    stories: int
    last: datetime | None
    """Its latest hit not marked false, however old."""
    surge: Surge | None

    @property
    def lit(self) -> bool:
        return self.stories > 0


@dataclass(frozen=True)
class EvidenceRow:
    """A story behind the level, shown by its strongest report."""

    story: Story
    points: float
    entry: int
    when: datetime
    source: str
    grade: str
    title: str
    terms: tuple[str, ...]
    size: int
    """Entries of the story that matched: counted reports and copies."""
    link: str | None


@dataclass(frozen=True)
class Detail:
    scenario: str
    signposts: tuple[Signpost, ...]
    evidence: tuple[EvidenceRow, ...]
    """The largest stories, at most `EVIDENCE_ROWS`."""
    stories: int = 0
    """How many stories the scenario has in all."""


def weight_label(indicator: Indicator, scenario: str) -> str:
    weights = {indicator.weight[scenario]} if scenario in indicator.weight else set()
    weights |= {c.weight[scenario] for c in indicator.conditions if scenario in c.weight}
    if len(weights) == 1:
        return f"{next(iter(weights)):+g}"
    return f"{min(weights):+g}..{max(weights):+g}"


def signposts(config: Config, scenario: str, view: ScenarioView,
              last: dict[str, datetime]) -> list[Signpost]:
    """Every indicator of `scenario`: lit ones by the size of their points, then quiet ones
    in the order of the rules, so the signs that have not appeared stay in sight."""
    score = view.score
    points = score.indicator_points()
    stories = {ind: n for ind, (_, _, n) in score.by_indicator().items()}
    surging = {s.indicator: s for s in view.surges}
    rows = [Signpost(i.id, i.title, weight_label(i, scenario), round(points.get(i.id, 0.0), 1),
                     stories.get(i.id, 0), last.get(i.id), surging.get(i.id))
            for i in config.indicators if scoring.touches(i, scenario)]
    lit = sorted((r for r in rows if r.lit), key=lambda r: (-abs(r.points), r.indicator))
    return lit + [r for r in rows if not r.lit]


EVIDENCE_ROWS = 500
"""Stories a scenario's detail lists, largest first: the ones that make its level (a large
store has a hundred thousand, and the signposts sum them all)."""


def load_detail(store_url: str | None, config: Config, scenario: str, view: ScenarioView,
                now: datetime, limit: int = EVIDENCE_ROWS) -> Detail:
    """The signpost board and the evidence rows (the `limit` largest stories) of
    `scenario`'s `view` at `now`."""
    score = view.score
    top = list(score.stories[:limit])
    points = round_points(score.stories, score.level)[:limit]
    leads = [story.reports[0].entry for story in top]
    related = [i.id for i in config.indicators if scoring.touches(i, scenario)]
    with _opened(store_url) as store:
        last = store.last_fired(related, now)
        entries = store.entries_by_pk(leads)
        hits = store.hits_for(leads)
    rows = []
    for story, p in zip(top, points, strict=True):
        lead = story.reports[0]
        terms: tuple[str, ...] = ()
        for h in hits.get(lead.entry, []):
            if h.hit.indicator == story.indicator:
                terms = h.hit.terms
        stored = entries.get(lead.entry)
        rows.append(EvidenceRow(
            story, p, lead.entry, lead.when, lead.source, lead.grade, lead.title, terms,
            len(story.reports) + story.copies, stored.entry.link if stored else None))
    return Detail(scenario, tuple(signposts(config, scenario, view, last)), tuple(rows),
                  len(score.stories))


# --- one entry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryHit:
    """One indicator the entry hit, with what it weighs on and the analyst's verdict."""

    indicator: str
    title: str
    terms: tuple[str, ...]
    value: float | None
    label: str | None
    weights: tuple[tuple[str, str], ...]
    """(scenario, weight) for every scenario the indicator weighs on."""
    marked: Feedback | None
    """The verdict that it is false, if an analyst gave one."""


@dataclass(frozen=True)
class EntryView:
    stored: StoredEntry
    source: str
    """The feed's name."""
    grade: str
    hits: tuple[EntryHit, ...]


def load_entry(store_url: str | None, config: Config, pk: int) -> EntryView | None:
    """Entry `pk` with every indicator it hit (None if the store no longer has it)."""
    with _opened(store_url) as store:
        stored = store.entry_by_pk(pk)
        if stored is None:
            return None
        hits = store.hits_for([pk]).get(pk, [])
        verdicts = {f.indicator: f for f in store.feedback()
                    if f.entry_pk == pk and f.verdict == "false"}
        state = store.source_state(stored.entry.source)
    indicators = {i.id: i for i in config.indicators}
    settings = scoring.settings_for(config)
    out = []
    for h in hits:
        ind = indicators.get(h.hit.indicator)
        weights: tuple[tuple[str, str], ...] = ()
        if ind is not None:
            weights = tuple((s.id, weight_label(ind, s.id)) for s in config.scenarios
                            if scoring.touches(ind, s.id))
        out.append(EntryHit(h.hit.indicator, ind.title if ind else h.hit.indicator,
                            h.hit.terms, h.hit.value, h.hit.label, weights,
                            verdicts.get(h.hit.indicator)))
    source = state.name if state else stored.entry.source
    grade = settings.grades.get(stored.entry.source, config.defaults.reliability)
    return EntryView(stored, source, grade, tuple(out))


def contributions(views: Mapping[str, ScenarioView], pk: int, indicator: str
                  ) -> dict[str, float]:
    """Scenario -> the points of the story in which entry `pk`'s hit of `indicator` counts
    now (as `monitor explain` rounds them); scenarios where it does not count are absent."""
    out: dict[str, float] = {}
    for sid, view in views.items():
        score = view.score
        for story, p in zip(score.stories, round_points(score.stories, score.level),
                            strict=True):
            if story.indicator == indicator and any(r.entry == pk for r in story.reports):
                out[sid] = p
    return out


def mark(store_url: str | None, pk: int, indicator: str, false: bool,
         note: str = "marked in the dashboard") -> bool:
    """Mark entry `pk`'s hit of `indicator` false (as the OS user), or withdraw the verdict;
    whether anything changed."""
    with _opened(store_url) as store:
        if false:
            store.mark_false(pk, indicator, note, who(), datetime.now(UTC))
            return True
        return store.unmark(pk, indicator)


# --- feeds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedHealth:
    state: SourceState
    grade: str
    failing: bool


def load_feeds(store_url: str | None, config: Config) -> list[FeedHealth]:
    """The health of every feed of `config`, in the order of the rules, then any other active
    source the store knows."""
    from monitor.poll import Schedule

    with _opened(store_url) as store:
        states = {s.id: s for s in store.source_states()}
    settings = scoring.settings_for(config)
    order = [f.id for f in config.feeds if f.id in states]
    order += sorted(i for i, s in states.items() if i not in order and s.active)
    schedule = Schedule()
    return [FeedHealth(states[i], settings.grades.get(i, config.defaults.reliability),
                       is_failing(states[i].consecutive_errors, schedule)) for i in order]


def poll(store_url: str | None, indicators_path: Path | str,
         feed_ids: Sequence[str] | None = None, *, take_leases: bool = True) -> PollReport:
    """Poll the given feeds (default: all) now, whether due or not, as `monitor poll --force`
    does; without `take_leases` a feed another poller holds right now is skipped instead of
    taken from it. Runs its own event loop: call it from a thread worker."""
    from monitor.fetch import Fetcher, FetchPolicy
    from monitor.poll import Poller
    from monitor.rules import load

    rules = load(indicators_path, examples=False).rules
    config = rules.config
    policy = FetchPolicy(per_host_interval=config.polling.host_interval,
                         concurrency=config.polling.concurrency,
                         total_timeout=config.polling.timeout)

    async def go(store: Store) -> PollReport:
        async with Poller(config.feeds, rules, store, base_dir=config.path.parent,
                          default_every=config.defaults.every,
                          clock=lambda: datetime.now(UTC), fetcher=Fetcher(policy)) as poller:
            return await poller.poll_now(list(feed_ids) if feed_ids else None, force=True,
                                         take_leases=take_leases)

    with _opened(store_url) as store:
        store.sync_sources(config.feeds)
        return asyncio.run(go(store))
