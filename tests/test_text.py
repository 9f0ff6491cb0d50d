"""Plain text and folding: what counts as the same word."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.text import WORD, fold, plain_text, word_string, words


def test_fold_ignores_case_accents_yo_quotes_and_dashes() -> None:
    assert fold("ЁЛКА Café “quoted” — Шойгу") == 'елка cafe "quoted" - шоигу'


def test_words_split_on_anything_but_letters_and_digits() -> None:
    assert words("Putin’s pro-Kremlin aide, 21,5%") == ["putin", "s", "pro", "kremlin", "aide",
                                                        "21", "5"]


def test_a_soft_hyphen_does_not_split_a_word() -> None:
    assert words("Рос\u00adнефть") == ["роснефть"]


@settings(max_examples=500)
@given(st.text())
def test_the_word_string_holds_exactly_the_folded_words(text: str) -> None:
    assert word_string(text).split() == WORD.findall(fold(text))


def test_plain_text_strips_markup_and_decodes_entities() -> None:
    html = "<p>Hello &amp; <b>world</b></p><script>alert(1)</script><p>Two\x00 lines</p>&lt;b&gt;"
    assert plain_text(html) == "Hello & world\nTwo lines\n<b>"


def test_plain_text_of_text_without_markup_only_tidies_blanks() -> None:
    assert plain_text("  A  tab\there \u200b") == "A tab here"
    assert plain_text(None) == ""
