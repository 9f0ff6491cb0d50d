"""The `monitor` command: the JSON contract of `match`, its readable listing, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main

RULES = """\
version: 1
scenarios:
  - {id: economic-crisis, title: Economic crisis, question: Is the economy breaking}
  - {id: elite-fracture, title: Elite fracture, question: Is the elite splitting}
indicators:
  - id: key-rate-change
    title: Bank of Russia key-rate decision
    weight: {economic-crisis: 1}
    match: {all: [["Bank of Russia", "Банк России"], ["key rate", "ключев* ставк*"]]}
    value: {near: ["key rate", "ключев* ставк*"], within: 8}
    labels: {hike: [rais*, повысил*], cut: [cut*, снизил*]}
  - id: elite-resignation
    title: Senior Russian official resigns
    weight: {elite-fracture: 3}
    match: {all: [[resign*, отставк*], [minister*, министр*]], not: [British]}
"""

RSS = """\
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link>
<description>d</description>
<item><title>Bank of Russia raises key rate to 21%</title><guid>a-1</guid>
<link>https://example.org/a-1</link><pubDate>Fri, 25 Oct 2024 10:30:00 +0000</pubDate>
<description>&lt;p&gt;The &lt;b&gt;highest&lt;/b&gt; since 2003.&lt;/p&gt;</description></item>
<item><title>Weather: snow in Moscow</title><link>https://example.org/a-2</link></item>
</channel></rss>
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(list(args)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_match_json_prints_one_object_per_feed_item_hits_or_not(
    tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    assert run_json(capsys, "--indicators", str(rules), "match", str(feed), "--json") == [
        {"id": "a-1", "title": "Bank of Russia raises key rate to 21%",
         "published": "2024-10-25T10:30:00+00:00",
         "hits": [{"indicator": "key-rate-change", "terms": ["Bank of Russia", "key rate"],
                   "value": 21.0, "label": "hike"}]},
        {"id": "https://example.org/a-2", "title": "Weather: snow in Moscow", "published": None,
         "hits": []},
    ]


def test_match_json_reads_jsonl_items(
    tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.jsonl"
    lines = [
        {"id": "r1", "title": "Министр подал в отставку", "summary": "", "published": None},
        {"id": "r2", "title": "British minister resigns", "summary": "<b>London</b>",
         "published": "2024-07-05T09:00:00Z"},
        {"id": "r3", "title": "Банк России снизил ключевую ставку до 16,5%",
         "summary": "Регулятор", "published": "2025-10-24"},
    ]
    items.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                     encoding="utf-8")
    out = run_json(capsys, "--indicators", str(rules), "match", "--json", str(items))
    assert [(o["id"], o["hits"]) for o in out] == [
        ("r1", [{"indicator": "elite-resignation", "terms": ["Министр", "отставку"],
                 "value": None, "label": None}]),
        ("r2", []),
        ("r3", [{"indicator": "key-rate-change", "terms": ["Банк России", "ключевую ставку"],
                 "value": 16.5, "label": "cut"}]),
    ]
    assert out[1]["published"] == "2024-07-05T09:00:00+00:00"


def test_match_lists_items_readably_with_the_matched_words(
    tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    assert main(["--indicators", str(rules), "match", str(feed)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2024-10-25  Bank of Russia raises key rate to 21%",
        "            -> key-rate-change value=21 label=hike: Bank of Russia, key rate",
        "    -       Weather: snow in Moscow",
    ]


def test_match_on_a_missing_file_says_so_and_goes_on(
    tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(RSS, encoding="utf-8")
    assert main(["--indicators", str(rules), "match", "--json", str(tmp_path / "nope.xml"),
                 str(feed)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert "nope.xml" in captured.err


def test_match_with_invalid_rules_exits_1_with_located_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "indicators.yaml"
    bad.write_text(RULES.replace("weight: {elite-fracture: 3}", "weight: {elite-fractur: 3}"),
                   encoding="utf-8")
    assert main(["--indicators", str(bad), "match", str(bad)]) == 1
    assert "indicators.yaml:14:14: weight names unknown scenario `elite-fractur`" in (
        capsys.readouterr().err)


def test_python_dash_m_monitor_is_the_command(rules: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "monitor", "--indicators", str(rules), "check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("ok\n")


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "check" in capsys.readouterr().out


def test_check_warns_about_an_indicator_that_cannot_tell_scenarios_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES.replace("weight: {elite-fracture: 3}",
                                  "weight: {elite-fracture: 1, economic-crisis: 1}"),
                    encoding="utf-8")
    assert main(["--indicators", str(path), "check"]) == 0
    assert ("warning: `elite-resignation` weighs +1 on each of economic-crisis, elite-fracture: "
            "it cannot tell them apart") in capsys.readouterr().out
