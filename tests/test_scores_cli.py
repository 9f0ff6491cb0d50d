"""`monitor scores`, `monitor explain` and `monitor indicators --stats` on a store filled by
`monitor poll` from local feed files: the numbers shown, and that the explanation adds up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from monitor.cli import main

RULES = """\
version: 1
defaults: {half_life: 14d}
feeds:
  - {id: wire-a, path: a.xml, reliability: B}
  - {id: wire-b, path: b.xml, reliability: C}
scenarios:
  - {id: economic-crisis, title: Economic crisis, question: Is the economy breaking}
  - {id: elite-fracture, title: Elite fracture, question: Is the elite splitting}
indicators:
  - id: key-rate-change
    title: Bank of Russia key-rate decision
    weight: {economic-crisis: 1}
    match: {all: [["Bank of Russia"], ["key rate"]]}
  - id: elite-resignation
    title: Senior Russian official resigns
    weight: {elite-fracture: 3}
    match: {all: [[resign*], [minister*]]}
"""

# wire-a is polled first, so its entries are 1 and 2 and wire-b's are 3 and 4. Entry 3
# repeats entry 1's headline: one story, a copy that adds nothing.
FEEDS = {
    "a.xml": [("a1", "Bank of Russia raises key rate to 21%", "Fri, 25 Oct 2024 10:30:00 +0000"),
              ("a2", "Deputy minister resigns over budget", "Thu, 24 Oct 2024 09:00:00 +0000")],
    "b.xml": [("b1", "Bank of Russia raises key rate to 21%", "Fri, 25 Oct 2024 11:00:00 +0000"),
              ("b2", "Energy minister resigns suddenly", "Wed, 23 Oct 2024 09:00:00 +0000")],
}
AT = "2024-10-26"


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<item><title>{t}</title><guid>{g}</guid><link>https://example.org/{g}</link>"
                   f"<pubDate>{d}</pubDate></item>" for g, t, d in items)
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            f"<link>https://example.org/</link><description>d</description>{body}"
            "</channel></rss>")


@pytest.fixture
def base(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The global options of a polled fixture: --db and --indicators."""
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES, encoding="utf-8")
    for name, items in FEEDS.items():
        (tmp_path / name).write_text(rss(items), encoding="utf-8")
    args = ["--db", db_url, "--indicators", str(rules)]
    assert main([*args, "poll", "wire-a"]) == 0
    assert main([*args, "poll", "wire-b"]) == 0
    capsys.readouterr()
    return args


def output(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    assert main(list(argv)) == code
    return capsys.readouterr().out


def test_scores_table_shows_level_changes_alert_surge_and_top_indicators(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert output(capsys, *base, "scores", "--at", AT) == (
        "scores at 2024-10-26 00:00 UTC\n"
        "scenario         level     24h      7d  alert  surge  top indicators\n"
        "economic-crisis   12.2   +12.2   +12.2  -      -      key-rate-change 12.2\n"
        "elite-fracture    46.9    -1.7   +46.9  -      -      elite-resignation 46.9\n"
    )


def test_scores_json_is_one_object_per_scenario_in_file_order(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = output(capsys, *base, "scores", "--json", "--at", AT).splitlines()
    assert [json.loads(line) for line in lines] == [
        {"scenario": "economic-crisis", "title": "Economic crisis",
         "at": "2024-10-26T00:00:00+00:00", "level": 12.2, "change_24h": 12.2,
         "change_7d": 12.2, "alert": False, "converged": True, "surges": [],
         "top": [{"indicator": "key-rate-change", "points": 12.2, "stories": 1}]},
        {"scenario": "elite-fracture", "title": "Elite fracture",
         "at": "2024-10-26T00:00:00+00:00", "level": 46.9, "change_24h": -1.7,
         "change_7d": 46.9, "alert": False, "converged": True, "surges": [],
         "top": [{"indicator": "elite-resignation", "points": 46.9, "stories": 2}]},
    ]


def test_scores_before_any_evidence_are_zero(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.loads(line) for line in
            output(capsys, *base, "scores", "--json", "--at", "2024-10-01T12:00").splitlines()]
    assert [(r["level"], r["change_24h"], r["top"]) for r in rows] == [(0.0, 0.0, [])] * 2


def test_explain_lists_stories_reports_and_copies_and_totals_the_level(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert output(capsys, *base, "explain", "economic-crisis", "--at", AT) == (
        "economic-crisis: Economic crisis\n"
        "level 12.2 at 2024-10-26 00:00 UTC from 1 story (evidence +0.778, scale 6)\n"
        "\n"
        "  12.2  key-rate-change  story 1  weight +1  strength 0.778  evidence +0.778\n"
        "        entry 1  wire-a  B 0.80  decay 0.973  2024-10-25 10:30  "
        "Bank of Russia raises key rate to 21%\n"
        "        added nothing: entry 3  wire-b  (copy of entry 1)  "
        "Bank of Russia raises key rate to 21%\n"
        "\n"
        "total 12.2 = 12.2\n"
    )
    text = output(capsys, *base, "explain", "elite-fracture", "--at", AT)
    assert text.splitlines()[-1] == "total 27.4 + 19.5 = 46.9"


def test_explain_points_add_up_exactly_to_the_level_shown(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for at in ("2024-10-24T12:00", "2024-10-25T12:00", AT, "2024-11-20"):
        for scenario in ("economic-crisis", "elite-fracture"):
            shown = json.loads(output(capsys, *base, "explain", scenario, "--json", "--at", at))
            points = [s["points"] for s in shown["stories"]]
            assert round(sum(points) * 10) == round(shown["level"] * 10), (scenario, at)
            # ... and the level is the model's curve of the evidence (shown to 4 places).
            assert abs(shown["level"] - 100 * -math.expm1(-shown["evidence"] / 6)) <= 0.051


def test_explain_json_carries_every_report_with_grade_decay_and_time(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    shown = json.loads(output(capsys, *base, "explain", "elite-fracture", "--json", "--at", AT))
    assert [(s["story"], s["points"], s["weight"], s["added_nothing"]) for s in shown["stories"]
            ] == [(2, 27.4, 3.0, []), (4, 19.5, 3.0, [])]
    assert shown["stories"][1]["reports"] == [
        {"entry": 4, "source": "wire-b", "grade": "C", "reliability": 0.6,
         "decay": round(0.5 ** (63 / (14 * 24)), 4), "when": "2024-10-23T09:00:00+00:00",
         "title": "Energy minister resigns suddenly"},
    ]


def test_an_unknown_scenario_is_a_usage_error_that_suggests_the_nearest(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*base, "explain", "elite-fracure"]) == 2
    err = capsys.readouterr().err
    assert err == (f"monitor: There is no scenario 'elite-fracure' in {base[3]}; "
                   "did you mean 'elite-fracture'?\n")


def test_a_malformed_at_is_a_usage_error(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*base, "scores", "--at", "yesterday"]) == 2
    assert "'yesterday' is not an ISO date or datetime" in capsys.readouterr().err


def test_indicator_stats_count_hits_false_marks_and_precision(
    base: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert output(capsys, *base, "feedback", "4", "elite-resignation", "--false").startswith(
        "Marked entry 4's hit for elite-resignation false")
    assert output(capsys, *base, "indicators", "--stats") == (
        "indicator           hits  false  precision\n"
        "key-rate-change        2      0       1.00\n"
        "elite-resignation      2      1       0.50\n"
    )
    rows = output(capsys, *base, "indicators", "--stats", "--json").splitlines()
    assert [json.loads(r) for r in rows] == [
        {"indicator": "key-rate-change", "hits": 2, "false": 0, "precision": 1.0},
        {"indicator": "elite-resignation", "hits": 2, "false": 1, "precision": 0.5},
    ]


def test_an_indicator_without_hits_has_no_precision(
    base: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES + """\
  - id: mobilisation
    title: New mobilisation wave
    weight: {economic-crisis: 1}
    match: [mobilisation]
""", encoding="utf-8")
    assert output(capsys, *base, "indicators", "--stats").splitlines()[-1] == (
        "mobilisation           0      0          -")


def test_live_scores_are_kept_as_history_and_what_if_scores_are_not(
    base: list[str], capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    from monitor.store import Store

    output(capsys, *base, "scores", "--at", AT)
    with Store.open(db_url) as store:
        assert store.snapshots() == []
    output(capsys, *base, "scores")
    output(capsys, *base, "scores", "--json")
    with Store.open(db_url) as store:
        scenarios = {s.scenario for s in store.snapshots()}
        assert len(store.snapshots()) == 2 * len(scenarios) > 0
        assert set(store.last_alerts()) == scenarios
