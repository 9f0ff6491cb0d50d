"""Backtests: the demo corpus replayed through the shipped rules gives a pinned timeline, and
the replay groups stories and scores exactly as the live path does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.backtest import evidence_of, run, sparkline
from monitor.cli import main
from monitor.model import Entry
from monitor.rules import load

ROOT = Path(__file__).resolve().parents[1]

PINNED = """\
date,negotiated-settlement,protracted-war,elite-fracture,palace-coup,economic-crisis,military-setback,western-wavering,domestic-unrest
2025-10-13T00:00:00+00:00,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0
2025-10-20T00:00:00+00:00,15.7,8.2,0.0,0.0,0.0,0.0,0.0,0.0
2025-10-27T00:00:00+00:00,41.0,41.8,0.0,0.0,0.0,0.0,0.0,0.0
2025-11-03T00:00:00+00:00,31.1,46.7,0.0,0.0,0.0,0.0,0.0,0.0
2025-11-10T00:00:00+00:00,23.2,40.9,0.0,0.0,0.0,12.7,0.0,11.7
2025-11-17T00:00:00+00:00,17.0,31.1,0.0,0.0,23.5,8.0,0.0,9.4
2025-11-24T00:00:00+00:00,49.5,44.8,8.8,0.0,33.9,5.3,11.7,7.5
2025-12-01T00:00:00+00:00,21.9,52.1,44.4,21.1,41.7,3.3,8.4,6.0
2025-12-08T00:00:00+00:00,6.4,61.4,37.2,15.5,49.3,2.1,6.0,4.8
"""


def test_the_demo_corpus_backtest_timeline_is_pinned(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deliberate review point: a change to indicators.yaml or the score model that moves
    # these numbers should be looked at, then the figures updated.
    monkeypatch.chdir(ROOT)
    seeds = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "seeds").glob("*.xml"))
    assert main(["backtest", *seeds, "--from", "2025-10-13", "--to", "2025-12-08",
                 "--step", "7d", "--csv"]) == 0
    assert capsys.readouterr().out == PINNED


RULES = """\
version: 1
defaults: {half_life: 7d, alert: 40}
feeds:
  - {id: a, path: a.xml, reliability: A}
  - {id: b, path: b.xml, reliability: B}
scenarios: [{id: s, title: S, question: Q}]
indicators:
  - {id: k, title: K, weight: {s: 3}, match: [mutiny]}
"""

T0 = datetime(2023, 6, 20, tzinfo=UTC)


def entry(n: int, source: str, days: float, title: str) -> Entry:
    return Entry(id=f"{source}-{n}", title=title, source=source,
                 published=T0 + timedelta(days=days))


def test_a_story_carried_by_two_sources_is_one_story(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES, encoding="utf-8")
    rules = load(path).rules
    title = "Armed mutiny: mercenary column moves north towards the capital overnight"
    evidence, undated = evidence_of(
        [entry(1, "a", 0, title), entry(2, "b", 0.1, title),
         entry(3, "a", 2, "Another mutiny reported in a distant garrison town today"),
         Entry(id="x", title="mutiny with no date")], rules)
    assert undated == 1
    assert [(e.source, e.cluster) for e in evidence] == [("a", 0), ("b", 0), ("a", 2)]


def test_levels_rise_with_evidence_and_decay_after_it(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES, encoding="utf-8")
    rules = load(path).rules
    entries = [entry(i, "a", i, f"Mutiny report number {i} from the southern front") for i in
               range(3)]
    timeline = run(entries, rules, T0 - timedelta(days=1), T0 + timedelta(days=20))
    levels = [p.level for p in timeline.scenarios["s"]]
    assert levels[0] == 0
    assert levels[1] < levels[2] < levels[3]
    assert levels[3] == max(levels)
    assert all(a >= b for a, b in zip(levels[3:], levels[4:], strict=False))
    alerts = [p.alert for p in timeline.scenarios["s"]]
    assert alerts[3] and not alerts[0]


def test_sparkline_draws_levels_in_eight_steps() -> None:
    assert sparkline([0, 1, 12.5, 50, 99, 100]) == " ▁▂▅██"
