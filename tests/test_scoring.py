"""Scores: the properties every number on screen must keep, and the model's exact arithmetic."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.indicators import Config, parse
from monitor.scoring import (
    Evidence,
    Settings,
    alert_state,
    level_of,
    non_diagnostic,
    poisson_tail,
    round_points,
    score,
    settings_for,
    surges,
    view,
)

NOW = datetime(2025, 12, 5, 12, 0, tzinfo=UTC)

RULES = """\
version: 1
defaults: {half_life: 14d, scale: 6, alert: 60, hysteresis: 10}
feeds:
  - {id: wire, url: "https://example.org/a", reliability: A}
  - {id: paper, url: "https://example.org/b", reliability: B}
  - {id: blog, url: "https://example.org/c", reliability: D}
scenarios:
  - {id: crisis, title: Crisis, question: Is it a crisis}
  - id: fracture
    title: Fracture
    question: Is the elite splitting
    half_life: 7d
    convergence: {indicators: 2, within: 14d}
indicators:
  - {id: sign, title: Sign, weight: {crisis: 2, fracture: 1}, match: [sign]}
  - {id: calm, title: Calm, weight: {crisis: -1}, match: [calm]}
  - id: rate
    title: Rate
    weight: {crisis: 1}
    match: [rate]
    labels: {hike: [hike], cut: [cut]}
    conditions:
      - {when: {label: hike, value_at_least: 18}, weight: {crisis: 3}}
      - {when: {label: cut}, weight: {crisis: -1}}
  - {id: other, title: Other, weight: {fracture: 2}, match: [other]}
"""


def load_config(tmp_path: Path) -> Config:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES, encoding="utf-8")
    config, problems = parse(path)
    assert config is not None and not problems
    return config


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(tmp_path_factory.mktemp("rules"))


def ev(entry: int, indicator: str = "sign", source: str = "paper", cluster: int | None = None,
       days: float = 0.0, version: str = "", value: float | None = None,
       label: str | None = None) -> Evidence:
    return Evidence(entry, indicator, source, entry if cluster is None else cluster,
                    NOW - timedelta(days=days), version or f"v{entry}", value, label)


def crisis(config: Config, evidence: list[Evidence], now: datetime = NOW,
           false_hits: frozenset[tuple[int, str]] = frozenset()) -> float:
    return score("crisis", evidence, config, now, settings_for(config), false_hits).evidence


# --- the model's arithmetic -------------------------------------------------------------------


def test_one_fresh_report_counts_weight_times_reliability(config: Config) -> None:
    result = score("crisis", [ev(1, source="paper")], config, NOW, settings_for(config))
    assert result.evidence == pytest.approx(2 * 0.8)
    assert result.level == pytest.approx(100 * (1 - math.exp(-1.6 / 6)))


def test_evidence_halves_every_half_life(config: Config) -> None:
    assert crisis(config, [ev(1, days=14)]) == pytest.approx(0.8)
    assert crisis(config, [ev(1, days=28)]) == pytest.approx(0.4)


def test_independent_sources_of_one_story_corroborate_with_diminishing_returns(
    config: Config,
) -> None:
    one = crisis(config, [ev(1, source="paper", cluster=9)])
    two = crisis(config, [ev(1, source="paper", cluster=9), ev(2, source="blog", cluster=9)])
    assert two == pytest.approx(2 * (1 - (1 - 0.8) * (1 - 0.4)))
    assert one < two < 2 * one


def test_copies_of_one_wording_add_nothing_and_the_first_stands(config: Config) -> None:
    first = ev(1, source="blog", cluster=9, version="same", days=1)
    copy = ev(2, source="wire", cluster=9, version="same", days=0.5)
    assert crisis(config, [first, copy]) == crisis(config, [first])


def test_hits_marked_false_do_not_count(config: Config) -> None:
    assert crisis(config, [ev(1), ev(2)], false_hits=frozenset({(2, "sign")})) == (
        crisis(config, [ev(1)]))


def test_conditions_weigh_values_and_labels(config: Config) -> None:
    hike = crisis(config, [ev(1, "rate", value=21, label="hike")])
    small_hike = crisis(config, [ev(1, "rate", value=12, label="hike")])
    cut = crisis(config, [ev(1, "rate", value=16.5, label="cut")])
    assert (hike, small_hike, cut) == pytest.approx((3 * 0.8, 1 * 0.8, -1 * 0.8))


def test_future_and_ancient_evidence_is_ignored(config: Config) -> None:
    assert crisis(config, [ev(1, days=-1), ev(2, days=141)]) == 0


def test_the_level_is_bounded_and_zero_without_support() -> None:
    assert level_of(0, 6) == 0
    assert level_of(-3, 6) == 0
    assert level_of(1e9, 6) == 100.0
    assert level_of(6, 6) == pytest.approx(63.212, abs=1e-3)


def test_points_add_up_exactly_to_the_level_shown(config: Config) -> None:
    evidence = [ev(i, random.Random(i).choice(["sign", "calm", "rate"]),
                   random.Random(i).choice(["wire", "paper", "blog"]), days=i / 3,
                   label="hike", value=20) for i in range(40)]
    result = score("crisis", evidence, config, NOW, settings_for(config))
    assert math.fsum(s.points for s in result.stories) == pytest.approx(result.level)
    shown = round_points(result.stories, result.level)
    assert round(sum(shown), 1) == round(result.level, 1)


# --- properties ----------------------------------------------------------------------------

SOURCES = st.sampled_from(["wire", "paper", "blog"])


@st.composite
def evidence_lists(draw: st.DrawFn, indicators: tuple[str, ...] = ("sign", "calm", "rate")
                   ) -> list[Evidence]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        out.append(Evidence(
            entry=i + 1,
            indicator=draw(st.sampled_from(indicators)),
            source=draw(SOURCES),
            cluster=draw(st.integers(1, 6)),
            when=NOW - timedelta(hours=draw(st.integers(0, 24 * 60))),
            version=f"v{draw(st.integers(1, 8))}",
            value=draw(st.sampled_from([None, 12.0, 21.0])),
            label=draw(st.sampled_from([None, "hike", "cut"])),
        ))
    return out


def supporting(config: Config) -> st.SearchStrategy[list[Evidence]]:
    return evidence_lists(("sign",))


def new_hit(base: list[Evidence], indicator: str, draw: st.DrawFn) -> Evidence:
    return Evidence(
        entry=1000 + len(base), indicator=indicator, source=draw(SOURCES),
        cluster=draw(st.integers(1, 8)),
        when=NOW - timedelta(hours=draw(st.integers(0, 24 * 60))),
        version=f"new{len(base)}")


@settings(max_examples=200, deadline=None)
@given(base=evidence_lists(), data=st.data())
def test_more_supporting_evidence_never_lowers_a_score(
    config: Config, base: list[Evidence], data: st.DataObject
) -> None:
    added = new_hit(base, "sign", data.draw)
    assert crisis(config, [*base, added]) >= crisis(config, base) - 1e-12


@settings(max_examples=200, deadline=None)
@given(base=evidence_lists(), data=st.data())
def test_evidence_against_never_raises_a_score(
    config: Config, base: list[Evidence], data: st.DataObject
) -> None:
    added = new_hit(base, "calm", data.draw)
    assert crisis(config, [*base, added]) <= crisis(config, base) + 1e-12


@settings(max_examples=100, deadline=None)
@given(base=evidence_lists(("sign",)), hours=st.integers(1, 24 * 90))
def test_decay_is_monotone(config: Config, base: list[Evidence], hours: int) -> None:
    later = NOW + timedelta(hours=hours)
    assert crisis(config, base, later) <= crisis(config, base) + 1e-12


@settings(max_examples=200, deadline=None)
@given(base=evidence_lists(), data=st.data())
def test_duplicating_a_story_across_feeds_does_not_inflate_it(
    config: Config, base: list[Evidence], data: st.DataObject
) -> None:
    if not base:
        return
    original = data.draw(st.sampled_from(base))
    copy = Evidence(5000, original.indicator, data.draw(SOURCES), original.cluster,
                    original.when + timedelta(minutes=data.draw(st.integers(0, 600))),
                    original.version, original.value, original.label)
    assert crisis(config, [*base, copy]) == pytest.approx(crisis(config, base))


@settings(max_examples=200, deadline=None)
@given(base=evidence_lists(), data=st.data())
def test_marking_a_hit_false_removes_exactly_its_contribution(
    config: Config, base: list[Evidence], data: st.DataObject
) -> None:
    lone = Evidence(7000, data.draw(st.sampled_from(["sign", "calm", "rate"])),
                    data.draw(SOURCES), 7000, NOW - timedelta(hours=data.draw(st.integers(0, 999))),
                    "lone", 21.0, "hike")
    with_it = score("crisis", [*base, lone], config, NOW, settings_for(config))
    (story,) = [s for s in with_it.stories if s.cluster == 7000] or [None]
    marked = crisis(config, [*base, lone], false_hits=frozenset({(7000, lone.indicator)}))
    contribution = story.evidence if story else 0.0
    assert marked == pytest.approx(with_it.evidence - contribution, abs=1e-9)
    assert marked == pytest.approx(crisis(config, base), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(base=evidence_lists(), seed=st.integers())
def test_the_order_of_ingestion_does_not_matter(
    config: Config, base: list[Evidence], seed: int
) -> None:
    shuffled = list(base)
    random.Random(seed).shuffle(shuffled)
    a = score("crisis", base, config, NOW, settings_for(config))
    b = score("crisis", shuffled, config, NOW, settings_for(config))
    assert (a.level, a.stories) == (b.level, b.stories)


# --- over time -------------------------------------------------------------------------------


def test_alert_hysteresis_does_not_flap() -> None:
    levels = [55, 61, 58, 52, 49, 62]
    state, seen = False, []
    for level in levels:
        state = alert_state(state, level, 60, 10)
        seen.append(state)
    assert seen == [False, True, True, True, False, True]


def test_convergence_holds_an_alert_until_enough_indicators_fire(config: Config) -> None:
    strong_one = [ev(i, "other", source="wire", days=0.1) for i in range(10)]
    alone = view("fracture", strong_one, config, NOW, settings_for(config))
    assert alone.score.level > 60 and (alone.converged, alone.alert) == (False, False)
    both = view("fracture", [*strong_one, ev(99, "sign", source="wire")], config, NOW,
                settings_for(config))
    assert (both.converged, both.alert) == (True, True)


def test_a_burst_over_a_quiet_baseline_is_a_surge() -> None:
    quiet = [Evidence(i, "sign", "paper", i, NOW - timedelta(days=2 + i * 9)) for i in range(3)]
    burst = [Evidence(100 + i, "sign", "paper", 100 + i, NOW - timedelta(hours=i))
             for i in range(4)]
    (found,) = surges(["sign"], [*quiet, *burst], NOW, Settings())
    assert (found.indicator, found.recent, found.baseline) == ("sign", 4, pytest.approx(3 / 28))
    assert found.p_value == pytest.approx(poisson_tail(4, 3 / 28))


def test_a_steady_rate_is_no_surge() -> None:
    steady = [Evidence(i, "sign", "paper", i, NOW - timedelta(hours=6 * i)) for i in range(120)]
    assert surges(["sign"], steady, NOW, Settings()) == []


def test_changes_compare_with_the_level_a_day_and_a_week_ago(config: Config) -> None:
    result = view("crisis", [ev(1, days=0.5), ev(2, days=3)], config, NOW, settings_for(config))
    day_ago = score("crisis", [ev(2, days=3)], config, NOW - timedelta(days=1),
                    settings_for(config))
    assert result.change_24h == pytest.approx(result.score.level - day_ago.level)
    assert result.change_7d == pytest.approx(result.score.level)


def test_the_worked_example_of_docs_scoring_md(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(
        "version: 1\ndefaults: {half_life: 14d, scale: 6}\nfeeds:\n"
        "  - {id: wire, url: 'https://example.org/wire', reliability: B}\n"
        "  - {id: desk, url: 'https://example.org/desk', reliability: A}\n"
        "  - {id: state-tv, url: 'https://example.org/tv', reliability: D}\n"
        "scenarios: [{id: elite-fracture, title: E, question: Q}]\nindicators:\n"
        "  - {id: elite-resignation, title: R, weight: {elite-fracture: 3}, match: [r]}\n"
        "  - {id: milblogger-dissent, title: M, weight: {elite-fracture: 1}, match: [m]}\n"
        "  - {id: leaked-conversation, title: L, weight: {elite-fracture: 2}, match: [l]}\n",
        encoding="utf-8")
    config, _ = parse(path)
    assert config is not None
    day = timedelta(days=1)
    evidence = [
        Evidence(1, "elite-resignation", "wire", 1, NOW - 2 * day, "a"),
        Evidence(2, "elite-resignation", "desk", 1, NOW - day, "b"),
        Evidence(3, "milblogger-dissent", "state-tv", 3, NOW - 7 * day, "c"),
        Evidence(4, "milblogger-dissent", "wire", 3, NOW - 6 * day, "c"),
        Evidence(5, "leaked-conversation", "wire", 5, NOW - 3 * day, "d"),
    ]
    result = score("elite-fracture", evidence, config, NOW, settings_for(config),
                   frozenset({(5, "leaked-conversation")}))
    resignation, milbloggers = result.stories
    assert round(resignation.strength, 6) == 0.973590
    assert round(resignation.evidence, 6) == 2.920770
    assert (round(milbloggers.evidence, 6), milbloggers.copies) == (0.282843, 1)
    assert round(result.evidence, 6) == 3.203613
    assert round(result.level, 1) == 41.4
    assert round_points(result.stories, result.level) == [37.7, 3.7]
    unmarked = score("elite-fracture", evidence, config, NOW, settings_for(config))
    assert round(unmarked.level, 1) == 53.4
    doc = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"
    text = doc.read_text(encoding="utf-8")
    for figure in ("0.973590", "2.920770", "0.282843", "3.203613", "**41.4**", "**37.7**",
                   "**3.7**", "53.4"):
        assert figure in text


def test_an_indicator_weighted_alike_everywhere_is_non_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(
        "version: 1\nscenarios:\n  - {id: a, title: A, question: Q}\n"
        "  - {id: b, title: B, question: Q}\nindicators:\n"
        "  - {id: same, title: S, weight: {a: 2, b: 2}, match: [x]}\n"
        "  - {id: split, title: T, weight: {a: 2, b: -1}, match: [y]}\n"
        "  - {id: single, title: U, weight: {a: 1}, match: [z]}\n", encoding="utf-8")
    config, _ = parse(path)
    assert config is not None
    assert non_diagnostic(config) == [
        ("same", "`same` weighs +2 on each of a, b: it cannot tell them apart; weigh it more on "
                 "the scenario it is most diagnostic of, or against the ones it argues against")]


def _exact_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed in 80-digit decimals."""
    with localcontext() as ctx:
        ctx.prec = 80
        m = Decimal(mean)
        term = (-m).exp()
        for i in range(k):
            term = term * m / (i + 1)
        tail, i = Decimal(0), k
        while term >= tail * Decimal(10) ** -40:
            tail += term
            i += 1
            term = term * m / i
        return float(min(tail, Decimal(1)))


@pytest.mark.parametrize("k", [1, 2, 5, 30, 100, 300, 1000])
@pytest.mark.parametrize("mean", [0.01, 1 / 7, 1.0, 9.9, 99.0, 290.0, 999.5])
def test_the_poisson_tail_keeps_its_digits_far_out_in_the_tail(k: int, mean: float) -> None:
    # A surge's count far above its baseline has a tiny tail; one minus the terms below
    # it would be 0 or noise there.
    assert poisson_tail(k, mean) == pytest.approx(_exact_tail(k, mean), rel=1e-11)
    assert poisson_tail(0, mean) == 1.0
