"""Score history in the store (`score_snapshot`), and the fast evidence path that fills it:
one narrow query, views per scenario, snapshot rows."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from test_scores_cli import AT, base  # noqa: F401 (`base` is a fixture)

from monitor import evidence, scoring
from monitor.indicators import Config
from monitor.rules import load
from monitor.store import Snapshot, Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


def test_snapshots_read_back_by_scenario_then_time(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert store.snapshots() == []
        assert store.save_snapshots([("elite-fracture", 46.9, 3.8, True),
                                     ("economic-crisis", 12.2, 0.78, False)], T1) == 2
        assert store.save_snapshots([("elite-fracture", 40.0, 3.1, False)], T0) == 1
        assert store.save_snapshots([], T2) == 0
        assert store.snapshots() == [
            Snapshot("economic-crisis", T1, 12.2, 0.78, False),
            Snapshot("elite-fracture", T0, 40.0, 3.1, False),
            Snapshot("elite-fracture", T1, 46.9, 3.8, True),
        ]
        assert store.snapshots("elite-fracture", since=T1) == [
            Snapshot("elite-fracture", T1, 46.9, 3.8, True)]
        assert store.snapshots(until=T1) == [Snapshot("elite-fracture", T0, 40.0, 3.1, False)]
        assert store.snapshots("palace-coup") == []


def test_saving_again_at_the_same_moment_overwrites(db_url: str) -> None:
    with Store.open(db_url) as store:
        store.save_snapshots([("elite-fracture", 46.9, 3.8, True)], T0)
        store.save_snapshots([("elite-fracture", 30.5, 2.1, False),
                              ("palace-coup", 5.0, 0.3, False)], T0)
        assert store.snapshots() == [
            Snapshot("elite-fracture", T0, 30.5, 2.1, False),
            Snapshot("palace-coup", T0, 5.0, 0.3, False),
        ]


def test_times_in_other_zones_are_the_same_moment_and_naive_ones_are_refused(
    db_url: str,
) -> None:
    plus_three = T0.astimezone(datetime.fromisoformat("2026-01-01T00:00+03:00").tzinfo)
    with Store.open(db_url) as store:
        store.save_snapshots([("elite-fracture", 1.0, 0.1, False)], T0)
        store.save_snapshots([("elite-fracture", 2.0, 0.2, False)], plus_three)
        assert store.snapshots() == [Snapshot("elite-fracture", T0, 2.0, 0.2, False)]
        assert store.snapshots()[0].at.tzinfo == UTC
        with pytest.raises(ValueError, match="timezone-aware"):
            store.save_snapshots([("elite-fracture", 1.0, 0.1, False)], T0.replace(tzinfo=None))


def test_last_alerts_are_each_scenarios_latest_state(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert store.last_alerts() == {}
        store.save_snapshots([("elite-fracture", 70.0, 7.2, True),
                              ("palace-coup", 65.0, 6.3, True)], T0)
        store.save_snapshots([("elite-fracture", 55.0, 4.8, False)], T2)
        # Saved later but dated earlier: not the latest state.
        store.save_snapshots([("palace-coup", 10.0, 0.6, False)], T0 - timedelta(days=1))
        assert store.last_alerts() == {"elite-fracture": False, "palace-coup": True}


def test_latest_snapshots_are_each_scenarios_latest_reading_up_to_a_moment(db_url: str
                                                                           ) -> None:
    with Store.open(db_url) as store:
        assert store.latest_snapshots(["elite-fracture"]) == {}
        store.save_snapshots([("elite-fracture", 40.0, 3.1, False),
                              ("palace-coup", 5.0, 0.3, False)], T0)
        store.save_snapshots([("elite-fracture", 46.9, 3.8, True)], T2)
        assert store.latest_snapshots(["elite-fracture", "palace-coup", "absent"]) == {
            "elite-fracture": Snapshot("elite-fracture", T2, 46.9, 3.8, True),
            "palace-coup": Snapshot("palace-coup", T0, 5.0, 0.3, False),
        }
        # At or before the moment: T1 falls between the two readings, T0 is one of them.
        assert store.latest_snapshots(["elite-fracture"], T1) == {
            "elite-fracture": Snapshot("elite-fracture", T0, 40.0, 3.1, False)}
        assert store.latest_snapshots(["elite-fracture"], T0) == {
            "elite-fracture": Snapshot("elite-fracture", T0, 40.0, 3.1, False)}
        assert store.latest_snapshots(["elite-fracture"], T0 - timedelta(seconds=1)) == {}


def test_a_database_made_before_snapshots_existed_gains_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store.open(url).close()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE score_snapshot"))
    engine.dispose()
    with Store.open(url) as store:
        assert store.snapshots() == []
        store.save_snapshots([("elite-fracture", 1.0, 0.1, False)], T0)
        assert store.last_alerts() == {"elite-fracture": False}


# --- the fast evidence path ----------------------------------------------------------------


def polled(base: list[str]) -> tuple[Config, Store]:
    """The fixture's rules and its store (`base` is --db URL --indicators PATH)."""
    rules = load(Path(base[3]), examples=False).rules
    return rules.config, Store.open(base[1])


def test_the_narrow_query_gives_the_same_evidence_as_hits_and_entries(base: list[str]) -> None:
    config, store = polled(base)
    now = datetime.fromisoformat(AT).replace(tzinfo=UTC)
    with store:
        slow, fast = evidence.gather(store, config, now), evidence.gather_scored(store, config, now)
        store.mark_false(4, "elite-resignation", "", "ana", now)
        marked = evidence.gather_scored(store, config, now)
    assert fast == slow
    assert [(e.entry, e.indicator, e.source, e.cluster) for e in fast.evidence] == [
        (4, "elite-resignation", "wire-b", 4),
        (2, "elite-resignation", "wire-a", 2),
        (1, "key-rate-change", "wire-a", 1),
        (3, "key-rate-change", "wire-b", 1),
    ]
    assert fast.evidence[2].version == fast.evidence[3].version  # one headline, copies
    assert marked.false_hits == {(4, "elite-resignation")}


def test_views_per_scenario_match_scoring_view_and_become_snapshot_rows(
    base: list[str],
) -> None:
    config, store = polled(base)
    now = datetime.fromisoformat(AT).replace(tzinfo=UTC)
    with store:
        got = evidence.gather_scored(store, config, now)
        shown = evidence.views(config, got, {"elite-fracture": True})
        settings = scoring.settings_for(config)
        assert shown == {
            s.id: scoring.view(s.id, got.evidence, config, now, settings, got.false_hits,
                               was_alert=s.id == "elite-fracture")
            for s in config.scenarios
        }
        rows = evidence.snapshot_rows(shown)
        assert [(sid, round(level, 1), alert) for sid, level, _, alert in rows] == [
            ("economic-crisis", 12.2, False), ("elite-fracture", 46.9, False)]
        assert gc.isenabled()  # paused while scoring, and back on after
        store.save_snapshots(rows, now)
        assert [(s.scenario, round(s.level, 1)) for s in store.snapshots()] == [
            ("economic-crisis", 12.2), ("elite-fracture", 46.9)]
        assert store.last_alerts() == {"economic-crisis": False, "elite-fracture": False}
