"""The store on real databases: every test runs on a SQLite file and, when
MONITOR_TEST_DATABASE_URL is set, on its own PostgreSQL schema."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from monitor.errors import StoreError
from monitor.model import Entry, Hit
from monitor.store import SCHEMA_VERSION, Polled, SourceState, Store, Unchanged

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)
FP = "rules-v1"

RATE_TITLE = "Bank of Russia raises key rate to 21% as inflation refuses to cool"
RATE_SUMMARY = (
    "The central bank lifted its benchmark rate by two percentage points on Friday, its "
    "largest move since the spring, and said price growth was running far above its 4% "
    "target. The governor told reporters that further tightening was still on the table."
)
HOLD_TITLE = "Bank of Russia holds key rate at 21% and hints at cuts next year"
HOLD_SUMMARY = (
    "Policymakers left borrowing costs unchanged for a second meeting, saying inflation had "
    "begun to slow and that easing could start in the first quarter if it kept falling."
)


def entry(
    id: str, title: str = RATE_TITLE, summary: str = RATE_SUMMARY, published: datetime | None = NOW
) -> Entry:
    return Entry(
        id=id, title=title, summary=summary, link=f"https://example.org/{id}", published=published
    )


def rate_hit(value: float = 21.0) -> Hit:
    return Hit("key-rate-change", ("key", "rate"), value, "hike")


def polled(
    next_due_at: datetime = LATER,
    etag: str | None = None,
    last_modified: str | None = None,
    redirect_url: str | None = None,
) -> Polled:
    return Polled(next_due_at, etag, last_modified, redirect_url)


def state(store: Store, source_id: str) -> SourceState:
    found = store.source_state(source_id)
    assert found is not None, f"no source {source_id}"
    return found


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


# --- ingest -----------------------------------------------------------------------------------


def test_ingesting_the_same_poll_twice_adds_nothing_the_second_time(store: Store) -> None:
    entries = [entry("a1"), entry("a2", HOLD_TITLE, HOLD_SUMMARY)]
    hits = {"a1": [rate_hit()]}
    first = store.ingest("tass", entries, hits, FP, NOW, polled(etag='"v1"'))
    second = store.ingest("tass", entries, hits, FP, LATER, polled(etag='"v1"'))

    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 2)
    stored = store.entries(newest_first=False)
    assert [(s.entry.id, s.first_seen, s.updated_at) for s in stored] == [
        ("a1", NOW, NOW),
        ("a2", NOW, NOW),
    ]
    assert [(h.entry_pk, h.hit) for h in store.hits_since(NOW - timedelta(days=1))] == [
        (first.new_pks[0], Hit("key-rate-change", ("key", "rate"), 21.0, "hike"))
    ]
    assert state(store, "tass").entry_count == 2


def test_an_edited_entry_is_updated_in_place_and_its_hits_replaced(store: Store) -> None:
    first = store.ingest("tass", [entry("a1")], {"a1": [rate_hit()]}, FP, NOW, polled())
    edited = entry("a1", RATE_TITLE.replace("21%", "23%"), RATE_SUMMARY)
    hits = {"a1": [rate_hit(23.0), Hit("inflation-surge", ("inflation",))]}
    second = store.ingest("tass", [edited], hits, FP, LATER, polled())

    assert (second.new, second.updated, second.unchanged) == (0, 1, 0)
    assert second.updated_pks == first.new_pks
    (stored,) = store.entries()
    assert stored.pk == first.new_pks[0]
    assert (
        stored.entry.title == "Bank of Russia raises key rate to 23% as inflation refuses to cool"
    )
    assert (stored.first_seen, stored.updated_at) == (NOW, LATER)
    assert [h.hit for h in store.hits_for([stored.pk])[stored.pk]] == [
        Hit("inflation-surge", ("inflation",)),
        Hit("key-rate-change", ("key", "rate"), 23.0, "hike"),
    ]


def test_a_new_link_alone_updates_the_row_and_keeps_the_hits(store: Store) -> None:
    store.ingest("tass", [entry("a1")], {"a1": [rate_hit()]}, FP, NOW, polled())
    moved = Entry(
        id="a1",
        title=RATE_TITLE,
        summary=RATE_SUMMARY,
        link="https://example.org/new",
        published=NOW,
    )
    report = store.ingest("tass", [moved], {}, FP, LATER, polled())

    assert (report.new, report.updated, report.unchanged) == (0, 1, 0)
    (stored,) = store.entries()
    assert stored.entry.link == "https://example.org/new"
    assert [h.hit.indicator for h in store.hits_since(NOW - timedelta(days=1))] == [
        "key-rate-change"
    ]


def test_entries_keep_their_fields_and_count_from_first_seen_when_undated(store: Store) -> None:
    undated = Entry(
        id="u1",
        title="Губернатор ушёл в отставку",
        summary="Текст «новости»",
        link=None,
        published=None,
        language="ru",
        guid="urn:x:1",
    )
    hits = {"u1": [Hit("elite-resignation", ("Губернатор", "отставку"))]}
    report = store.ingest("meduza", [undated], hits, FP, NOW, polled())

    stored = store.entry_by_pk(report.new_pks[0])
    assert stored is not None
    assert stored.entry == Entry(
        id="u1",
        title="Губернатор ушёл в отставку",
        summary="Текст «новости»",
        link=None,
        published=None,
        source="meduza",
        language="ru",
        guid="urn:x:1",
        first_seen=NOW,
    )
    assert stored.when == NOW
    (hit,) = store.hits_since(NOW)
    assert (hit.hit.terms, hit.source, hit.when) == (("Губернатор", "отставку"), "meduza", NOW)
    assert store.entries(since=NOW + timedelta(seconds=1)) == []


def test_repeats_of_one_id_in_a_poll_collapse_to_the_first(store: Store) -> None:
    report = store.ingest(
        "tass", [entry("a1"), entry("a1", HOLD_TITLE, HOLD_SUMMARY)], {}, FP, NOW, polled()
    )
    assert (report.new, report.updated, report.unchanged) == (1, 0, 0)
    assert [s.entry.title for s in store.entries()] == [RATE_TITLE]


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.ingest("tass", [entry("a1")], {}, FP, datetime(2026, 3, 1, 12), polled())


# --- clusters ---------------------------------------------------------------------------------


def test_one_story_from_two_sources_shares_a_cluster(store: Store) -> None:
    tass = store.ingest("tass", [entry("t1")], {}, FP, NOW, polled())
    reworded = entry(
        "r1", RATE_TITLE.replace("raises", "hikes"), RATE_SUMMARY, NOW + timedelta(hours=5)
    )
    other = entry("r2", HOLD_TITLE, HOLD_SUMMARY)
    ria = store.ingest("ria", [reworded, other], {}, FP, NOW, polled())

    clusters = {s.entry.id: s.cluster_id for s in store.entries()}
    assert clusters == {"t1": tass.new_pks[0], "r1": tass.new_pks[0], "r2": ria.new_pks[1]}
    assert store.counts().clusters == 2


def test_near_duplicates_of_one_source_under_different_keys_stay_apart(store: Store) -> None:
    report = store.ingest("tass", [entry("t1"), entry("t2")], {}, FP, NOW, polled())
    assert [s.cluster_id for s in store.entries(newest_first=False)] == list(report.new_pks)


def test_a_cluster_holds_at_most_one_entry_per_source(store: Store) -> None:
    first = store.ingest("tass", [entry("t1")], {}, FP, NOW, polled())
    store.ingest("ria", [entry("r1")], {}, FP, NOW, polled())
    repeat = store.ingest("tass", [entry("t2")], {}, FP, LATER, polled())

    clusters = {s.entry.id: s.cluster_id for s in store.entries()}
    assert clusters == {"t1": first.new_pks[0], "r1": first.new_pks[0], "t2": repeat.new_pks[0]}


def test_copies_more_than_three_days_apart_do_not_merge(store: Store) -> None:
    store.ingest("tass", [entry("t1")], {}, FP, NOW, polled())
    late = store.ingest(
        "ria", [entry("r1", published=NOW + timedelta(days=3, hours=1))], {}, FP, NOW, polled()
    )
    assert store.entries_by_pk(late.new_pks)[late.new_pks[0]].cluster_id == late.new_pks[0]


# --- polling state ----------------------------------------------------------------------------


def test_failures_count_up_and_a_success_resets_them(store: Store) -> None:
    store.ingest("tass", [], {}, FP, NOW, polled(etag='"v1"', last_modified="Sun, 01 Mar 2026"))
    retry = NOW + timedelta(hours=1)
    store.record_failure("tass", NOW, "The server answered 503.", "http", LATER, not_before=retry)
    store.record_failure("tass", LATER, "The server answered 503.", "http", retry)

    failing = state(store, "tass")
    assert (failing.consecutive_errors, failing.last_error, failing.last_error_kind) == (
        2,
        "The server answered 503.",
        "http",
    )
    assert (failing.last_error_at, failing.last_polled_at, failing.last_success_at) == (
        LATER,
        LATER,
        NOW,
    )
    assert (failing.next_due_at, failing.not_before_at) == (retry, None)
    assert (failing.etag, failing.last_modified) == ('"v1"', "Sun, 01 Mar 2026")

    store.ingest(
        "tass", [entry("a1")], {}, FP, retry, polled(next_due_at=retry + timedelta(hours=1))
    )
    healed = state(store, "tass")
    assert (healed.consecutive_errors, healed.last_success_at, healed.etag) == (0, retry, None)
    assert (healed.last_fetched, healed.entry_count) == (1, 1)


def test_not_modified_keeps_the_validators_unless_new_ones_come(store: Store) -> None:
    store.ingest("tass", [entry("a1")], {}, FP, NOW, polled(etag='"v1"', last_modified="Sun"))
    store.record_failure("tass", NOW, "Timed out.", "timeout", NOW)
    store.record_not_modified("tass", LATER, LATER + timedelta(minutes=15))
    tass = state(store, "tass")
    assert (tass.etag, tass.last_modified, tass.consecutive_errors) == ('"v1"', "Sun", 0)
    assert (tass.last_success_at, tass.next_due_at) == (LATER, LATER + timedelta(minutes=15))
    assert (tass.entry_count, tass.last_error_kind) == (1, "timeout")

    store.record_not_modified("tass", LATER, LATER, etag='"v2"', not_before=LATER)
    tass = state(store, "tass")
    assert (tass.etag, tass.last_modified, tass.not_before_at) == ('"v2"', "Sun", LATER)


def test_many_304s_are_recorded_together_each_as_one_alone_would_be(store: Store) -> None:
    for sid in ("tass", "meduza"):
        store.ingest(sid, [entry(f"{sid}-1")], {}, FP, NOW, polled(etag='"v1"',
                                                                   last_modified="Sun"))
        store.record_failure(sid, NOW, "Timed out.", "timeout", NOW)
    store.record_unchanged([
        Unchanged("tass", LATER, LATER + timedelta(minutes=15)),
        Unchanged("meduza", LATER, LATER, etag='"v2"', not_before=LATER),
        Unchanged("novaya", LATER, LATER, etag='"n1"'),  # unknown until now: created
    ])
    tass, meduza, novaya = (state(store, s) for s in ("tass", "meduza", "novaya"))
    assert (tass.etag, tass.last_modified, tass.consecutive_errors) == ('"v1"', "Sun", 0)
    assert (tass.last_success_at, tass.next_due_at, tass.not_before_at) == (
        LATER, LATER + timedelta(minutes=15), None)
    assert (meduza.etag, meduza.last_modified, meduza.not_before_at) == ('"v2"', "Sun", LATER)
    assert (meduza.consecutive_errors, meduza.entry_count) == (0, 1)
    assert (novaya.etag, novaya.last_success_at, novaya.entry_count) == ('"n1"', LATER, 0)


def test_ingest_keeps_near_duplicate_keys_given_by_the_caller(store: Store, db_url: str
                                                               ) -> None:
    from monitor import clusters

    store.ingest("tass", [entry("a1"), entry("a2", title="Another headline of four words")],
                 {}, FP, NOW, polled(), near_keys={"a1": 12345})
    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as conn:
        keys = dict(conn.execute(sqlalchemy.text("SELECT key, simhash FROM entry")).all())
    engine.dispose()
    assert keys == {"a1": 12345,
                    "a2": clusters.simhash("Another headline of four words", RATE_SUMMARY)}


def test_a_permanent_redirect_moves_the_url_only_when_it_repeats(store: Store) -> None:
    class Feed:
        def __init__(self, id: str, url: str) -> None:
            self.id, self.url, self.path, self.title = id, url, None, None

    store.sync_sources([Feed("tass", "http://old.example/rss")])
    moved = "https://new.example/rss"
    store.record_not_modified("tass", NOW, LATER, redirect_url=moved)
    assert state(store, "tass").url == "http://old.example/rss"
    store.ingest("tass", [], {}, FP, NOW, polled())  # the redirect did not repeat
    store.record_not_modified("tass", NOW, LATER, redirect_url=moved)
    assert state(store, "tass").redirect_seen == 1
    store.ingest("tass", [], {}, FP, NOW, polled(redirect_url=moved))

    tass = state(store, "tass")
    assert (tass.url, tass.configured_url, tass.redirect_url) == (
        moved,
        "http://old.example/rss",
        None,
    )
    store.sync_sources([Feed("tass", "http://old.example/rss")])  # config unchanged: url stays
    assert state(store, "tass").url == moved


def test_sync_sources_adds_changes_and_deactivates_without_touching_polling_state(
    store: Store,
) -> None:
    class Feed:
        def __init__(
            self,
            id: str,
            url: str | None = None,
            path: Path | None = None,
            title: str | None = None,
        ) -> None:
            self.id, self.url, self.path, self.title = id, url, path, title

    first = store.sync_sources(
        [Feed("tass", "https://a.example/rss"), Feed("demo", path=Path("d.xml"))]
    )
    assert first.added == ("tass", "demo")
    store.ingest("tass", [entry("a1")], {}, FP, NOW, polled(etag='"v1"'))
    store.record_failure("demo", NOW, "No such file.", "local", LATER)

    second = store.sync_sources([Feed("tass", "https://a.example/rss", title="TASS")])
    assert (second.added, second.changed, second.deactivated) == ((), ("tass",), ("demo",))
    tass, demo = state(store, "tass"), state(store, "demo")
    assert (tass.title, tass.etag, tass.next_due_at, tass.active) == ("TASS", '"v1"', LATER, True)
    assert (demo.active, demo.path, demo.consecutive_errors) == (False, "d.xml", 1)
    assert store.counts().active_sources == 1

    third = store.sync_sources(
        [Feed("tass", "https://b.example/rss"), Feed("demo", path=Path("d.xml"))]
    )
    assert (third.changed, third.deactivated) == (("tass", "demo"), ())
    tass = state(store, "tass")
    assert (tass.url, tass.etag, tass.next_due_at, tass.entry_count) == (
        "https://b.example/rss",
        None,
        None,
        1,
    )


# --- opening ----------------------------------------------------------------------------------


def test_a_new_database_records_its_schema_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    assert store.rules_fingerprint() is None
    assert store.counts().entries == 0


def test_a_database_from_a_newer_monitor_is_refused_with_one_sentence(db_url: str) -> None:
    Store.open(db_url).close()
    engine = sqlalchemy.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE meta SET value = '99' WHERE key = 'schema_version'"))
    engine.dispose()

    with pytest.raises(StoreError) as caught:
        Store.open(db_url)
    shown = sqlalchemy.make_url(db_url).render_as_string(hide_password=True)
    assert str(caught.value) == (
        f"The database at {shown} has schema version 99, newer than the {SCHEMA_VERSION} this "
        "monitor knows; upgrade monitor to use it."
    )


def test_the_default_database_lives_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Store.open(None) as store:
        assert store.url == f"sqlite:///{tmp_path / 'data' / 'monitor' / 'monitor.db'}"
        store.ingest("tass", [entry("a1")], {}, FP, NOW, polled())
    assert (tmp_path / "data" / "monitor" / "monitor.db").is_file()
    with Store.open(str(tmp_path / "data" / "monitor" / "monitor.db")) as again:
        assert again.counts().entries == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Store.open(url):
        pass
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_an_unwritable_file_is_one_sentence_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError) as caught:
        Store.open(str(blocker / "monitor.db"))
    assert str(caught.value) == (
        f"Cannot open the database at sqlite:///{blocker / 'monitor.db'} "
        "(unable to open database file)."
    )


def test_an_unreachable_server_is_one_sentence_with_the_password_masked() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://analyst:s3cret@127.0.0.1:1/monitor?connect_timeout=2")
    message = str(caught.value)
    assert message.startswith(
        "Cannot open the database at postgresql+psycopg://analyst:***@127.0.0.1:1/monitor"
    )
    assert "s3cret" not in message and "\n" not in message and message.endswith(").")


# --- leases -----------------------------------------------------------------------------------


def _due_sources(store: Store, count: int) -> None:
    class Feed:
        def __init__(self, n: int) -> None:
            self.id, self.url, self.path = f"feed-{n:03d}", f"https://f{n}.example/rss", None

    store.sync_sources([Feed(n) for n in range(count)])


def test_two_workers_lease_disjoint_sets_that_cover_every_due_source(
    store: Store, db_url: str
) -> None:
    _due_sources(store, 100)
    taken: dict[str, list[str]] = {"w1": [], "w2": []}
    start = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def work(worker: str) -> None:
        try:
            with Store.open(db_url) as mine:
                start.wait()  # both ask at once, then wait for each other once, then race on
                batch = mine.lease_due(worker, NOW, limit=7, lease_seconds=300)
                start.wait()
                while batch:
                    taken[worker].extend(s.id for s in batch)
                    assert all(s.lease_owner == worker for s in batch)
                    batch = mine.lease_due(worker, NOW, limit=7, lease_seconds=300)
        except BaseException as exc:  # surfaced below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert set(taken["w1"]).isdisjoint(taken["w2"])
    assert sorted(taken["w1"] + taken["w2"]) == [f"feed-{n:03d}" for n in range(100)]
    assert len(taken["w1"]) >= 7 and len(taken["w2"]) >= 7


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(store: Store) -> None:
    _due_sources(store, 3)
    assert [s.id for s in store.lease_due("w1", NOW, 2, lease_seconds=60)] == [
        "feed-000",
        "feed-001",
    ]
    assert [s.id for s in store.lease_due("w2", NOW + timedelta(seconds=30), 10, 60)] == [
        "feed-002"
    ]
    after = NOW + timedelta(seconds=61)
    taken = store.lease_due("w2", after, 10, 60)
    # w1's leases expired; feed-002 is still w2's own live lease, so it is not handed out twice.
    assert [(s.id, s.lease_owner, s.lease_until) for s in taken] == [
        ("feed-000", "w2", after + timedelta(seconds=60)),
        ("feed-001", "w2", after + timedelta(seconds=60)),
    ]


def test_a_source_is_due_only_after_next_due_and_not_before(store: Store) -> None:
    _due_sources(store, 2)
    store.ingest("feed-000", [], {}, FP, NOW, polled(next_due_at=LATER))
    store.record_failure("feed-001", NOW, "Slow down.", "http", NOW, not_before=LATER)
    assert store.lease_due("w1", NOW, 10, 60) == []
    # Most overdue first: feed-001 was due at NOW, feed-000 only at LATER.
    assert [s.id for s in store.lease_due("w1", LATER, 10, 60)] == ["feed-001", "feed-000"]


def test_recording_a_poll_or_releasing_ends_the_lease(store: Store) -> None:
    _due_sources(store, 2)
    store.lease_due("w1", NOW, 10, 600)
    store.ingest("feed-000", [], {}, FP, NOW, polled(next_due_at=NOW))
    assert store.release("feed-001", "w2") is False
    assert store.release("feed-001", "w1") is True
    # Never polled comes before merely due.
    assert [s.id for s in store.lease_due("w2", NOW, 10, 60)] == ["feed-001", "feed-000"]


def test_an_explicit_lease_skips_other_workers_unless_forced(store: Store) -> None:
    _due_sources(store, 2)
    store.ingest("feed-000", [], {}, FP, NOW, polled(next_due_at=NOW + timedelta(days=1)))
    store.lease(["feed-001"], "w1", NOW, 600)
    asked = ["feed-001", "feed-000", "nope"]
    assert [s.id for s in store.lease(asked, "w2", NOW, 60)] == ["feed-000"]
    forced = store.lease(asked, "w2", NOW, 60, force=True)
    assert [(s.id, s.lease_owner) for s in forced] == [("feed-001", "w2"), ("feed-000", "w2")]


# --- re-matching ------------------------------------------------------------------------------


def test_stale_entries_and_replace_hits_rematch_every_entry_once(store: Store) -> None:
    entries = [entry(f"a{n}", f"Story {n} about the key rate", f"Text {n}") for n in range(25)]
    store.ingest("tass", entries, {"a0": [rate_hit()]}, FP, NOW, polled())
    assert list(store.stale_entries(FP)) == []

    seen: list[str] = []
    for batch in store.stale_entries("rules-v2", batch_size=10):
        seen.extend(s.entry.id for s in batch)
        # New rules: every even entry now hits, with two indicators; odd ones hit nothing.
        store.replace_hits(
            [
                (s.pk, [rate_hit(), Hit("budget-strain", ("budget",))] if n % 2 == 0 else [])
                for s in batch
                for n in [int(s.entry.id[1:])]
            ],
            "rules-v2",
        )
    assert seen == [f"a{n}" for n in range(25)]
    assert list(store.stale_entries("rules-v2")) == []
    hits = store.hits_since(NOW - timedelta(days=1))
    assert len(hits) == 26
    assert {h.fingerprint for h in hits} == {"rules-v2"}
    assert store.rules_fingerprint() == "rules-v2"
    assert [len(batch) for batch in store.stale_entries("rules-v3", batch_size=10)] == [10, 10, 5]


def test_an_unchanged_entry_stored_under_old_rules_takes_the_fresh_hits(store: Store) -> None:
    store.ingest("tass", [entry("a1")], {}, "rules-v1", NOW, polled())
    report = store.ingest("tass", [entry("a1")], {"a1": [rate_hit()]}, "rules-v2", LATER, polled())
    assert (report.new, report.updated, report.unchanged) == (0, 0, 1)
    (hit,) = store.hits_since(NOW - timedelta(days=1))
    assert hit.fingerprint == "rules-v2"
    assert list(store.stale_entries("rules-v2")) == []


# --- durability -------------------------------------------------------------------------------

CHILD = """
import sys
from datetime import UTC, datetime, timedelta
from monitor.model import Entry, Hit
from monitor.store import Polled, Store

store = Store.open(sys.argv[1])
now = datetime(2026, 3, 1, tzinfo=UTC)
for poll in range(10_000):
    entries = [Entry(id=f"{poll}-{n}", title=f"Item {n} of poll {poll}", summary="x" * 2000)
               for n in range(20)]
    hits = {e.id: [Hit("key-rate-change", ("rate",))] for e in entries}
    store.ingest("feed", entries, hits, "fp", now, Polled(next_due_at=now))
    print(poll, flush=True)
"""


def test_a_killed_writer_leaves_every_poll_whole(db_url: str) -> None:
    Store.open(db_url).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None
    for _ in range(5):  # let it commit a few polls, then kill it mid-stream
        child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait()

    with Store.open(db_url) as store:
        counts = store.counts()
        assert counts.entries >= 5 * 20
        assert counts.entries % 20 == 0
        assert counts.hits == counts.entries == state(store, "feed").entry_count


# --- change marker --------------------------------------------------------------------------


def test_the_change_marker_moves_with_every_write_scores_depend_on_and_only_then(
    store: Store,
) -> None:
    seen = [store.change_marker()]

    def moved() -> bool:
        seen.append(store.change_marker())
        return seen[-1] != seen[-2]

    first = store.ingest("tass", [entry("a1")], {"a1": [rate_hit()]}, FP, NOW, polled())
    assert moved()
    store.ingest("tass", [entry("a1")], {"a1": [rate_hit()]}, FP, LATER, polled())
    store.record_not_modified("tass", LATER, LATER + timedelta(minutes=15))
    store.hits_since(NOW - timedelta(days=1))
    assert not moved()  # a poll that brought nothing, and reads, change nothing that scores
    pk = first.new_pks[0]
    # Edited in place, its one hit replaced by one (SQLite may reuse the hit's id).
    edited = entry("a1", RATE_TITLE.replace("21%", "22%"))
    store.ingest("tass", [edited], {"a1": [rate_hit(22.0)]}, FP, LATER, polled())
    assert moved()
    store.replace_hits([(pk, [rate_hit(22.0)])], "rules-v2")  # re-matched by new rules
    assert moved()
    store.mark_false(pk, "key-rate-change", "a survey, not a decision", "analyst", NOW)
    assert moved()
    store.mark_false(pk, "key-rate-change", "a poll of economists", "analyst", LATER)
    assert moved()
    store.unmark(pk, "key-rate-change")
    assert moved()
    store.save_snapshots([("economic-crisis", 61.0, 2.5, True)], NOW)
    assert moved()
    store.replace_hits([(pk, [])], "rules-v3")
    assert moved()


# --- when indicators last fired -----------------------------------------------------------------


def test_last_fired_is_the_latest_hit_before_until_not_marked_false(store: Store) -> None:
    day = timedelta(days=1)
    entries = [entry("old", published=NOW - 3 * day), entry("new", published=NOW - day),
               entry("later", published=NOW + day),
               entry("hold", HOLD_TITLE, HOLD_SUMMARY, published=NOW - 2 * day)]
    hits = {"old": [rate_hit()], "new": [rate_hit()], "later": [rate_hit()],
            "hold": [Hit("rate-hold", ("holds",))]}
    report = store.ingest("tass", entries, hits, FP, NOW, polled())
    assert store.last_fired(["key-rate-change", "rate-hold", "never"], NOW) == {
        "key-rate-change": NOW - day, "rate-hold": NOW - 2 * day}
    store.mark_false(report.new_pks[1], "key-rate-change", "", "analyst", NOW)
    assert store.last_fired(["key-rate-change"], NOW) == {"key-rate-change": NOW - 3 * day}
    assert store.last_fired(["key-rate-change"], NOW + day) == {"key-rate-change": NOW + day}
