"""Scenario scores and their explanation. Pure: evidence, feedback, config and `now` in;
levels, changes, surges, alerts and the breakdown behind every point out.

The model (docs/scoring.md walks through it with numbers):

1. A hit counts for a scenario with its indicator's weight for it (the first fitting
   `conditions:` entry replaces the weight, e.g. a key-rate hike to 21% weighs more than a
   hold, a cut counts against), and only from its time on (`when <= now`).
2. Its strength is the source's reliability (Admiralty grade: A 0.95, B 0.8, C 0.6, D 0.4,
   E 0.2, F 0.5 for "cannot be judged") times time decay, `0.5 ** (age / half_life)`.
3. A story (the poller's near-duplicate cluster) counts once per indicator, however many feeds
   carry it. Inside it, copies of one wording add nothing (the first published stands for
   them); differently worded reports from distinct sources corroborate with diminishing
   returns, as independent witnesses do: the story's strength is
   `1 - prod(1 - strength of each source's strongest report)`, which never exceeds 1. Its
   weight is the largest (in size) of its reports' weights.
4. A scenario's evidence is the sum of its stories' `weight x strength`: for minus against.
5. The level maps evidence to 0-100 with `100 * (1 - exp(-evidence / scale))` (0 when the
   evidence is nil or against): a bounded measure of how strongly the evidence points at the
   scenario, not a probability. `scale` is the evidence at which the level reaches 63.
6. Hits an analyst marked false are dropped before anything else, as if never seen.

The explanation attributes the level to stories in proportion to their evidence, so the
points shown add up exactly to the level shown.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from monitor.indicators import Config, Indicator

RELIABILITY = {"A": 0.95, "B": 0.8, "C": 0.6, "D": 0.4, "E": 0.2, "F": 0.5}
"""How much one report from a source of each Admiralty grade counts."""

DEFAULT_SCALE = 6.0
HORIZON_HALF_LIVES = 10
"""Evidence older than this many half-lives weighs under 0.1% and is left out."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One stored hit, with what scoring needs to know of its entry."""

    entry: int
    """The entry's key in the store."""
    indicator: str
    source: str
    cluster: int
    """The story the entry belongs to (the poller's near-duplicate cluster)."""
    when: datetime
    version: str = ""
    """A key of the entry's wording: entries of one story with the same version are copies."""
    value: float | None = None
    label: str | None = None
    title: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """One source's report of a story, as it counts."""

    entry: int
    source: str
    grade: str
    reliability: float
    decay: float
    when: datetime
    title: str

    @property
    def strength(self) -> float:
        return self.reliability * self.decay


@dataclass(frozen=True, slots=True)
class Story:
    """One story's part in a scenario's evidence."""

    indicator: str
    cluster: int
    weight: float
    strength: float
    reports: tuple[Report, ...]
    """The reports that count (one per distinct wording), strongest first."""
    copies: int
    """Entries of the story that were copies of a counted report and added nothing."""
    points: float = 0.0
    """Its share of the level, so that all points add up to the level shown."""

    @property
    def evidence(self) -> float:
        return self.weight * self.strength

    @property
    def latest(self) -> datetime:
        return max(r.when for r in self.reports)


@dataclass(frozen=True)
class Score:
    """A scenario's level and the stories behind it."""

    scenario: str
    level: float
    evidence: float
    stories: Sequence[Story] = ()
    """Every story with non-zero evidence, largest absolute evidence first (a tuple, or a
    `ledger.StoryTable` that builds each story when it is read)."""

    def by_indicator(self) -> dict[str, tuple[float, float, int]]:
        """Indicator -> (evidence, points, stories)."""
        fast = getattr(self.stories, "by_indicator", None)
        if fast is not None:
            return cast(dict[str, tuple[float, float, int]], fast())
        out: dict[str, tuple[float, float, int]] = {}
        for s in self.stories:
            e, p, n = out.get(s.indicator, (0.0, 0.0, 0))
            out[s.indicator] = (e + s.evidence, p + s.points, n + 1)
        return out

    def indicator_points(self, places: int = 1) -> dict[str, float]:
        """Indicator -> the sum of its stories' points as `round_points` rounds them (what
        `monitor explain` and the detail screen add up)."""
        fast = getattr(self.stories, "indicator_points", None)
        if fast is not None:
            return cast(dict[str, float], fast(places))
        out: dict[str, float] = {}
        for s, p in zip(self.stories, round_points(self.stories, self.level, places),
                        strict=True):
            out[s.indicator] = out.get(s.indicator, 0.0) + p
        return out


@dataclass(frozen=True)
class Surge:
    """An indicator firing well above its own trailing baseline."""

    indicator: str
    recent: int
    """Stories in the last `window`."""
    baseline: float
    """Mean stories per window over the trailing baseline period."""
    p_value: float


@dataclass(frozen=True)
class ScenarioView:
    """What the dashboard, `monitor scores` and the digest show for a scenario."""

    score: Score
    change_24h: float
    change_7d: float
    surges: tuple[Surge, ...]
    alert: bool
    converged: bool
    """Whether the scenario's convergence requirement (if any) is met now."""


@dataclass
class Settings:
    """Numbers the model uses, from `defaults` of indicators.yaml where given."""

    scale: float = DEFAULT_SCALE
    hysteresis: float = 10.0
    """An alert ends only when the level falls this far below the alert level."""
    surge_window: timedelta = timedelta(hours=24)
    surge_baseline: timedelta = timedelta(days=28)
    surge_p: float = 0.001
    """A surge is a count this unlikely under a Poisson law with the baseline's mean."""
    surge_min: int = 3
    """... and at least this many stories."""
    grades: Mapping[str, str] = field(default_factory=dict)
    """Source id -> Admiralty grade."""


def settings_for(config: Config) -> Settings:
    grades = {f.id: (f.reliability or config.defaults.reliability) for f in config.feeds}
    return Settings(scale=config.defaults.scale, hysteresis=config.defaults.hysteresis,
                    grades=grades)


def weight_of(indicator: Indicator, scenario: str, value: float | None,
              label: str | None) -> float:
    """The weight of a hit with this value and label for `scenario` (0 if none)."""
    for condition in indicator.conditions:
        when = condition.when
        labels = [when.label] if isinstance(when.label, str) else when.label
        if labels is not None and label not in labels:
            continue
        if when.value_at_least is not None and (value is None or value < when.value_at_least):
            continue
        if when.value_below is not None and (value is None or value >= when.value_below):
            continue
        return condition.weight.get(scenario, 0.0)
    return indicator.weight.get(scenario, 0.0)


def half_life_seconds(config: Config, scenario: str) -> float:
    s = config.scenario(scenario)
    return float((s.half_life if s and s.half_life else None) or config.defaults.half_life)


def horizon(config: Config) -> timedelta:
    """How far back evidence can still count for any scenario."""
    longest = max([half_life_seconds(config, s.id) for s in config.scenarios] or [86400.0])
    return timedelta(seconds=longest * HORIZON_HALF_LIVES)


def score(scenario: str, evidence: Iterable[Evidence], config: Config, now: datetime,
          settings: Settings, false_hits: frozenset[tuple[int, str]] = frozenset()) -> Score:
    """The level of `scenario` at `now` from `evidence` (hits in `false_hits` left out)."""
    indicators = {i.id: i for i in config.indicators if touches(i, scenario)}
    half_life = half_life_seconds(config, scenario)
    cutoff = now - timedelta(seconds=half_life * HORIZON_HALF_LIVES)
    grouped: dict[tuple[str, int], list[tuple[float, Evidence]]] = defaultdict(list)
    for ev in evidence:
        ind = indicators.get(ev.indicator)
        if ind is None or ev.when > now or ev.when < cutoff:
            continue
        if (ev.entry, ev.indicator) in false_hits:
            continue
        w = weight_of(ind, scenario, ev.value, ev.label)
        if w:
            grouped[(ev.indicator, ev.cluster)].append((w, ev))
    stories = [_story(key, hits, now, half_life, settings) for key, hits in grouped.items()]
    total = math.fsum(s.evidence for s in stories)
    level = level_of(total, settings.scale)
    stories = _attribute(stories, total, level)
    stories.sort(key=lambda s: (-abs(s.evidence), s.indicator, s.cluster))
    return Score(scenario, level, total, tuple(stories))


def touches(indicator: Indicator, scenario: str) -> bool:
    """Whether `indicator` weighs on `scenario`, plainly or under a condition."""
    return scenario in indicator.weight or any(scenario in c.weight
                                               for c in indicator.conditions)


REBASE = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decay(now: datetime, when: datetime, half_life: float) -> float:
    """`0.5 ** (age / half_life)` for a report from `when` at `now`, taken as its decay at the
    start of the hour `now` falls in (UTC) times the decay since then: the same number to an
    ulp, and the form in which `monitor.ledger` keeps a million decays for an hour and moves
    them on with one factor. Both compute it alike, so they agree to the last bit."""
    ref = now - (now - EPOCH) % REBASE
    d = 0.5 ** ((ref - when).total_seconds() / half_life)
    if now == ref:
        return d
    return d * 0.5 ** ((now - ref).total_seconds() / half_life)


def level_of(evidence: float, scale: float) -> float:
    """0-100: `100 * (1 - exp(-evidence / scale))`, and 0 for no or negative evidence."""
    if evidence <= 0:
        return 0.0
    return 100.0 * -math.expm1(-evidence / scale)


def _story(key: tuple[str, int], hits: list[tuple[float, Evidence]], now: datetime,
           half_life: float, settings: Settings) -> Story:
    indicator, cluster = key
    # Copies of one wording: the first published stands for all of them (it is the likely
    # original; a later copy, however reputable its carrier, adds no information).
    first_by_version: dict[str, tuple[Report, float]] = {}
    for w, ev in hits:
        grade = settings.grades.get(ev.source, "C")
        report = Report(ev.entry, ev.source, grade, RELIABILITY.get(grade, 0.6),
                        decay(now, ev.when, half_life), ev.when, ev.title)
        version = ev.version or f"entry:{ev.entry}"
        current = first_by_version.get(version)
        if current is None or (report.when, report.entry) < (current[0].when, current[0].entry):
            first_by_version[version] = (report, w)
    # Distinct wordings from one source are still one witness: keep its strongest.
    best_by_source: dict[str, tuple[Report, float]] = {}
    for report, w in first_by_version.values():
        current = best_by_source.get(report.source)
        if current is None or _stronger(report, current[0]):
            best_by_source[report.source] = (report, w)
    counted = sorted(best_by_source.values(), key=lambda rw: (-rw[0].strength, rw[0].entry))
    missing = 1.0
    for report, _ in counted:
        missing *= 1.0 - report.strength
    # Reports of one story may fit different conditions (one says "raised to 21%", another
    # only "raised"): the story weighs what its most telling report weighs.
    weight = max((w for _, w in counted), key=lambda w: (abs(w), w))
    return Story(indicator, cluster, weight, 1.0 - missing,
                 tuple(r for r, _ in counted), len(hits) - len(counted))


def _stronger(a: Report, b: Report) -> bool:
    return (a.strength, -a.entry) > (b.strength, -b.entry)


def _attribute(stories: list[Story], total: float, level: float) -> list[Story]:
    """Give each story its share of the level, in proportion to its evidence."""
    if total <= 0 or not stories:
        return stories
    factor = level / total
    return [Story(s.indicator, s.cluster, s.weight, s.strength, s.reports, s.copies,
                  s.evidence * factor) for s in stories]


# --- over time ---------------------------------------------------------------------------


def surges(indicators: Iterable[str], evidence: Sequence[Evidence], now: datetime,
           settings: Settings, false_hits: frozenset[tuple[int, str]] = frozenset()
           ) -> list[Surge]:
    """Indicators whose stories in the last window are far above their trailing baseline.

    The statistic: the number of distinct stories in the last `surge_window` against a Poisson
    law whose mean is the indicator's average per window over the `surge_baseline` before it
    (at least one story per baseline period, so a first-ever burst can still surge). A surge
    needs at least `surge_min` stories and a tail probability below `surge_p`.
    """
    window_start = now - settings.surge_window
    base_start = window_start - settings.surge_baseline
    recent: dict[str, set[int]] = defaultdict(set)
    before: dict[str, set[int]] = defaultdict(set)
    for ev in evidence:
        if (ev.entry, ev.indicator) in false_hits or ev.when > now:
            continue
        if ev.when > window_start:
            recent[ev.indicator].add(ev.cluster)
        elif ev.when > base_start:
            before[ev.indicator].add(ev.cluster)
    windows = settings.surge_baseline / settings.surge_window
    out = []
    for ind in indicators:
        k = len(recent.get(ind, ()))
        if k < settings.surge_min:
            continue
        mean = max(len(before.get(ind, ())), 1) / windows
        p = poisson_tail(k, mean)
        if p < settings.surge_p:
            out.append(Surge(ind, k, mean, p))
    return out


@functools.lru_cache(maxsize=4096)
def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean). (Kept for the counts seen: a dashboard asks the
    same of every indicator at each refresh.)

    Summed from the term nearest `k` outwards, where the terms fall fastest: the tail
    itself when `k` is above the mean (a surge: no `1 - 0.99999...` losing its digits),
    else one minus the terms below `k`. A busy indicator's count is in the hundreds, and
    summing every term from 0 took 100 us a call."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0

    def term_at(i: int) -> float:
        return math.exp(i * math.log(mean) - mean - math.lgamma(i + 1))

    total = 0.0
    if k > mean:  # the tail itself, from k upwards
        i, term = k, term_at(k)
        while term > total * 1e-17:
            total += term
            i += 1
            term *= mean / i
        return min(1.0, total)
    # One minus the terms below k, from k - 1 downwards.
    i, term = k - 1, term_at(k - 1)
    while term > total * 1e-17:
        total += term
        if i == 0:
            break
        term *= i / mean
        i -= 1
    return max(0.0, 1.0 - total)


def alert_state(was_on: bool, level: float, alert_at: float, hysteresis: float,
                converged: bool = True) -> bool:
    """Whether a scenario is in alert: it turns on at `alert_at` (once converged) and off only
    below `alert_at - hysteresis`, so a level hovering at the line does not flap."""
    if was_on:
        return level >= alert_at - hysteresis
    return converged and level >= alert_at


def converged(scenario: str, config: Config, score_now: Score, now: datetime) -> bool:
    """Whether enough distinct indicators gave supporting evidence within the window."""
    s = config.scenario(scenario)
    if s is None or s.convergence is None:
        return True
    since = now - timedelta(seconds=s.convergence.within)
    fired = {st.indicator for st in score_now.stories
             if st.evidence > 0 and st.latest >= since}
    return len(fired) >= s.convergence.indicators


def view(scenario: str, evidence: Sequence[Evidence], config: Config, now: datetime,
         settings: Settings, false_hits: frozenset[tuple[int, str]] = frozenset(),
         was_alert: bool = False) -> ScenarioView:
    """The scenario's score now, its changes over 24 h and 7 d, surges and alert state."""
    current = score(scenario, evidence, config, now, settings, false_hits)
    day = score(scenario, evidence, config, now - timedelta(days=1), settings, false_hits)
    week = score(scenario, evidence, config, now - timedelta(days=7), settings, false_hits)
    related = [i.id for i in config.indicators if touches(i, scenario)]
    is_converged = converged(scenario, config, current, now)
    s = config.scenario(scenario)
    alert_at = (s.alert if s and s.alert is not None else config.defaults.alert)
    return ScenarioView(
        current, current.level - day.level, current.level - week.level,
        tuple(surges(related, evidence, now, settings, false_hits)),
        alert_state(was_alert, current.level, alert_at, settings.hysteresis, is_converged),
        is_converged,
    )


def tenths(x: float) -> float:
    """`x` rounded as `round_points` rounds the level, so every place that shows a level or a
    change (tables, bars, details, emails) agrees with the points beside it."""
    return round(x * 10) / 10


def round_points(stories: Sequence[Story], level: float, places: int = 1) -> list[float]:
    """The stories' points rounded so that the rounded numbers add up to the rounded level
    (largest remainders get the spare units)."""
    fast = getattr(stories, "round_points", None)
    if fast is not None:  # a ledger.StoryTable: the same numbers without building stories
        return cast(list[float], fast(places))
    unit = 10 ** places
    target = round(level * unit)
    raw = [s.points * unit for s in stories]
    floors = [math.floor(r) for r in raw]
    spare = target - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=spare > 0)
    for i in order[: abs(spare)]:
        floors[i] += 1 if spare > 0 else -1
    return [f / unit for f in floors]


def non_diagnostic(config: Config) -> list[tuple[str, str]]:
    """Indicators that cannot tell scenarios apart: weighted exactly alike for every scenario
    they touch (two or more), so their evidence moves those scenarios in lockstep. Each with a
    sentence saying why and what to do."""
    out = []
    for ind in config.indicators:
        weights = set(ind.weight.values())
        if len(ind.weight) >= 2 and len(weights) == 1 and not ind.conditions:
            (w,) = weights
            names = ", ".join(sorted(ind.weight))
            out.append((ind.id, f"`{ind.id}` weighs {w:+g} on each of {names}: it cannot tell "
                                "them apart; weigh it more on the scenario it is most "
                                "diagnostic of, or against the ones it argues against"))
    return out
