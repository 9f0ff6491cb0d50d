"""Plain text and folding: what counts as the same word."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.text import (
    WORD,
    decoded,
    fold,
    joined_word_source,
    joined_word_string,
    joined_written_run,
    joined_written_tokens,
    joined_written_words,
    plain_text,
    word_string,
    words,
    written_words,
)


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


# Text of news in English and Russian, with the characters the byte table handles itself and
# some it must leave to the Unicode path (accents, Ukrainian letters, symbols, controls, DEL).
_NEWS_CHARS = st.sampled_from(list(
    "aZ09_ .,;:!?'\"()-%/|\n\tжЖёЁйЙяЯ\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u00ab"
    "\u00bb\u00a0\u00ad\u2026\u2010\u2212\u2032\u00e9\u0301\u0456\u0457\u20ac\u2116\u2122"
    "\u00b5\u0130\u212a\x00\x7f"))
_NEWS_TEXT = st.text(_NEWS_CHARS, max_size=30) | st.text(max_size=30)


@settings(max_examples=300)
@given(_NEWS_TEXT)
def test_the_word_string_of_news_text_holds_exactly_the_folded_words(text: str) -> None:
    assert word_string(text).split() == WORD.findall(fold(text))


@settings(max_examples=300)
@given(_NEWS_TEXT, _NEWS_TEXT)
def test_two_texts_fold_at_once_as_each_would_alone(first: str, second: str) -> None:
    assert joined_word_string(first, "|", second).split(" ") == [
        *WORD.findall(fold(first)), "|", *WORD.findall(fold(second))]


@settings(max_examples=300)
@given(_NEWS_TEXT, _NEWS_TEXT)
def test_written_words_are_the_words_as_written(first: str, second: str) -> None:
    assert written_words(first) == WORD.findall(first)
    assert joined_written_words(first, "|", second) == [
        *WORD.findall(first), "|", *WORD.findall(second)]


@settings(max_examples=500)
@given(_NEWS_TEXT, _NEWS_TEXT)
def test_the_written_tokens_align_with_the_word_string(first: str, second: str) -> None:
    folded, source = joined_word_source(first, "|", second)
    assert folded == joined_word_string(first, "|", second)
    tokens = joined_written_tokens(source, "|") if source is not None else None
    if tokens is None:
        return
    written = [decoded(t) for t in tokens]
    assert written == joined_written_words(first, "|", second)
    # One token for each word, each as long as its folded form.
    assert [len(w) for w in written] == [len(w) for w in folded.split(" ")]
    # A run of words cut out of the source holds the same words, the joint for the mark.
    for width in (1, 2, 3):
        for index in range(len(written) - width + 1):
            run = joined_written_run(source, index, width)
            assert run is not None
            assert WORD.findall(decoded(run).replace("\x7f", " | ")) == [
                w for w in written[index:index + width] if w != "|"]
            head, tail = (w if w != "|" else "\x7f" for w in (written[index],
                                                                written[index + width - 1]))
            assert decoded(run).startswith(head) and decoded(run).endswith(tail)


def written_string(first: str, second: str) -> str | None:
    source = joined_word_source(first, "|", second)[1]
    tokens = None if source is None else joined_written_tokens(source, "|")
    return None if tokens is None else " ".join(decoded(t) for t in tokens)


def test_the_written_tokens_keep_case_and_letters_as_written() -> None:
    assert written_string("Шойгу «снят»", "ЁЛКА, Key-Rate") == "Шойгу снят | ЁЛКА Key Rate"
    assert written_string("Рос\u00adнефть", "") is None  # a soft hyphen
    assert written_string("Café", "") is None  # folding decomposes


def test_the_byte_table_folds_case_yo_short_i_dashes_and_soft_hyphens() -> None:
    assert word_string("ЁЛКА, «Шойгу» — Рос\u00adнефть…") == "елка шоигу роснефть"
    assert word_string("Café") == "cafe"  # not in the table: the Unicode path


def test_plain_text_strips_markup_and_decodes_entities() -> None:
    html = "<p>Hello &amp; <b>world</b></p><script>alert(1)</script><p>Two\x00 lines</p>&lt;b&gt;"
    assert plain_text(html) == "Hello & world\nTwo lines\n<b>"


def test_plain_text_of_text_without_markup_only_tidies_blanks() -> None:
    assert plain_text("  A  tab\there \u200b") == "A tab here"
    assert plain_text(None) == ""
