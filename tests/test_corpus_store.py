"""The whole shared feed corpus through the poller into a real database: nothing crashes, every
entry a feed yields is stored once, and a second pass stores nothing new."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_corpus import CORPUS, NO_FEED, corpus_files, needs_corpus

from monitor.fetch import read_entries
from monitor.indicators import Feed
from monitor.poll import Poller, PollReport
from monitor.rules import load
from monitor.store import Store

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def feed_id(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


@needs_corpus
def test_every_corpus_file_is_ingested_once_and_a_second_pass_adds_nothing(
    tmp_path: Path,
) -> None:
    rules_path = tmp_path / "indicators.yaml"
    rules_path.write_text(
        "version: 1\nscenarios: [{id: s, title: S, question: Q}]\nindicators:\n"
        "  - {id: k, title: K, weight: {s: 1}, match: [Kremlin, кремл*, war]}\n",
        encoding="utf-8")
    rules = load(rules_path).rules
    files = corpus_files()
    feeds = [Feed(id=feed_id(f), path=f) for f in files]
    expected = {}
    for f in files:
        if f in NO_FEED:
            continue
        expected[feed_id(f)] = len({e.id for e in read_entries(CORPUS / f, now=NOW).entries})

    with Store.open(f"sqlite:///{tmp_path / 'corpus.db'}") as store:
        def one_pass() -> PollReport:
            poller = Poller(feeds, rules, store, base_dir=CORPUS, default_every=3600,
                            clock=lambda: NOW)
            poller.sync()

            async def go() -> PollReport:
                try:
                    return await poller.poll_now(force=True)
                finally:
                    await poller.aclose()
            return asyncio.run(go())

        first = one_pass()
        failed = {o.feed for o in first.failed}
        assert failed == {feed_id(f) for f in NO_FEED}
        assert {o.feed: o.new for o in first.outcomes if o.feed not in failed} == expected
        assert store.counts().entries == sum(expected.values())

        second = one_pass()
        assert sum(o.new + o.updated for o in second.outcomes) == 0
        assert store.counts().entries == sum(expected.values())
    assert sum(expected.values()) > 1500


def test_feed_ids_are_distinct_for_every_corpus_file() -> None:
    files = corpus_files()
    if not files:
        pytest.skip(f"the shared feed corpus is not at {CORPUS}")
    assert len({feed_id(f) for f in files}) == len(files)
