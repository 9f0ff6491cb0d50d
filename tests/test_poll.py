"""Polling passes against a real HTTP server and a real database: what is polled, what is
stored, and how failures are paced."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer, Reply, feed, http_date

from monitor.fetch import Fetcher, FetchPolicy
from monitor.indicators import Feed
from monitor.poll import Poller, PollReport, Schedule, next_due, rematch, skip_reason
from monitor.rules import Rules, load
from monitor.store import Store

RULES = """\
version: 1
scenarios: [{id: s, title: S, question: Q}]
indicators:
  - {id: kremlin, title: Kremlin, weight: {s: 1}, match: [Kremlin]}
"""

T0 = datetime(2025, 12, 2, 12, 0, tzinfo=UTC)


def rss(*titles: str, prefix: str = "e") -> bytes:
    items = "".join(
        f"<item><title>{t}</title><guid>{prefix}-{i}</guid>"
        f"<link>https://example.org/{prefix}/{i}</link></item>"
        for i, t in enumerate(titles)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            f"<link>https://example.org/</link><description>d</description>{items}"
            "</channel></rss>").encode()


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load(path).rules


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def poller(feeds: list[Feed], rules: Rules, store: Store, clock: Clock, tmp_path: Path,
           **kw: object) -> Poller:
    p = Poller(feeds, rules, store, base_dir=tmp_path, default_every=1800, clock=clock,
               rng=random.Random(7), **kw)  # type: ignore[arg-type]
    p.sync()
    return p


def run(coro: object) -> PollReport:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def poll_now(p: Poller, *ids: str, force: bool = False) -> PollReport:
    try:
        return await p.poll_now(list(ids) or None, force=force)
    finally:
        await p.aclose()


def statuses(report: PollReport) -> dict[str, str]:
    return {o.feed: o.status for o in report.outcomes}


def test_a_first_poll_stores_and_matches_and_a_second_adds_nothing(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/a", feed(rss("Kremlin denies talks", "Snow in Moscow"), etag='"v1"'))
    feeds = [Feed(id="a", url=server.url("/a"))]
    clock = Clock()
    first = run(poll_now(poller(feeds, rules, store, clock, tmp_path)))
    assert [(o.feed, o.status, o.new, o.hits) for o in first.outcomes] == [("a", "new", 2, 1)]
    clock.now += timedelta(hours=1)
    second = run(poll_now(poller(feeds, rules, store, clock, tmp_path)))
    assert statuses(second) == {"a": "not-modified"}
    assert server.requests_to("/a")[1].headers["if-none-match"] == '"v1"'
    assert store.counts().entries == 2
    assert [h.hit.indicator for h in store.hits_since(T0 - timedelta(days=1))] == ["kremlin"]


def test_one_broken_feed_is_an_outcome_and_the_others_go_on(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/ok1", feed(rss("One", prefix="x")))
    server.route("/bad", lambda r: Reply(500, {}, b"oops"))
    server.route("/ok2", feed(rss("Two", prefix="y")))
    feeds = [Feed(id=n, url=server.url(f"/{n}")) for n in ("ok1", "bad", "ok2")]
    report = run(poll_now(poller(feeds, rules, store, Clock(), tmp_path)))
    assert statuses(report) == {"ok1": "new", "bad": "failed", "ok2": "new"}
    bad = store.source_state("bad")
    assert bad is not None
    assert (bad.consecutive_errors, bad.last_error) == (1, f"HTTP 500 from {server.url('/bad')}")


def test_a_feed_in_backoff_is_skipped_unless_forced(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/bad", lambda r: Reply(503, {}, b""))
    feeds = [Feed(id="bad", url=server.url("/bad"))]
    clock = Clock()
    run(poll_now(poller(feeds, rules, store, clock, tmp_path)))
    clock.now += timedelta(minutes=5)
    skipped = run(poll_now(poller(feeds, rules, store, clock, tmp_path)))
    assert [(o.status, o.message.split(" until")[0]) for o in skipped.outcomes] == [
        ("skipped", "backing off after 1 error")]
    forced = run(poll_now(poller(feeds, rules, store, clock, tmp_path), force=True))
    assert statuses(forced) == {"bad": "failed"}
    assert len(server.requests_to("/bad")) == 2


def test_a_forced_poll_that_leaves_leases_skips_a_feed_another_poller_holds(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/a", feed(rss("One", prefix="x")))
    server.route("/b", feed(rss("Two", prefix="y")))
    feeds = [Feed(id=n, url=server.url(f"/{n}")) for n in ("a", "b")]
    clock = Clock()
    p = poller(feeds, rules, store, clock, tmp_path)  # syncs the sources
    assert [s.id for s in store.lease(["a"], "engine", clock.now, 300)] == ["a"]

    async def go() -> PollReport:
        try:
            return await p.poll_now(None, force=True, take_leases=False)
        finally:
            await p.aclose()

    report = run(go())
    assert [(o.feed, o.status, o.message) for o in report.outcomes if o.feed == "a"] == [
        ("a", "skipped", "another poller is polling it right now")]
    assert statuses(report)["b"] == "new" and not server.requests_to("/a")
    taken = run(poll_now(poller(feeds, rules, store, clock, tmp_path), "a", force=True))
    assert statuses(taken) == {"a": "new"}  # `monitor poll --force` still takes it


def test_retry_after_is_a_floor_on_the_next_poll(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/busy", lambda r: Reply(429, {"Retry-After": "7200"}, b""))
    feeds = [Feed(id="busy", url=server.url("/busy"), every=60)]
    clock = Clock(datetime.now(UTC))
    report = run(poll_now(poller(feeds, rules, store, clock, tmp_path)))
    (outcome,) = report.outcomes
    assert outcome.next_due_at is not None
    assert outcome.next_due_at >= clock.now + timedelta(seconds=7190)
    state = store.source_state("busy")
    assert state is not None
    assert skip_reason(state, clock.now + timedelta(minutes=1)) is not None
    assert "the server asked not to be polled before" in str(
        skip_reason(state, clock.now + timedelta(minutes=1)))


def test_a_server_date_in_retry_after_works_too(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    later = datetime.now(UTC) + timedelta(hours=3)
    server.route("/busy", lambda r: Reply(503, {"Retry-After": http_date(later.timestamp())}))
    feeds = [Feed(id="busy", url=server.url("/busy"), every=60)]
    report = run(poll_now(poller(feeds, rules, store, Clock(datetime.now(UTC)), tmp_path)))
    (outcome,) = report.outcomes
    assert outcome.next_due_at is not None
    assert outcome.next_due_at >= later - timedelta(seconds=2)


def test_a_local_path_feed_is_read_relative_to_the_rules(
    rules: Rules, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "demo.xml").write_bytes(rss("Kremlin reshuffle"))
    feeds = [Feed(id="demo", path="demo.xml")]
    report = run(poll_now(poller(feeds, rules, store, Clock(), tmp_path)))
    assert [(o.status, o.new, o.hits) for o in report.outcomes] == [("new", 1, 1)]


def test_an_unknown_feed_id_is_skipped_with_a_reason(
    rules: Rules, store: Store, tmp_path: Path
) -> None:
    report = run(poll_now(poller([], rules, store, Clock(), tmp_path), "nope"))
    assert [(o.feed, o.status, o.message) for o in report.outcomes] == [
        ("nope", "skipped", "no feed `nope` in indicators.yaml")]


def test_poll_due_polls_only_due_feeds(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/a", feed(rss("A")))
    feeds = [Feed(id="a", url=server.url("/a"), every=600)]
    clock = Clock()

    async def twice() -> tuple[PollReport, PollReport, PollReport]:
        p = poller(feeds, rules, store, clock, tmp_path)
        try:
            first = await p.poll_due()
            clock.now += timedelta(seconds=300)
            early = await p.poll_due()
            clock.now += timedelta(seconds=400)
            late = await p.poll_due()
            return first, early, late
        finally:
            await p.aclose()

    first, early, late = asyncio.run(twice())
    assert (statuses(first), statuses(early), statuses(late)) == (
        {"a": "new"}, {}, {"a": "unchanged"})


def test_changed_rules_rematch_stored_entries(
    server: FeedServer, rules: Rules, store: Store, tmp_path: Path
) -> None:
    server.route("/a", feed(rss("Kremlin denies talks", "Duma passes budget")))
    run(poll_now(poller([Feed(id="a", url=server.url("/a"))], rules, store, Clock(), tmp_path)))
    path = tmp_path / "indicators.yaml"
    path.write_text(RULES.replace("match: [Kremlin]", "match: [Duma]"), encoding="utf-8")
    new_rules = load(path).rules
    assert rematch(store, new_rules) == 2
    assert rematch(store, new_rules) == 0
    hits = store.hits_since(T0 - timedelta(days=1))
    assert [(h.hit.indicator, h.hit.terms) for h in hits] == [("kremlin", ("Duma",))]


@pytest.mark.parametrize(
    ("errors", "low", "high"),
    [(0, 1620, 1980), (1, 1620, 1980), (2, 3240, 3960), (5, 19440, 23760),
     (8, 19440, 23760), (10, 86400, 86400)],
)
def test_backoff_doubles_to_a_cap_then_retries_daily(errors: int, low: float,
                                                     high: float) -> None:
    schedule = Schedule()
    for spread in (-1.0, 0.0, 1.0):
        due = next_due(1800, errors, T0, schedule, spread)
        assert low <= (due - T0).total_seconds() <= high


def test_two_pollers_on_one_database_never_poll_a_feed_twice(
    db_url: str, rules: Rules, tmp_path: Path
) -> None:
    with FeedServer() as server:
        for i in range(100):
            server.route(f"/f{i}", feed(rss(f"Story {i}", prefix=f"f{i}")))
        feeds = [Feed(id=f"f{i}", url=server.url(f"/f{i}")) for i in range(100)]
        stores = [Store.open(db_url) for _ in range(2)]
        reports: list[PollReport] = []

        def worker(store: Store, name: str) -> None:
            p = Poller(feeds, rules, store, base_dir=tmp_path, default_every=3600,
                       clock=lambda: datetime.now(UTC), worker_id=name,
                       fetcher=Fetcher(FetchPolicy(per_host_interval=0)))
            p.sync()

            async def go() -> PollReport:
                try:
                    return await p.poll_due(limit=1000)
                finally:
                    await p.aclose()
            reports.append(asyncio.run(go()))

        threads = [threading.Thread(target=worker, args=(s, f"w{i}"))
                   for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        polled = [o.feed for r in reports for o in r.outcomes]
        assert sorted(polled) == sorted(f.id for f in feeds)
        assert all(len(server.requests_to(f"/f{i}")) == 1 for i in range(100))
        assert stores[0].counts().entries == 100
        for s in stores:
            s.close()
