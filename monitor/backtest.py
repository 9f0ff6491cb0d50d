"""Backtests: dated items replayed through the same matching and scoring as the live path,
with a moving `now`. Pure: entries, rules and dates in; a timeline out.

This is how an analyst tries a new scenario before trusting it: would it have warned before
the Wagner mutiny? Items are matched with the rules, grouped into stories the way the poller
groups them (near-duplicate keys from another source within three days), and each scenario
is scored at every step exactly as `monitor scores` would have scored it then (through a
`ledger.Ledger`, which gives what `scoring.score` gives without rescoring every story in
Python at every step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.clusters import bands, near, simhash
from monitor.ledger import ledger_of
from monitor.model import Entry
from monitor.rules import Rules
from monitor.scoring import Evidence, alert_state, settings_for
from monitor.text import word_string

CLUSTER_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class Point:
    """One scenario at one step."""

    at: datetime
    level: float
    alert: bool


@dataclass(frozen=True)
class Timeline:
    """Every scenario's level at every step, and what was left out."""

    steps: tuple[datetime, ...]
    scenarios: dict[str, tuple[Point, ...]]
    items: int
    undated: int
    """Items without a publication date, which cannot be placed in time."""
    hits: int


def evidence_of(entries: Sequence[Entry], rules: Rules) -> tuple[list[Evidence], int]:
    """The evidence in `entries` (dated ones only), stories grouped as the poller groups them;
    and how many entries had no date."""
    dated = sorted((e for e in entries if e.when is not None),
                   key=lambda e: (e.when, e.source, e.id))
    clusters: dict[int, int] = {}
    by_band: dict[tuple[int, int], list[int]] = {}
    keys: list[int] = []
    out: list[Evidence] = []
    for index, entry in enumerate(dated):
        when = entry.when
        assert when is not None
        key = simhash(entry.title, entry.summary)
        keys.append(key)
        cluster = index
        seen: set[int] = set()
        for position, band in enumerate(bands(key)):
            for other in by_band.get((position, band), ()):
                if other in seen:
                    continue
                seen.add(other)
                o = dated[other]
                assert o.when is not None
                if (o.source != entry.source and abs(when - o.when) <= CLUSTER_WINDOW
                        and near(key, keys[other])):
                    cluster = clusters[other]
                    break
            if cluster != index:
                break
        clusters[index] = cluster
        for position, band in enumerate(bands(key)):
            by_band.setdefault((position, band), []).append(index)
        version = word_string(entry.title)
        for hit in rules.match(entry):
            out.append(Evidence(index, hit.indicator, entry.source, cluster, when, version,
                                hit.value, hit.label, entry.title))
    return out, len(entries) - len(dated)


def steps_between(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out = []
    at = start
    while at <= end:
        out.append(at)
        at += step
    return out


def run(entries: Sequence[Entry], rules: Rules, start: datetime | None = None,
        end: datetime | None = None, step: timedelta = timedelta(days=1)) -> Timeline:
    """Score every scenario at each step from `start` to `end` (default: the span of the
    dated items)."""
    evidence, undated = evidence_of(entries, rules)
    config = rules.config
    settings = settings_for(config)
    times = sorted(ev.when for ev in evidence) or [
        e.when for e in entries if e.when is not None]
    if not times and (start is None or end is None):
        return Timeline((), {s.id: () for s in config.scenarios}, len(entries), undated, 0)
    start = start or min(times)
    end = end or max(times)
    steps = steps_between(start, end, step)
    # The ledger scores every scenario at each step as `scoring.score` would, without
    # rebuilding every story in Python at every step.
    ledger = ledger_of(config, evidence)
    points: dict[str, list[Point]] = {s.id: [] for s in config.scenarios}
    on = dict.fromkeys(points, False)
    for at in steps:
        for scenario in config.scenarios:
            alert_at = scenario.alert if scenario.alert is not None else config.defaults.alert
            result = ledger.score(scenario.id, at)
            on[scenario.id] = alert_state(on[scenario.id], result.level, alert_at,
                                          settings.hysteresis,
                                          ledger.converged(scenario.id, result, at))
            points[scenario.id].append(Point(at, result.level, on[scenario.id]))
        ledger.forget()
    timeline = {sid: tuple(p) for sid, p in points.items()}
    return Timeline(tuple(steps), timeline, len(entries), undated, len(evidence))


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(levels: Sequence[float], zero: str = " ") -> str:
    """Levels 0-100 as a row of eight-step bars, `zero` for nothing (a blank in the terminal;
    an email wants the lowest bar, so the line keeps its width in proportional fonts)."""
    return "".join(zero if v <= 0 else _BARS[min(int(v / 100 * len(_BARS)), len(_BARS) - 1)]
                   for v in levels)
