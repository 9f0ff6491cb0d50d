"""Analyst feedback: hits marked false in the store, kept across re-matching, and what
`monitor feedback` does to the scores."""

from __future__ import annotations

import getpass
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from test_scores_cli import AT, FEEDS, RULES, base, rss  # noqa: F401 (`base` is a fixture)

from monitor.cli import main
from monitor.errors import StoreError
from monitor.model import Hit
from monitor.store import Feedback, IndicatorStats, Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def explain(capsys: pytest.CaptureFixture[str], base: list[str], scenario: str
            ) -> dict[str, object]:
    assert main([*base, "explain", scenario, "--json", "--at", AT]) == 0
    shown: dict[str, object] = json.loads(capsys.readouterr().out)
    return shown


def feedback(capsys: pytest.CaptureFixture[str], base: list[str], *args: str
             ) -> tuple[int, str, str]:
    code = main([*base, "feedback", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the store ---------------------------------------------------------------------------------


def test_marks_are_kept_per_entry_and_indicator_and_can_be_withdrawn(
    base: list[str], db_url: str
) -> None:
    with Store.open(db_url) as store:
        assert store.false_hits() == frozenset()
        store.mark_false(2, "elite-resignation", "a British minister", "ana", NOW)
        store.mark_false(4, "elite-resignation", "", "ben", NOW)
        store.mark_false(2, "elite-resignation", "a UK minister, not Russian", "cy", NOW)
        assert store.false_hits() == {(2, "elite-resignation"), (4, "elite-resignation")}
        assert store.feedback() == [
            Feedback(2, "elite-resignation", "false", "a UK minister, not Russian", "cy", NOW),
            Feedback(4, "elite-resignation", "false", "", "ben", NOW),
        ]
        assert store.unmark(4, "elite-resignation") is True
        assert store.unmark(4, "elite-resignation") is False
        assert store.false_hits() == {(2, "elite-resignation")}


def test_a_handle_kept_open_sees_every_change_of_verdicts_however_written(
    base: list[str], db_url: str
) -> None:
    # A dashboard asks at every refresh and reads the verdicts again only when they changed:
    # marks and withdrawals through another handle, and a row written without counting (an
    # older monitor, a hand edit), still show at once.
    with Store.open(db_url) as kept, Store.open(db_url) as other:
        assert kept.false_hits() == frozenset()
        other.mark_false(2, "elite-resignation", "", "ana", NOW)
        assert kept.false_hits() == {(2, "elite-resignation")}
        assert kept.false_hits() is kept.false_hits()  # unchanged: not read again
        other.unmark(2, "elite-resignation")
        other.mark_false(4, "elite-resignation", "", "ben", NOW)
        assert kept.false_hits() == {(4, "elite-resignation")}
        engine = sqlalchemy.create_engine(db_url)
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "INSERT INTO feedback (entry_pk, indicator, verdict, note, who, at) "
                "VALUES (2, 'elite-resignation', 'false', '', 'cy', '2026-03-01 12:00:00')"))
        engine.dispose()
        assert kept.false_hits() == {(2, "elite-resignation"), (4, "elite-resignation")}


def test_marking_an_unknown_entry_is_refused(base: list[str], db_url: str) -> None:
    with Store.open(db_url) as store:
        with pytest.raises(StoreError) as caught:
            store.mark_false(99, "elite-resignation", "", "ana", NOW)
        assert str(caught.value) == f"The database at {store.url} has no entry 99."
        assert store.false_hits() == frozenset()


def test_marks_survive_replacing_the_hits(base: list[str], db_url: str) -> None:
    with Store.open(db_url) as store:
        store.mark_false(2, "elite-resignation", "", "ana", NOW)
        store.replace_hits([(2, [])], "other-rules")
        assert store.false_hits() == {(2, "elite-resignation")}
        assert store.indicator_stats()["elite-resignation"] == IndicatorStats(1, 0)
        store.replace_hits([(2, [Hit("elite-resignation", ("resigns",))])], "other-rules")
        assert store.indicator_stats()["elite-resignation"] == IndicatorStats(2, 1)
        assert store.indicator_stats("other-rules") == {
            "elite-resignation": IndicatorStats(1, 1)}


def test_a_database_made_before_feedback_existed_gains_the_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store.open(url).close()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP TABLE feedback"))
    engine.dispose()
    with Store.open(url) as store:
        assert store.false_hits() == frozenset()


def test_precision_is_none_without_hits() -> None:
    assert IndicatorStats(0, 0).precision is None
    assert IndicatorStats(4, 1).precision == 0.75


# --- the command -------------------------------------------------------------------------------


def test_marking_a_hit_false_takes_away_exactly_its_story_and_undo_restores_it(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = explain(capsys, base, "elite-fracture")
    stories = before["stories"]
    assert isinstance(stories, list)
    kept, dropped = stories
    assert dropped["reports"][0]["entry"] == 4
    code, out, _ = feedback(capsys, base, "4", "elite-resignation", "--false",
                            "--note", "a reshuffle, not a resignation")
    assert (code, out) == (0, "Marked entry 4's hit for elite-resignation false: scores leave "
                              "it out from now on.\n")
    after = explain(capsys, base, "elite-fracture")
    assert after["stories"] == [kept | {"points": after["level"]}]
    lost = float(before["evidence"]) - float(after["evidence"])  # type: ignore[arg-type]
    assert lost == pytest.approx(dropped["evidence"], abs=1e-4)
    assert after["level"] == round(100 * -math.expm1(-kept["evidence"] / 6), 1)

    code, out, _ = feedback(capsys, base, "4", "elite-resignation", "--false", "--undo")
    assert (code, out) == (0, "Entry 4's hit for elite-resignation counts again.\n")
    assert explain(capsys, base, "elite-fracture") == before


def test_marking_a_scenarios_only_story_false_takes_it_to_zero(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert explain(capsys, base, "economic-crisis")["level"] == 12.2
    # Entry 3 is a copy of entry 1: marking the counted report false lets the copy stand in.
    assert feedback(capsys, base, "1", "key-rate-change", "--false")[0] == 0
    shown = explain(capsys, base, "economic-crisis")
    stories = shown["stories"]
    assert isinstance(stories, list)
    assert [r["entry"] for s in stories for r in s["reports"]] == [3]
    assert feedback(capsys, base, "3", "key-rate-change", "--false")[0] == 0
    assert explain(capsys, base, "economic-crisis") == {
        "scenario": "economic-crisis", "title": "Economic crisis",
        "at": "2024-10-26T00:00:00+00:00", "level": 0.0, "evidence": 0.0, "scale": 6.0,
        "stories": []}


def test_feedback_survives_a_rematch_with_changed_rules(
    base: list[str], tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert feedback(capsys, base, "4", "elite-resignation", "--false")[0] == 0
    marked = explain(capsys, base, "elite-fracture")
    rules = tmp_path / "indicators.yaml"
    # A stricter rule first drops entry 4's hit, then a looser one brings it back.
    rules.write_text(RULES.replace("[[resign*], [minister*]]", "[[resign*], [Deputy]]"),
                     encoding="utf-8")
    assert explain(capsys, base, "elite-fracture")["level"] == marked["level"]
    rules.write_text(RULES.replace("[[resign*], [minister*]]", "[[resign*]]"), encoding="utf-8")
    assert explain(capsys, base, "elite-fracture") == marked
    with Store.open(db_url) as store:
        assert store.false_hits() == {(4, "elite-resignation")}
        assert [(f.note, f.who) for f in store.feedback()] == [("", getpass.getuser())]
        assert [h.entry_pk for h in store.hits_since(datetime(2024, 1, 1, tzinfo=UTC))
                if h.hit.indicator == "elite-resignation"] == [4, 2]


def test_unknown_entry_or_indicator_or_missing_hit_is_exit_1_with_a_sentence(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = feedback(capsys, base, "99", "elite-resignation", "--false")
    assert (code, out) == (1, "")
    assert err.startswith("monitor: There is no entry 99 in the database at ")
    assert err.endswith("; `monitor explain SCENARIO` shows entry numbers.\n")
    assert feedback(capsys, base, "4", "elite-resign", "--false") == (
        1, "", f"monitor: There is no indicator 'elite-resign' in {base[3]}; "
               "did you mean 'elite-resignation'?\n")
    assert feedback(capsys, base, "1", "elite-resignation", "--false") == (
        1, "", "monitor: Entry 1 has no hit for elite-resignation under the current rules, "
               "so there is nothing to mark false.\n")
    assert feedback(capsys, base, "1", "key-rate-change", "--undo") == (
        1, "", "monitor: Entry 1's hit for key-rate-change is not marked false, so there is "
               "nothing to undo.\n")
    code, _, err = feedback(capsys, base, "1", "key-rate-change")
    assert (code, err) == (2, "monitor: say --false to mark the hit false, or --undo to "
                              "withdraw the mark (see `monitor feedback --help`)\n")
