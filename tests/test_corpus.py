"""Every file of the shared feed robustness corpus goes through parse_feed without losing items.

The corpus (real-world and adversarial feeds, about 360 files) lives in the `shared` folder
beside the repository, not in it; these tests skip when it is absent.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import FeedError
from monitor.fetch import ParsedFeed, parse_feed

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOT_FEEDS = {"LICENSE", "README.md", "INDEX.md", "MANIFEST.tsv", "SOURCES.md"}

# The only files allowed to raise FeedError, each because it genuinely holds no feed.
NO_FEED = {
    "feedparser/illformed/rss_empty_document.xml": "only a comment, no document element",
    "feedparser/wellformed/rdf/doctype_contains_entity_decl.xml": (
        "declares an external parameter entity, which the entity guard refuses (and no items)"
    ),
    "miniflux/internal/reader/xml/testdata/iso88591.xml": "a <note> document, not a feed",
    "miniflux/internal/reader/xml/testdata/iso88591_utf8_mismatch.xml": (
        "a <note> document, not a feed"
    ),
}

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the shared feed corpus is not at {CORPUS}"
)


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        path.relative_to(CORPUS).as_posix()
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in NOT_FEEDS
    )


def content_types() -> dict[str, str]:
    """The Content-Type each feedparser test file assumes (its `Header:` line), by path."""
    manifest = CORPUS / "feedparser" / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    found = {}
    with manifest.open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            name, _, value = (row.get("http_headers") or "").partition(":")
            if name.strip().lower() == "content-type":
                found[f"feedparser/{row['path']}"] = value.strip()
    return found


CONTENT_TYPES = content_types()


def parse(relative: str) -> ParsedFeed:
    return parse_feed(
        (CORPUS / relative).read_bytes(),
        source="corpus",
        now=NOW,
        content_type=CONTENT_TYPES.get(relative),
    )


@needs_corpus
def test_the_corpus_is_all_there() -> None:
    files = corpus_files()
    assert len(files) >= 360
    assert set(NO_FEED) <= set(files)
    assert len(CONTENT_TYPES) >= 40  # the manifest was read


@needs_corpus
@pytest.mark.parametrize("relative", corpus_files() or ["(corpus absent)"])
def test_each_file_parses_with_unique_ids(relative: str) -> None:
    if relative in NO_FEED:
        with pytest.raises(FeedError):
            parse(relative)
        return
    parsed = parse(relative)
    ids = [entry.id for entry in parsed.entries]
    assert len(ids) == len(set(ids))
    assert all(entry.title for entry in parsed.entries)  # never empty: "(untitled)" at worst


@needs_corpus
@pytest.mark.parametrize(
    ("relative", "word"),
    [
        ("miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml", "Цитата"),
        ("miniflux/internal/reader/encoding/testdata/koi8r.xml", "Первая новость"),
        ("miniflux/internal/reader/xml/testdata/koi8r.xml", "Вторая новость"),
        ("realworld/meduza.xml", "Макрон"),
        ("feedparser/illformed/chardet/koi8r.xml", "новогоднюю"),  # koi8-r, declared nowhere
    ],
)
def test_cyrillic_decodes(relative: str, word: str) -> None:
    parsed = parse(relative)
    assert any(word in entry.title for entry in parsed.entries)


@needs_corpus
@pytest.mark.parametrize(
    ("relative", "count"),
    [
        ("fastfeedparser/benchmark_data/d4b7ab74da763119", 10),  # JSON Feed 1.0
        ("fastfeedparser/tests/integration/json_feed_sample.json", 2),  # JSON Feed 1.1
        ("feedparser/json/example.json", 2),
        ("fastfeedparser/benchmark_data/7ef13a42fa7e177a", 35),  # doubled XML declaration
        ("fastfeedparser/tests/integration/malformed_rss_namespaced.xml", 2),
    ],
)
def test_feeds_feedparser_alone_loses_keep_their_entries(relative: str, count: int) -> None:
    assert len(parse(relative).entries) == count


@needs_corpus
def test_utf8_behind_a_wrong_prolog_is_read_as_utf8() -> None:
    parsed = parse("miniflux/internal/reader/encoding/testdata/utf8-incorrect-prolog.xml")
    assert [entry.title for entry in parsed.entries] == ["Café"]
    euro = parse("miniflux/internal/reader/encoding/testdata/windows-1252-incorrect-prolog.xml")
    assert euro.title == "Euro €"
