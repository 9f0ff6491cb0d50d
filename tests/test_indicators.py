"""Validation of indicators.yaml: every mistake an analyst can make, located and explained."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import ConfigError
from monitor.indicators import parse_duration
from monitor.rules import load

DATA = Path(__file__).parent / "data"

HEADER = """\
version: 1
scenarios:
  - {id: s, title: S, question: Q}
indicators:
"""


def problems_in(tmp_path: Path, text: str) -> list[str]:
    """The `file:line:col: message` lines `load` reports for a file with `text`."""
    path = tmp_path / "indicators.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(path)
    return [str(p).replace(str(path), "indicators.yaml") for p in caught.value.problems]


def indicator_problems(tmp_path: Path, body: str) -> list[str]:
    return problems_in(tmp_path, HEADER + textwrap.indent(textwrap.dedent(body), "  "))


def test_ten_different_mistakes_give_ten_located_lines_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA / "invalid")
    assert main(["--indicators", "ten-mistakes.yaml", "check"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "ten-mistakes.yaml:5:61: reliability must be a grade from A to F, got 'G'",
        "ten-mistakes.yaml:10:9: duplicate scenario id `elite-fracture` (first defined at line "
        "7); give each scenario its own id",
        "ten-mistakes.yaml:16:5: unknown key `wieght`; did you mean `weight`?",
        "ten-mistakes.yaml:20:14: weight names unknown scenario `elite-fractur`; did you mean "
        "`elite-fracture`?",
        "ten-mistakes.yaml:21:32: unknown list `$elit`; did you mean `$elite`?",
        "ten-mistakes.yaml:25:13: invalid regular expression `leak(ed`: missing ), unterminated "
        "subpattern at position 4; check brackets and escape special characters with \\",
        "ten-mistakes.yaml:29:18: empty `any:` clause; give it at least one term or remove it",
        "ten-mistakes.yaml:33:28: `within` must be a whole number of words (1 or more), got "
        "'five'",
        'ten-mistakes.yaml:40:9: example "Kremlin critic arrested in London" should not match '
        "`arrest` but does, on: Kremlin, arrested; add a `not:` or narrow the terms",
        "ten-mistakes.yaml:44:13: unknown key `anyy` in a clause; did you mean `any`? a clause "
        "takes any, all, not, near and in",
        "ten-mistakes.yaml:45:9: duplicate indicator id `mutiny` (first defined at line 41); "
        "give each indicator its own id",
        "monitor: 11 problems found; fix them and run `monitor check` again",
    ]


def test_a_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "version: 1\nscenarios: [\n  - id: x\n") == [
        "indicators.yaml:3:3: YAML syntax error: did not find expected node content; check "
        "indentation, colons and quotes on this line"
    ]


def test_a_control_character_is_located(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "version: 1\nlists:\n  a: [x\x08]\n") == [
        "indicators.yaml:3:8: the file holds a control character YAML does not allow (U+0008); "
        "delete it"
    ]


def test_a_clause_inside_a_list_is_one_problem_and_other_lists_still_work(
    tmp_path: Path,
) -> None:
    text = ("version: 1\nlists:\n  a: [x, {near: 1}]\n  b: [w]\n" + HEADER.removeprefix(
        "version: 1\n") + "  - {id: x, title: X, weight: {s: 1}, match: [$a, $b]}\n"
            "  - {id: y, title: Y, weight: {s: 1}, match: [$a]}\n")
    assert problems_in(tmp_path, text) == [
        "indicators.yaml:3:10: list `a` holds {'near': 1}; a list holds terms (text)"
    ]


def test_a_duplicate_key_is_reported(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "version: 1\nlists: {}\nlists: {}\n") == [
        "indicators.yaml:3:1: duplicate key `lists` (first at line 2); keep one of them"
    ]


def test_an_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "version: 1\nscenarious: []\n") == [
        "indicators.yaml:2:1: unknown key `scenarious`; did you mean `scenarios`?"
    ]


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nope.yaml")
    assert str(caught.value).endswith(
        "nope.yaml:1:1: file not found; pass --indicators PATH or set MONITOR_INDICATORS"
    )


def test_a_missing_field_names_it(tmp_path: Path) -> None:
    assert indicator_problems(tmp_path, "- {id: x, weight: {s: 1}, match: [a]}\n") == [
        "indicators.yaml:5:5: missing `title` in this indicator: add `title: ...`"
    ]


def test_an_id_must_be_a_slug(tmp_path: Path) -> None:
    assert indicator_problems(tmp_path, "- {id: Elite Fracture, title: X, weight: {s: 1}, "
                              "match: [a]}\n") == [
        "indicators.yaml:5:10: `id` must be lower-case letters, digits and dashes (like "
        "elite-fracture), got 'Elite Fracture'"
    ]


def test_a_weight_must_be_a_number(tmp_path: Path) -> None:
    assert indicator_problems(tmp_path, "- {id: x, title: X, weight: {s: high}, match: [a]}\n") == [
        "indicators.yaml:5:35: `s` must be a number, got 'high'"
    ]


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("['resi*gn']", "5:47: term `resi*gn`: a `*` may only end a word (like resign*) or stand "
                        "alone for one word in a phrase (like \"relieved of * post\")"),
        ("['a*']", "5:47: prefix `a*` is too short and would match almost anything; give it at "
                   "least 2 letters"),
        ("['* down']", "5:47: phrase `* down` cannot start or end with `*`; a `*` stands for one "
                       "word between two others"),
        ("['--']", "5:47: term `--` has no letters or digits to match"),
        ("['re:x*']", "5:47: regular expression `x*` matches empty text, so it would match every "
                      "item; make it require at least one character"),
        ("{not: [British]}", "5:46: a rule made only of `not` would match almost every item; say "
                             "what must be present with `any:` or `all:`"),
        ("{in: body, any: [a]}", "5:51: `in: body` is not a part of an item; use `in: title` or "
                                 "`in: summary`"),
        ("{near: {within: 3, terms: [a]}}", "5:72: `near` needs `terms:` with at least two "
                                            "entries to bring together"),
        ("{near: [a, b]}", "5:53: `near` takes `within: N` (words) and `terms: [A, B]`, e.g. near: "
                           "{within: 5, terms: [sacked, $russian-elite]}"),
        ("[]", "5:46: empty list of terms matches nothing; add terms or remove it"),
        ("{}", "5:46: empty clause; give it `any:`, `all:` or `near:`"),
        ("[42]", "5:47: expected a term, a list of terms or a clause (any/all/not/near), got 42"),
    ],
)
def test_clause_mistakes_are_explained(tmp_path: Path, match: str, message: str) -> None:
    body = f"- {{id: x, title: X, weight: {{s: 1}}, match: {match}}}\n"
    assert indicator_problems(tmp_path, body) == [f"indicators.yaml:{message}"]


def test_a_list_that_includes_itself_is_a_cycle(tmp_path: Path) -> None:
    text = "version: 1\nlists:\n  a: [$b]\n  b: [$a]\n" + HEADER.removeprefix("version: 1\n")
    text += "  - {id: x, title: X, weight: {s: 1}, match: [$a]}\n"
    assert problems_in(tmp_path, text) == [
        "indicators.yaml:4:7: list `$a` includes itself (through $a -> $b -> $a); break the cycle"
    ]


def test_an_empty_list_is_reported(tmp_path: Path) -> None:
    text = "version: 1\nlists:\n  a: []\n"
    assert problems_in(tmp_path, text) == [
        "indicators.yaml:3:6: list `a` is empty; give it at least one term or remove it"
    ]


def test_failing_examples_quote_the_item_and_what_matched(tmp_path: Path) -> None:
    body = """\
    - id: x
      title: X
      weight: {s: 1}
      match: {all: [[resign*], [minister*]]}
      value: {near: [rate], within: 5}
      labels: {up: [rais*]}
      examples:
        - match: "Minister speaks"
        - match: "Minister resigns; rate 5%"
          value: 6
        - match: "Minister resigns"
          label: up
    """
    assert indicator_problems(tmp_path, body) == [
        'indicators.yaml:12:9: example "Minister speaks" should match `x` but does not (found '
        "only: Minister); widen the rule or fix the example",
        'indicators.yaml:13:9: example "Minister resigns; rate 5%" should extract 6 but extracts 5',
        'indicators.yaml:15:9: example "Minister resigns" should get label `up` but gets no label',
    ]


def test_conditions_and_examples_must_name_defined_labels(tmp_path: Path) -> None:
    body = """\
    - id: x
      title: X
      weight: {s: 1}
      match: [rate]
      labels: {hike: [rais*]}
      conditions:
        - {when: {label: hkie}, weight: {s: 2}}
      examples:
        - {match: "rate raised", label: cut}
    """
    assert indicator_problems(tmp_path, body) == [
        "indicators.yaml:11:24: condition names unknown label `hkie` (labels of this indicator: "
        "`hike`)",
        "indicators.yaml:13:39: example expects unknown label `cut`",
    ]


def test_feed_mistakes(tmp_path: Path) -> None:
    text = """\
    version: 1
    feeds:
      - {id: a, url: "ftp://example.org/feed"}
      - {id: b}
      - {id: c, url: "https://example.org/rss", every: soon}
    """
    assert problems_in(tmp_path, text) == [
        "indicators.yaml:3:18: url 'ftp://example.org/feed' must start with http:// or https://",
        "indicators.yaml:4:5: a feed needs exactly one of `url`, `path` or `opml`",
        "indicators.yaml:5:52: `every`: 'soon' is not a duration; write e.g. 15m, 2h or 7d",
    ]


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("14d", 1209600), ("1h30m", 5400), (600, 600)],
)
def test_durations(written: str | int, seconds: int) -> None:
    assert parse_duration(written) == seconds


def test_check_summarises_a_valid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(HEADER + "  - id: x\n    title: X\n    weight: {s: 2}\n    match: [a1]\n"
                    "    examples: [{match: a1}, {no_match: b1}]\n", encoding="utf-8")
    assert main(["--indicators", str(path), "check"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: 1 scenarios, 1 indicators, 0 lists, 0 feeds",
        "examples: 2 passed",
        "  s  x +2",
        "ok",
    ]


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_an_opml_file_brings_in_its_feeds(tmp_path: Path) -> None:
    (tmp_path / "mine.opml").write_text(
        """<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
        <outline text="Russia"><outline text="Meduza in English" type="rss"
          xmlUrl="https://meduza.io/rss/en/all"/>
        <outline title="Local file" xmlUrl="file:///etc/passwd"/>
        <outline text="Meduza in English" xmlUrl="https://example.org/other.xml"/></outline>
        </body></opml>""",
        encoding="utf-8",
    )
    path = tmp_path / "indicators.yaml"
    path.write_text("version: 1\nfeeds:\n  - {opml: mine.opml, reliability: B}\n"
                    "  - {id: wire, url: 'https://example.org/rss'}\n", encoding="utf-8")
    feeds = load(path).rules.config.feeds
    assert [(f.id, f.url, f.reliability) for f in feeds] == [
        ("meduza-in-english", "https://meduza.io/rss/en/all", "B"),
        ("meduza-in-english-2", "https://example.org/other.xml", "B"),
        ("wire", "https://example.org/rss", None),
    ]


def test_a_missing_opml_file_is_a_located_problem(tmp_path: Path) -> None:
    assert problems_in(tmp_path, "version: 1\nfeeds:\n  - {opml: gone.opml}\n") == [
        "indicators.yaml:3:12: cannot read OPML file gone.opml: no such file or directory"
    ]
