"""The ledger scores as the reference model does: the same levels, changes, surges, alerts and
stories as `scoring.view` over random stores (copies, several sources, conditions, false
hits, stories cut by the horizon), and a live ledger over a real store follows new hits,
verdicts and re-matching."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import evidence, scoring
from monitor import ledger as ledger_module
from monitor import store as store_module
from monitor.evidence import LiveLedger, ledger_views
from monitor.indicators import Config
from monitor.ledger import Ledger, StoryTable, _Chosen, _Crowds, _Stories, _Titles, ledger_of
from monitor.model import Entry, Hit
from monitor.rules import load
from monitor.scoring import Evidence, ScenarioView, Story
from monitor.store import Polled, Store
from monitor.tui.board import top_indicator

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load(ROOT / "indicators.yaml", examples=False).rules.config
START = datetime(2025, 1, 1, tzinfo=UTC)


def random_evidence(rng: random.Random, config: Config, stories: int, days: int
                    ) -> tuple[list[Evidence], frozenset[tuple[int, str]]]:
    """Stories of 1-6 reports from random feeds within three days, a third of the later
    reports copies of the first wording, some at the very same moment; key-rate hits with
    values and labels; a few hits marked false."""
    feeds = [f.id for f in config.feeds]
    indicators = [i.id for i in config.indicators]
    out: list[Evidence] = []
    entry = 0
    for cluster in range(stories):
        base = START + timedelta(seconds=rng.uniform(0, days * 86400))
        fired = rng.sample(indicators, rng.choice((1, 1, 2, 3)))
        if rng.random() < 0.2:
            fired.append("key-rate-change")
        first = f"story {cluster} first wording"
        for n in range(rng.choice((1, 1, 2, 3, 4, 6))):
            entry += 1
            when = base if n == 0 or rng.random() < 0.1 else \
                base + timedelta(seconds=rng.uniform(0, 3 * 86400))
            version = first if n and rng.random() < 0.35 else f"story {cluster} report {n}"
            for ind in dict.fromkeys(fired):
                value, label = None, None
                if ind == "key-rate-change":
                    value = rng.choice((None, 7.5, 16.0, 21.0, 23.0))
                    label = rng.choice((None, "hike", "hold", "cut"))
                out.append(Evidence(entry, ind, rng.choice(feeds), cluster, when, version,
                                    value, label, f"title {entry}"))
    false = frozenset((ev.entry, ev.indicator) for ev in rng.sample(out, len(out) // 20))
    return out, false


def reference_views(config: Config, evs: list[Evidence], now: datetime,
                    false: frozenset[tuple[int, str]]) -> dict[str, ScenarioView]:
    got = evidence.Gathered(now, tuple(evs), false)
    return evidence.views(config, got)


def _story_key(story: Story) -> tuple[str, int]:
    return story.indicator, story.cluster


def tied_runs(stories: Sequence[Story]) -> list[tuple[int, int]]:
    """(start, end) of each run of stories whose evidence agrees to 1e-12 (most are one)."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(stories) + 1):
        if i == len(stories) or not math.isclose(abs(stories[i].evidence),
                                                 abs(stories[i - 1].evidence), rel_tol=1e-12):
            runs.append((start, i))
            start = i
    return runs


def assert_same_views(ref: dict[str, ScenarioView], fast: dict[str, ScenarioView]) -> None:
    assert list(ref) == list(fast)
    for sid, a in ref.items():
        b = fast[sid]
        assert math.isclose(a.score.level, b.score.level, abs_tol=1e-9), sid
        assert math.isclose(a.score.evidence, b.score.evidence, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(a.change_24h, b.change_24h, abs_tol=1e-9), sid
        assert math.isclose(a.change_7d, b.change_7d, abs_tol=1e-9), sid
        assert (a.surges, a.alert, a.converged) == (b.surges, b.alert, b.converged), sid
        assert len(a.score.stories) == len(b.score.stories), sid
        ref_points = scoring.round_points(a.score.stories, a.score.level)
        got_points = scoring.round_points(b.score.stories, b.score.level)
        for lo, hi in tied_runs(a.score.stories):
            # Stories whose evidence agrees to 1e-12 may come in either order (it is equal
            # in exact arithmetic, e.g. weight 2 x grade C against 1.5 x grade B): the same
            # stories, and the same rounded points among them.
            xs = sorted(a.score.stories[lo:hi], key=_story_key)
            ys = sorted(b.score.stories[lo:hi], key=_story_key)
            for x, y in zip(xs, ys, strict=True):
                assert (x.indicator, x.cluster, x.weight, x.reports, x.copies) == \
                    (y.indicator, y.cluster, y.weight, y.reports, y.copies), sid
                assert math.isclose(x.strength, y.strength, rel_tol=1e-12), sid
                assert math.isclose(x.points, y.points, rel_tol=1e-9, abs_tol=1e-12), sid
            assert sorted(ref_points[lo:hi]) == sorted(got_points[lo:hi]), sid
        assert top_indicator(a.score) == top_indicator(b.score), sid
        table = b.score.stories
        if isinstance(table, StoryTable):
            # Rounded and newest without building the stories: as the reference has them.
            assert table.round_points() == got_points, sid
            for limit in (1, 3, 10):
                newest = sorted(a.score.stories, key=lambda s: s.latest, reverse=True)[:limit]
                assert [table.latest_at(j) for j in table.newest_at(limit)] == \
                    [s.latest for s in newest], sid
            # What a story is shown by, read without building it.
            for j in range(len(table)):
                lead = table.story_at(j).reports[0]
                assert table.lead_at(j) == (lead.entry, lead.source, lead.grade, lead.title)
                assert table.latest_at(j) == table.story_at(j).latest
        by_a, by_b = a.score.by_indicator(), b.score.by_indicator()
        assert by_a.keys() == by_b.keys()
        for ind, (e, p, n) in by_a.items():
            assert math.isclose(e, by_b[ind][0], rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(p, by_b[ind][1], rel_tol=1e-9, abs_tol=1e-12)
            assert n == by_b[ind][2]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), offset=st.floats(0.0, 1.2))
def test_the_ledger_gives_the_reference_views_on_random_stores(seed: int, offset: float) -> None:
    rng = random.Random(seed)
    days = 400  # longer than the longest horizon (30 d x 10): stories cut by it occur
    evs, false = random_evidence(rng, CONFIG, 150, days)
    # Moments inside the span (later hits are in the future) and after it.
    now = START + timedelta(days=days * offset, seconds=rng.randrange(86400))
    ledger = ledger_of(CONFIG, evs, false)
    assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), split=st.floats(0.5, 0.995))
def test_hits_added_to_a_scored_ledger_give_the_views_of_all_of_them(seed: int, split: float
                                                                     ) -> None:
    # A few later hits go to a small ledger of the stories they touch, the rest stay put;
    # many make the ledger prepare everything afresh. Either way: the views of all hits.
    rng = random.Random(seed)
    evs, false = random_evidence(rng, CONFIG, 300, 120)
    evs.sort(key=lambda ev: ev.when)
    cut = int(len(evs) * split)
    now = START + timedelta(days=121)
    ledger = ledger_of(CONFIG, evs[:cut], false)
    ledger.views(now)
    ledger.add_evidence(evs[cut:])
    assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))
    ledger.add_evidence([])
    assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))


def scored_without_the_last(seed: int, later: int) -> tuple[
        list[Evidence], frozenset[tuple[int, str]], datetime, Ledger]:
    """A random store's hits in time order, its verdicts, a moment after them all, and a
    ledger of all but the `later` last hits, scored at that moment (its tracks prepared)."""
    evs, false = random_evidence(random.Random(seed), CONFIG, 300, 120)
    evs.sort(key=lambda ev: ev.when)
    now = START + timedelta(days=121)
    ledger = ledger_of(CONFIG, evs[:-later], false)
    ledger.views(now)
    return evs, false, now, ledger


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_polls_one_after_another_give_the_views_of_all_hits_after_each(seed: int) -> None:
    # Each poll's stories are found from those touched before, and earlier hits are looked
    # for only for stories touched for the first time: after each of several polls (stories
    # new, touched by the poll before, and older ones touched again) the small ledger holds
    # every hit of the touched stories, and the views are the reference's.
    evs, false, now, ledger = scored_without_the_last(seed, 48)
    prepared, first = ledger._tracks, len(evs) - 48
    for end in range(first + 12, len(evs) + 1, 12):
        ledger.add_evidence(evs[end - 12:end])
        assert ledger._tracks is prepared and ledger._recent is not None
        touched = {ev.cluster for ev in evs[first:end]}
        assert len(ledger._recent) == sum(1 for ev in evs[:end] if ev.cluster in touched)
        assert_same_views(reference_views(CONFIG, evs[:end], now, false), ledger.views(now))


def test_a_ledger_prepares_afresh_once_the_touched_stories_hold_too_many_hits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The small ledger of touched stories is made again after each poll: past a bound of
    # hits it costs more than preparing everything, even below a tenth of the ledger.
    evs, false, now, ledger = scored_without_the_last(4, 24)
    ledger.add_evidence(evs[-24:-16])
    assert ledger._recent is not None
    moved = len(ledger._recent)
    monkeypatch.setattr(ledger_module, "_MOVED_AT_MOST", moved)
    ledger.add_evidence(evs[-16:])
    assert ledger._tracks is None and len(evs) // 10 > moved
    assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))


def test_keys_too_large_for_narrow_columns_widen_them_and_score_the_same() -> None:
    # Entry and cluster numbers past 32 bits (a store with a long history, clusters named by
    # other keys): the ledger's columns start narrow and must widen, also when such hits come
    # after it was scored, and give the reference's views either way.
    rng = random.Random(11)
    evs, false = random_evidence(rng, CONFIG, 200, 60)
    big = 3_000_000_000
    evs = [dataclasses.replace(ev, entry=ev.entry + big * (ev.cluster % 2),
                               cluster=ev.cluster + big * 1000 * (ev.cluster % 3 == 0))
           for ev in evs]
    false = frozenset((entry + big, ind) for entry, ind in false)
    evs.sort(key=lambda ev: ev.when)
    now = START + timedelta(days=61)
    whole = ledger_of(CONFIG, evs, false)
    assert (whole.entry.dtype, whole.cluster.dtype) == (np.int64, np.int64)
    assert_same_views(reference_views(CONFIG, evs, now, false), whole.views(now))
    small = [ev for ev in evs if ev.entry < big and ev.cluster < big]
    later = [ev for ev in evs if ev.entry >= big or ev.cluster >= big]
    grown = ledger_of(CONFIG, small, false)
    assert (grown.entry.dtype, grown.cluster.dtype) == (np.int32, np.int32)
    grown.views(now)
    grown.add_evidence(later)
    assert (grown.entry.dtype, grown.cluster.dtype) == (np.int64, np.int64)
    assert_same_views(reference_views(CONFIG, evs, now, false), grown.views(now))


def test_a_few_new_hits_are_scored_apart_from_the_prepared_ones() -> None:
    evs, false, now, ledger = scored_without_the_last(11, 8)
    prepared = ledger._tracks
    ledger.add_evidence(evs[-8:])
    assert ledger._recent is not None and ledger._tracks is prepared
    assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))


def test_a_copy_stands_in_when_the_horizon_cuts_off_its_original() -> None:
    # The original (day 0) is past the 10 half-lives of elite-fracture's 21 days at `now`,
    # its later copy from another feed (day 2) is not: the copy counts, as in the reference.
    config = CONFIG
    original = Evidence(1, "elite-resignation", "meduza-en", 7, START, "same words", None,
                        None, "a")
    copy = Evidence(2, "elite-resignation", "the-bell", 7, START + timedelta(days=2),
                    "same words", None, None, "b")
    now = START + timedelta(days=211)
    ledger = ledger_of(config, [original, copy])
    ref = scoring.score("elite-fracture", [original, copy], config, now,
                        scoring.settings_for(config))
    fast = ledger.score("elite-fracture", now)
    assert [r.entry for s in ref.stories for r in s.reports] == [2]
    assert fast.level == ref.level
    assert list(fast.stories) == list(ref.stories)


def test_a_copy_stands_in_for_its_original_in_a_story_a_poll_touched() -> None:
    # The same cut as above, in hits added to a prepared ledger: they are scored in its
    # small ledger of the stories they touch.
    rng = random.Random(3)
    evs, _ = random_evidence(rng, CONFIG, 300, 210)
    now = START + timedelta(days=211)
    ledger = ledger_of(CONFIG, evs)
    ledger.views(now)
    story = 10**6
    added = [Evidence(10**6, "elite-resignation", "meduza-en", story, START, "same words",
                      None, None, "a"),
             Evidence(10**6 + 1, "elite-resignation", "the-bell", story,
                      START + timedelta(days=2), "same words", None, None, "b"),
             Evidence(10**6 + 2, "elite-defection", "the-bell", story, START + timedelta(days=200),
                      "other words", None, None, "c")]
    ledger.add_evidence(added)
    assert ledger._recent is not None
    views = ledger.views(now)
    assert_same_views(reference_views(CONFIG, evs + added, now, frozenset()), views)
    shown = [(s.indicator, s.cluster, [r.entry for r in s.reports])
             for s in views["elite-fracture"].score.stories if s.cluster == story]
    assert ("elite-resignation", story, [10**6 + 1]) in shown


def test_a_backtest_moment_ignores_later_hits() -> None:
    rng = random.Random(5)
    evs, _ = random_evidence(rng, CONFIG, 60, 30)
    ledger = ledger_of(CONFIG, evs)
    settings_ = scoring.settings_for(CONFIG)
    for day in range(0, 35, 5):
        at = START + timedelta(days=day)
        for s in CONFIG.scenarios:
            ref = scoring.score(s.id, evs, CONFIG, at, settings_)
            got = ledger.score(s.id, at)
            assert math.isclose(got.level, ref.level, abs_tol=1e-9)
            assert ledger.converged(s.id, got, at) == scoring.converged(s.id, CONFIG, ref, at)
            assert len(got.stories) == len(ref.stories)  # sorted: the same from the table
            assert ledger.converged(s.id, got, at) == scoring.converged(s.id, CONFIG, ref, at)
        ledger.forget()


# --- a live ledger over a real store -------------------------------------------------------


def ingest(store: Store, rng: random.Random, start: int, count: int, now: datetime) -> None:
    feeds = [f.id for f in CONFIG.feeds]
    indicators = [i.id for i in CONFIG.indicators]
    for n in range(start, start + count):
        source = rng.choice(feeds)
        title = rng.choice(("Mutiny near Rostov", f"Key rate raised, report {n}",
                            f"Governor resigns in region {n % 7}"))
        entry = Entry(id=f"e{n}", title=title, summary=f"summary {n}", source=source,
                      published=now - timedelta(days=rng.uniform(0, 60)))
        fired = rng.sample(indicators, rng.choice((1, 2)))
        hits = [Hit(i, ("x",), 21.0 if i == "key-rate-change" else None,
                    "hike" if i == "key-rate-change" else None) for i in fired]
        store.ingest(source, [entry], {entry.id: hits}, "fp", now, Polled(next_due_at=now))


def test_a_live_ledger_follows_new_hits_verdicts_and_rematching(db_url: str) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rng = random.Random(3)
    with Store.open(db_url) as store:
        store.sync_sources(CONFIG.feeds)
        ingest(store, rng, 0, 60, now)
        live = LiveLedger(CONFIG)

        def check() -> tuple[dict[str, ScenarioView], dict[str, ScenarioView]]:
            ref = evidence.views(CONFIG, evidence.gather_scored(store, CONFIG, now))
            fast = ledger_views(store, CONFIG, now, live=live)
            assert_same_views(ref, fast)
            return ref, fast

        before = check()
        first = live.ledger
        ingest(store, rng, 60, 30, now)
        check()
        assert live.ledger is first  # read only the hits added since
        # Stories of the earlier views are still those of their moment (a dashboard's
        # detail screen opened on the previous refresh builds them late).
        assert_same_views(*before)
        marked = store.hits_since(now - timedelta(days=90))[5]
        store.mark_false(marked.entry_pk, marked.hit.indicator, "", "test", now)
        check()
        assert live.ledger is first
        store.replace_hits([(marked.entry_pk, [Hit("mobilization", ("x",))])], "fp2")
        check()
        assert live.ledger is not first  # the hits changed in place: read again


def test_a_live_ledger_says_which_past_moments_new_evidence_can_change(db_url: str) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    rng = random.Random(5)
    with Store.open(db_url) as store:
        store.sync_sources(CONFIG.feeds)
        ingest(store, rng, 0, 40, now)
        live = LiveLedger(CONFIG, span=timedelta(days=30))
        ledger = live.refresh(store, now)
        first = live.stamp()
        assert live.changed_since(first) is None
        assert live.changed_since(None) == datetime.min.replace(tzinfo=UTC)
        # A past moment's levels, as a full score gives them, with nothing of it kept.
        past = now - timedelta(days=20)
        levels = ledger.levels(past)
        assert all(math.isclose(levels[s.id], ledger.score(s.id, past).level, abs_tol=1e-9)
                   for s in CONFIG.scenarios)
        kept = (set(ledger._cache), set(ledger._chosen))
        ledger.levels(now - timedelta(days=25))
        assert (set(ledger._cache), set(ledger._chosen)) == kept
        # New hits: moments before the earliest of them score as before.
        ingest(store, rng, 40, 5, now)
        with Store.open(db_url) as reader:
            added = [h.when for h in reader.hits_since(now - timedelta(days=90))
                     if h.entry_pk > 40]
        live.refresh(store, now)
        assert live.changed_since(first) == min(added)
        second = live.stamp()
        assert live.changed_since(second) is None
        # A verdict may move any moment.
        marked = store.hits_since(now - timedelta(days=90))[3]
        store.mark_false(marked.entry_pk, marked.hit.indicator, "", "test", now)
        live.refresh(store, now)
        assert live.changed_since(second) == datetime.min.replace(tzinfo=UTC)
        assert live.changed_since(live.stamp()) is None


def test_store_times_reach_the_ledger_to_the_microsecond(db_url: str) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    when = datetime(2026, 2, 27, 18, 35, 13, 999544, tzinfo=UTC)
    with Store.open(db_url) as store:
        store.sync_sources(CONFIG.feeds)
        entry = Entry(id="x", title="t", source="meduza-en", published=when)
        store.ingest("meduza-en", [entry], {"x": [Hit("mobilization", ("x",))]}, "fp", now,
                     Polled(next_due_at=now))
        (rows,) = store.scoring_batches(now - timedelta(days=30), batch=0)
    assert [e[3] for e in rows.entries] == \
        [(when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)]


@pytest.mark.parametrize("after", [0, 1])
def test_a_read_after_a_hit_id_holds_only_later_hits(tmp_path: Path, after: int) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.sync_sources(CONFIG.feeds)
        ingest(store, random.Random(1), 0, 2, now)
        (rows,) = store.scoring_batches(now - timedelta(days=90), after, batch=0)
        hits = sum(len(j.split()) for _, j in rows.grouped) + len(rows.valued)
        replaced, top, newer = store.hit_marks(after)
        # Only replacing hits (re-matching, an edited entry) moves the first mark.
        store.replace_hits([(store.entries()[0].pk, [Hit("mobilization", ("x",))])], "fp2")
        again = store.hit_marks(after)
    assert rows.last_hit == top
    assert hits == newer
    assert (replaced, again[0]) == (0, 1)


def test_a_read_in_parts_gives_the_rows_and_the_views_of_a_read_in_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.sync_sources(CONFIG.feeds)
        ingest(store, random.Random(7), 0, 60, now)
        since = now - timedelta(days=90)
        (whole,) = store.scoring_batches(since, batch=0)
        parts = list(store.scoring_batches(since, batch=7))
        one = ledger_views(store, CONFIG, now, live=LiveLedger(CONFIG))
        monkeypatch.setattr(store_module, "SCORING_BATCH", 7)
        by_parts = LiveLedger(CONFIG).refresh(store, now).views(now)
        (in_one_part,) = store.scoring_batches(since, batch=0)
    assert len(parts) == 9  # entry keys 1 to 60, seven at a time
    assert sorted(e for p in parts for e in p.entries) == sorted(whole.entries)
    assert sorted(g for p in parts for g in p.grouped) == sorted(whole.grouped)
    assert sorted(v for p in parts for v in p.valued) == sorted(whole.valued)
    assert {p.last_hit for p in parts} == {whole.last_hit}
    assert in_one_part == whole
    assert_same_views(one, by_parts)


def test_titles_packed_apart_read_as_given_and_the_latest_wins() -> None:
    titles = _Titles()
    titles.PACK = 3
    titles.update([(5, "Кремль"), (2, "a"), (9, "")])  # packed
    titles.update([(7, "b"), (2, "a, edited")])  # kept apart
    titles.setdefault(7, "not this")
    titles.setdefault(1, "c")  # packs with the two before
    titles.update([(4, "d")])
    assert [titles.get(k, "?") for k in range(11)] == \
        ["?", "c", "a, edited", "?", "d", "Кремль", "?", "b", "?", "", "?"]
    assert (5 in titles, 3 in titles, 4 in titles) == (True, False, True)


def test_a_track_sums_its_stories_as_a_polynomial_in_the_decay_factor() -> None:
    # Stories of 1 to 12 reports, small ones summed as one polynomial, large ones multiplied
    # out: the same sum as each story's 1 - prod(1 - a f), to 1e-13.
    rng = np.random.default_rng(3)
    lens = np.array([1, 2, 3, 1, 6, 7, 12, 2, 5, 1], np.int64)
    starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
    n = int(lens.sum())
    reliability = np.array([0.95, 0.8, 0.6, 0.4, 0.2])
    weight = rng.choice([-1.5, 1.0, 2.0, 3.0], len(lens))
    none = np.zeros(len(lens), np.int64)
    chosen = _Chosen(np.arange(n), rng.integers(0, 10**12, n), rng.integers(0, 5, n),
                     reliability, starts,
                     _Stories(np.arange(len(lens)), np.zeros(0), weight, none, none, none))
    chosen.rebase(10**12, 7 * 86400.0)
    a0 = chosen.strength
    expected = {}
    for factor in (None, 0.9999, 0.997, 0.5):
        f = 1.0 if factor is None else factor
        expected[factor] = sum(w * (1 - np.prod(1 - a0[s:s + k] * f))
                               for w, s, k in zip(weight, starts, lens, strict=True))
        assert math.isclose(chosen.total(factor), expected[factor], rel_tol=1e-13)
    chosen.compact()
    assert chosen.compacted and len(chosen.rel) == 12 + 7  # the two large stories' reports
    for factor, value in expected.items():
        assert math.isclose(chosen.total(factor), value, rel_tol=1e-13)
    # An hour on, the kept sums move with the decay: as a factor of 0.5 ** (1 h / 7 d).
    chosen.rebase(10**12 + 3600 * 10**6, 7 * 86400.0)
    g = 0.5 ** (3600 / (7 * 86400.0))
    moved = sum(w * (1 - np.prod(1 - a0[s:s + k] * g))
                for w, s, k in zip(weight, starts, lens, strict=True))
    assert math.isclose(chosen.total(None), moved, rel_tol=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_a_kept_ledger_scores_later_moments_as_a_fresh_one(seed: int) -> None:
    # Refreshes reuse what counted (the day and week before kept only as sums), across the
    # hour at which decays are taken afresh, and after hits came in.
    rng = random.Random(seed)
    evs, false = random_evidence(rng, CONFIG, 300, 120)
    evs.sort(key=lambda ev: ev.when)
    now = START + timedelta(days=119, minutes=50)
    ledger = ledger_of(CONFIG, evs[:-5], false)
    ledger.views(now)
    assert any(c.compacted for c in ledger._chosen.values())
    later = now + timedelta(minutes=15, seconds=7)
    assert_same_views(reference_views(CONFIG, evs[:-5], later, false), ledger.views(later))
    ledger.add_evidence(evs[-5:])
    latest = later + timedelta(hours=2)
    assert_same_views(reference_views(CONFIG, evs, latest, false), ledger.views(latest))
    # A moment kept only as sums gives its stories when they are asked for.
    day = latest - timedelta(days=1)
    ref = reference_views(CONFIG, evs, day, false)
    for s in CONFIG.scenarios:
        got, want = ledger.score(s.id, day).stories, ref[s.id].score.stories
        assert len(got) == len(want)
        for lo, hi in tied_runs(want):
            assert sorted(map(_story_key, got[lo:hi])) == sorted(map(_story_key, want[lo:hi]))


def crowds_one_by_one(batches: list[list[tuple[int, int]]]
                      ) -> list[tuple[set[int], set[int]]]:
    """Per batch of (entry, story): the entries then in a story of two entries or more, and
    the earlier entries that were alone in their story until the batch came, one at a time."""
    lone: dict[int, int] = {}
    crowded: set[int] = set()
    out = []
    for batch in batches:
        new = {pk for pk, _ in batch}
        now: set[int] = set()
        retro: set[int] = set()
        for pk, story in batch:
            if story in crowded:
                now.add(pk)
                continue
            other = lone.get(story)
            if other is None:
                lone[story] = pk
            elif other != pk:
                crowded.add(story)
                del lone[story]
                now.add(pk)
                (now if other in new else retro).add(other)
        out.append((now, retro))
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=13, max_size=13),
       st.lists(st.lists(st.integers(0, 12), max_size=8), max_size=5))
def test_crowded_stories_are_found_as_one_entry_at_a_time_finds_them(
        story_of: list[int], entries: list[list[int]]) -> None:
    # An entry is in one story (an entry moved to another has its hits read again).
    batches = [[(pk, story_of[pk]) for pk in batch] for batch in entries]
    crowds = _Crowds()
    for (now, retro), batch in zip(crowds_one_by_one(batches), batches, strict=True):
        pks = np.array([pk for pk, _ in batch], np.int64)
        in_crowd, found = crowds.add(pks, np.array([s for _, s in batch], np.int64))
        assert {int(pk) for pk in pks[in_crowd]} == now
        assert set(found.tolist()) == retro


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_one_ledger_scored_moment_after_moment_gives_the_reference_views_at_each(
        seed: int) -> None:
    # A selection made at one moment serves the next ones only while no hit time lies
    # between them and no hit crosses the horizon: moments at, just before and just after
    # hit times and their horizons (10 half-lives of a scenario's), up and down, on one
    # ledger in turn.
    rng = random.Random(seed)
    evs, false = random_evidence(rng, CONFIG, 120, 300)
    ledger = ledger_of(CONFIG, evs, false)
    tick = timedelta(microseconds=1)
    moments = [START + timedelta(days=299)]
    for ev in rng.sample(evs, 3):
        horizon = timedelta(days=rng.choice((10, 14, 21, 30)) * scoring.HORIZON_HALF_LIVES)
        w, h = ev.when, ev.when + horizon
        moments += [w - tick, w, w + tick, w, w - tick, h + tick, h, h - tick, h]
    moments += [moments[0] + timedelta(seconds=5), moments[0]]
    for now in moments:
        assert_same_views(reference_views(CONFIG, evs, now, false), ledger.views(now))


def test_a_rounding_edge_found_near_the_last_one_is_the_kth_smallest() -> None:
    # A refresh looks for the k-th smallest remainder between the values around the last
    # refresh's edge: the answer is the k-th smallest whether the remainders barely moved,
    # jumped away from the band, or the band is no longer wide enough.
    rng = np.random.default_rng(7)
    table = StoryTable.__new__(StoryTable)
    table.scenario = "s"
    table.ledger = type("Ledger", (), {"_edge_hints": {}})()
    key = rng.random(5000)
    misses = 0
    for step in range(60):
        # Every tenth step a poll that moves everything; otherwise the remainders drift.
        jump = step % 10 == 9
        key = rng.random(5000) * 3 - 1 if jump else key + rng.normal(0, 1e-4, len(key))
        k = int(rng.integers(1, len(key) + 1))
        before = table.ledger._edge_hints.get(("s", 1, True))
        assert table._kth(key, k, (1, True)) == np.sort(key)[k - 1]
        after = table.ledger._edge_hints[("s", 1, True)]
        misses += before is not None and after[2] > before[2]
    assert misses >= 5
