"""The indicator language: what each construct matches, exactly."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.model import Entry, Hit
from monitor.rules import Rules, load
from monitor.text import WORD, fold


def rules_for(tmp_path: Path, indicators: str, lists: str = "") -> Rules:
    """Rules from a YAML snippet of indicators (scenario `s` is defined for their weights)."""
    text = "version: 1\n"
    if lists:
        text += "lists:\n" + textwrap.indent(textwrap.dedent(lists), "  ")
    text += "scenarios:\n  - {id: s, title: S, question: Q}\nindicators:\n"
    text += textwrap.indent(textwrap.dedent(indicators), "  ")
    path = tmp_path / "indicators.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path).rules


def one(tmp_path: Path, match: str, lists: str = "", extra: str = "") -> Rules:
    body = f"- id: x\n  title: X\n  weight: {{s: 1}}\n  match: {match}\n{extra}"
    return rules_for(tmp_path, body, lists)


def hit_ids(rules: Rules, title: str, summary: str = "") -> list[str]:
    return [h.indicator for h in rules.match_text(title, summary)]


# --- terms ---------------------------------------------------------------------------------


def test_a_term_matches_whole_words_only(tmp_path: Path) -> None:
    rules = one(tmp_path, "[FSB]")
    assert hit_ids(rules, "FSB officers detained") == ["x"]
    assert hit_ids(rules, "The FSB's new chief") == ["x"]
    assert hit_ids(rules, "FSBX launches a product") == []
    assert hit_ids(rules, "AFSB annual meeting") == []


def test_terms_ignore_case_accents_yo_quotes_and_dashes(tmp_path: Path) -> None:
    rules = one(tmp_path, '[Café, "ёлка", "Kremlin’s line", "pro-Kremlin"]')
    assert hit_ids(rules, "CAFE reopens") == ["x"]
    assert hit_ids(rules, "Новогодняя Елка") == ["x"]
    assert hit_ids(rules, "The kremlin's line holds") == ["x"]
    assert hit_ids(rules, "A pro–Kremlin blogger") == ["x"]  # en dash in the text


def test_a_prefix_covers_russian_endings(tmp_path: Path) -> None:
    rules = one(tmp_path, "[отставк*]")
    for form in ("отставка", "отставки", "отставку", "отставкой", "отставке"):
        assert hit_ids(rules, f"Министр подал в {form}") == ["x"], form
    assert hit_ids(rules, "Представка") == []  # a prefix anchors at the start of a word


def test_a_prefix_covers_english_endings(tmp_path: Path) -> None:
    rules = one(tmp_path, "[resign*]")
    for form in ("resigns", "resigned", "resignation", "Resigning"):
        assert hit_ids(rules, f"Governor {form}") == ["x"], form
    assert hit_ids(rules, "Designs unveiled") == []


def test_a_phrase_matches_consecutive_words_across_punctuation(tmp_path: Path) -> None:
    rules = one(tmp_path, '["key rate"]')
    assert hit_ids(rules, "Bank raises its key rate") == ["x"]
    assert hit_ids(rules, "A key-rate decision") == ["x"]
    assert hit_ids(rules, "The key interest rate") == []
    assert hit_ids(rules, "rate key") == []


def test_a_star_in_a_phrase_stands_for_exactly_one_word(tmp_path: Path) -> None:
    rules = one(tmp_path, '["relieved of * post"]')
    assert hit_ids(rules, "General relieved of his post") == ["x"]
    assert hit_ids(rules, "General relieved of post") == []
    assert hit_ids(rules, "General relieved of his senior post") == []


def test_a_phrase_with_a_star_is_found_wherever_it_stands(tmp_path: Path) -> None:
    rules = one(tmp_path, '["of * of", "step* * on"]')
    # Overlapping occurrences, one at the very start, none across title and summary.
    assert hit_ids(rules, "Of a of b of c") == ["x"]
    assert hit_ids(rules, "Rid of", "it of course") == []
    [hit] = rules.match_text("Stepped aside on Friday; Steps down on Monday")
    assert hit.terms == ("Stepped aside on", "Steps down on")
    [hit] = rules.match_text("Of a of b of c")
    assert hit.terms == ("Of a of", "of b of")


def test_a_phrase_may_hold_prefixes(tmp_path: Path) -> None:
    rules = one(tmp_path, '["step* down", "ключев* ставк*"]')
    assert hit_ids(rules, "Governor steps down") == ["x"]
    assert hit_ids(rules, "Governor stepped down") == ["x"]
    assert hit_ids(rules, "ЦБ сохранил ключевую ставку") == ["x"]
    assert hit_ids(rules, "Governor stepped aside") == []


def test_a_phrase_does_not_run_from_title_into_summary(tmp_path: Path) -> None:
    rules = one(tmp_path, '["key rate"]')
    assert hit_ids(rules, "Bank moves key", "rate of inflation") == []


def test_a_regex_is_the_escape_hatch(tmp_path: Path) -> None:
    rules = one(tmp_path, "['re:\\b(19|20)\\d\\d budget\\b']")
    assert hit_ids(rules, "Duma passes 2025 budget") == ["x"]
    assert hit_ids(rules, "Duma passes budget") == []


def test_hits_carry_the_words_as_written(tmp_path: Path) -> None:
    rules = one(tmp_path, '{all: [[resign*], [Shoigu, "defence minister"]]}')
    (hit,) = rules.match_text("Russia's Defence Minister Shoigu resigns")
    assert hit == Hit("x", ("Defence Minister", "Shoigu", "resigns"))  # in reading order


@pytest.mark.parametrize("accent", ["", " at the café"])  # é takes the long way, not cp1251
def test_a_phrase_is_shown_as_written_with_what_stands_between_its_words(
        tmp_path: Path, accent: str) -> None:
    rules = one(tmp_path, '[picket, "u s envoy", "anti war rally", вице-премьер*]')
    (hit,) = rules.match_text(f"Picket as U.S. envoy meets the Вице-премьера{accent}",
                              "Police broke up an anti-\nwar rally.")
    assert hit.terms == ("Picket", "U.S. envoy", "Вице-премьера", "anti- war rally")


def test_words_inside_a_longer_phrase_found_are_not_listed_again(tmp_path: Path) -> None:
    rules = one(tmp_path, '[anti-war, rally, "anti-war rally", picket]')
    (hit,) = rules.match_text("Anti-war rally and a picket; the rally went on")
    assert hit.terms == ("Anti-war rally", "picket", "rally")


# --- clauses -------------------------------------------------------------------------------


def test_all_requires_each_part_and_not_excludes(tmp_path: Path) -> None:
    rules = one(tmp_path, "{all: [[resign*], [minister*]], not: [British, Ukrain*]}")
    assert hit_ids(rules, "Russian minister resigns") == ["x"]
    assert hit_ids(rules, "Minister speaks") == []
    assert hit_ids(rules, "British minister resigns") == []
    assert hit_ids(rules, "Minister resigns", "a Ukrainian official said") == []


def test_clauses_nest(tmp_path: Path) -> None:
    rules = one(tmp_path, "{any: [{all: [ceasefire, Russia*]}, {all: [перемири*, Росси*]}]}")
    assert hit_ids(rules, "Russia floats ceasefire") == ["x"]
    assert hit_ids(rules, "Россия предложила перемирие") == ["x"]
    assert hit_ids(rules, "Ceasefire in Gaza") == []


def test_near_requires_terms_within_the_word_distance(tmp_path: Path) -> None:
    rules = one(tmp_path, "{near: {within: 3, terms: [[dismiss*, sacked], [governor*]]}}")
    assert hit_ids(rules, "Putin dismisses Kursk governor") == ["x"]
    assert hit_ids(rules, "Governor was sacked") == ["x"]
    assert hit_ids(rules, "Governor opens a bridge while the mayor is dismissed") == []


def test_near_brings_three_groups_together(tmp_path: Path) -> None:
    rules = one(tmp_path, "{near: {within: 4, terms: [a1, b1, c1]}}")
    assert hit_ids(rules, "a1 x b1 x c1") == ["x"]
    assert hit_ids(rules, "a1 x b1 x x x c1") == []
    assert hit_ids(rules, "a1 x x x x x x c1 b1 x a1") == ["x"]  # a later a1 closes the window


def test_in_title_restricts_a_clause_to_the_title(tmp_path: Path) -> None:
    rules = one(tmp_path, "{all: [{in: title, any: [mutiny]}, [Wagner]]}")
    assert hit_ids(rules, "Mutiny in the south", "Wagner fighters move north") == ["x"]
    assert hit_ids(rules, "Wagner news", "analysts recall the mutiny") == []


def test_in_summary_restricts_a_clause_to_the_summary(tmp_path: Path) -> None:
    rules = one(tmp_path, "{in: summary, any: [leak*]}")
    assert hit_ids(rules, "Tape", "a leaked call") == ["x"]
    assert hit_ids(rules, "Leaked call", "a tape") == []


def test_lists_expand_and_may_include_lists(tmp_path: Path) -> None:
    lists = """\
        security: [FSB, ФСБ]
        elite: [$security, Kremlin]
        """
    rules = one(tmp_path, "{all: [[detain*, задержан*], [$elite]]}", lists)
    assert hit_ids(rules, "FSB officer detained") == ["x"]
    assert hit_ids(rules, "Сотрудник ФСБ задержан") == ["x"]
    assert hit_ids(rules, "Kremlin aide detained") == ["x"]
    assert hit_ids(rules, "Tourist detained") == []


def test_summaries_are_read_as_the_plain_text_entries_carry(tmp_path: Path) -> None:
    rules = one(tmp_path, "[mobilization]")
    entry = Entry(id="1", title="News", summary="A new wave of mobilization")
    assert [h.indicator for h in rules.match(entry)] == ["x"]


def test_many_indicators_report_in_file_order(tmp_path: Path) -> None:
    rules = rules_for(
        tmp_path,
        """\
        - {id: b, title: B, weight: {s: 1}, match: [Kremlin]}
        - {id: a, title: A, weight: {s: 1}, match: [Kremlin, Putin]}
        - {id: c, title: C, weight: {s: 1}, match: [Duma]}
        """,
    )
    assert hit_ids(rules, "Putin and the Kremlin") == ["b", "a"]


def test_an_indicator_of_only_regexes_is_always_evaluated(tmp_path: Path) -> None:
    rules = rules_for(
        tmp_path,
        """\
        - {id: rx, title: R, weight: {s: 1}, match: ['re:ruble[sa]?\\s+(fell|slid)']}
        - {id: w, title: W, weight: {s: 1}, match: [Kremlin]}
        """,
    )
    assert hit_ids(rules, "Ruble slid past 100") == ["rx"]


# --- values and labels ----------------------------------------------------------------------

KEY_RATE = """\
  value: {near: ["key rate", "ключев* ставк*"], within: 10, unit: percent}
  labels:
    hike: [rais*, hike*, повысил*]
    cut: [cut*, lower*, снизил*]
    hold: [hold*, held, kept, сохранил*]
"""


@pytest.mark.parametrize(
    ("title", "value", "label"),
    [
        ("Bank of Russia raises key rate to 21%", 21.0, "hike"),
        ("Bank of Russia raises key rate by 200 basis points to 21 per cent", 21.0, "hike"),
        ("Key rate held at 21 percent", 21.0, "hold"),
        ("Банк России повысил ключевую ставку до 21 процента", 21.0, "hike"),
        ("Банк России снизил ключевую ставку на 2 п.п., до 16,5%", 16.5, "cut"),
        ("ЦБ сохранил ключевую ставку 21%", 21.0, "hold"),
        ("Bank of Russia cuts key rate", None, "cut"),
    ],
)
def test_value_extracts_the_new_rate_and_labels_the_direction(
    tmp_path: Path, title: str, value: float | None, label: str
) -> None:
    rules = one(tmp_path, '["key rate", "ключев* ставк*"]', extra=KEY_RATE)
    (hit,) = rules.match_text(title)
    assert (hit.value, hit.label) == (value, label)


def test_a_label_in_the_title_wins_over_one_in_the_summary(tmp_path: Path) -> None:
    rules = one(tmp_path, '["key rate", "ключев* ставк*"]', extra=KEY_RATE)
    (hit,) = rules.match_text("ЦБ снизил ключевую ставку до 16,5%",
                              "Регулятор повысил прогноз инфляции")
    assert hit.label == "cut"


def test_a_number_far_from_the_value_terms_is_not_taken(tmp_path: Path) -> None:
    rules = one(tmp_path, '["key rate"]', extra=KEY_RATE)
    (hit,) = rules.match_text(
        "Key rate decision due",
        "Analysts polled by the agency in the capital last week put annual inflation at 9%",
    )
    assert hit.value is None


def test_value_is_read_from_the_summary_too(tmp_path: Path) -> None:
    rules = one(tmp_path, '["key rate"]', extra=KEY_RATE)
    (hit,) = rules.match_text("Central bank surprises markets", "It lifted the key rate to 18%.")
    assert hit.value == 18.0


# --- speed-relevant structure --------------------------------------------------------------


def test_the_fingerprint_changes_with_the_rules_but_not_with_weights(tmp_path: Path) -> None:
    a = one(tmp_path, "[Kremlin]").fingerprint
    b = one(tmp_path, "[Kremlin]").fingerprint
    c = one(tmp_path, "[Kremlin, Duma]").fingerprint
    body = "- id: x\n  title: X\n  weight: {s: 5}\n  match: [Kremlin]\n"
    d = rules_for(tmp_path, body).fingerprint
    assert a == b == d
    assert a != c


def test_rules_read_the_lead_of_a_long_summary_only(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text("version: 1\ndefaults: {summary_chars: 40}\n"
                    "scenarios: [{id: s, title: S, question: Q}]\nindicators:\n"
                    "  - {id: x, title: X, weight: {s: 1}, match: [mutiny]}\n", encoding="utf-8")
    rules = load(path).rules
    assert [h.indicator for h in rules.match_text("News", "A mutiny in the south")] == ["x"]
    background = "The markets were calm today and trading was thin. " + "A mutiny in 2023."
    assert rules.match_text("News", background) == []


def test_by_default_rules_read_the_first_600_characters_of_a_summary(tmp_path: Path) -> None:
    rules = one(tmp_path, "[mutiny]")
    sentence = "Markets were calm and trading was thin. "  # 40 characters
    assert hit_ids(rules, "News", sentence * 14 + "A mutiny.") == ["x"]
    assert hit_ids(rules, "News", sentence * 15 + "A mutiny.") == []


_WORD_CHARS = "abcxyzABCXYZ019абвгдеёжийклмнопрстуфхцчшщъыьэюяАБВЁЙЖЯé"
_SEPARATORS = [" ", ", ", "-", ". ", "\n", " — ", " «", "» ", "'", "...", "/", " (", ") "]


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.text(_WORD_CHARS, min_size=1, max_size=7), min_size=1, max_size=12),
       gaps=st.lists(st.sampled_from(_SEPARATORS), min_size=11, max_size=11),
       pick=st.tuples(st.integers(0, 11), st.integers(1, 3)), in_title=st.booleans())
def test_a_phrase_found_is_shown_exactly_as_the_item_writes_it(
        words: list[str], gaps: list[str], pick: tuple[int, int], in_title: bool) -> None:
    text = "".join(w + g for w, g in zip(words, gaps, strict=False)).strip()
    written = list(WORD.finditer(text))
    folded = WORD.findall(fold(text))
    assume(len(written) == len(folded))
    start, width = pick[0] % len(written), pick[1]
    width = min(width, len(written) - start)
    phrase = " ".join(folded[start:start + width])
    expected = " ".join(text[written[start].start():written[start + width - 1].end()].split())
    with tempfile.TemporaryDirectory() as folder:  # (hypothesis runs it many times)
        rules = one(Path(folder), f'["{phrase}"]')
    title, summary = (text, "") if in_title else ("News", text)
    (hit,) = rules.match_text(title, summary)
    assert expected in hit.terms
