"""The database: tables, engine and every query (the only user of sqlmodel and sqlalchemy).

One SQLite file in the user data directory by default (WAL journal, 10 s busy timeout,
foreign keys on, synchronous=NORMAL); `postgresql+psycopg://...` for a team sharing feeds.
Every public write is one transaction, and nothing is cached or deferred: a killed process
loses nothing it committed and leaves nothing half-written. On SQLite, writes open with
`BEGIN IMMEDIATE` so two writers queue on the busy timeout instead of failing on a lock
upgrade. Every datetime crosses this boundary timezone-aware (naive ones are refused as a
programming error) and comes back in UTC. Nothing here reads the clock: `now` is an argument.

API
    Store.open(url=None) -> Store     None: monitor.db in platformdirs.user_data_dir("monitor");
                                      a bare path means a SQLite file; postgresql:// and
                                      postgres:// mean postgresql+psycopg://. Creates the tables
                                      on first open; StoreError (one sentence, password masked)
                                      if unreachable, unwritable or newer than this code.
    store.url, store.close(), `with Store.open(...) as store:`

    Configuration and polling state (one row per feed id):
    sync_sources(feeds) -> SourceSync        create/update id, url or path, title; keep polling
                                             state; feeds gone from config become inactive
    ingest(source_id, entries, hits_by_entry_id, fingerprint, now, Polled(...), near_keys=None)
                                             -> IngestReport
    record_not_modified(source_id, now, next_due_at, *, etag, last_modified, redirect_url,
                        not_before)
    record_unchanged([Unchanged(...), ...])  several 304s in one transaction
    record_failure(source_id, now, error, kind, next_due_at, *, not_before)
    lease_due(worker_id, now, limit, lease_seconds) -> list[SourceState]
    lease(source_ids, worker_id, now, lease_seconds, force=False) -> list[SourceState]
    release(source_id, worker_id) -> bool
    source_states() / source_state(id) -> SourceState

    Evidence:
    entries(source=, since=, until=, limit=, newest_first=) -> list[StoredEntry]
    iter_entries(batch_size, source=) -> Iterator[list[StoredEntry]]     (by pk, short reads)
    entry_by_pk(pk) / entries_by_pk(pks)
    hits_since(since, until=, indicators=) -> list[StoredHit];  hits_for(entry_pks)
    scored_hits_since(since, until=) -> list[ScoredHit]   hits with only what scoring reads
    stale_entries(fingerprint, batch_size) -> Iterator[list[StoredEntry]]
    replace_hits([(entry_pk, hits), ...], fingerprint)
    counts() -> StoreCounts;  rules_fingerprint() -> str | None;  schema_version() -> int

    Analyst feedback (kept per entry pk and indicator id, so re-matching never loses it):
    mark_false(entry_pk, indicator, note, who, now)     a hit judged false (again: updated)
    unmark(entry_pk, indicator) -> bool                  False if it was not marked
    false_hits() -> frozenset[(entry_pk, indicator)];  feedback() -> list[Feedback]
    indicator_stats(fingerprint=None) -> {indicator: IndicatorStats}   hits and marked false

    Digests and alert emails (recorded only once the mail server accepted them):
    record_digest(at, since, sent_at, recipients, subject, {scenario: (level, alert)},
                  reported [(entry_pk, indicator)]) -> id     one transaction
    last_digest() -> DeliveredDigest | None;  digests() -> list[DeliveredDigest]
    reported_hits(entry_pks) -> frozenset[(entry_pk, indicator)]   reported once, ever
    record_alert(scenario, crossing_at, level, recipients, message) -> bool   False: known
    alert_emails(status=None) -> list[AlertEmail];  mark_alert(id, status, now, error=None)

    Score history (one row per scenario and moment, so trends need no recomputation):
    save_snapshots([(scenario, level, evidence, alert), ...], now) -> int   upsert at `now`
    snapshots(scenario=, since=, until=) -> list[Snapshot]     by scenario, then time
    last_alerts() -> {scenario: bool}     alert state of each scenario's latest snapshot

Ingest, in one transaction per poll
    Entries are keyed by (source, Entry.id); repeats of an id within one poll collapse to the
    first. A re-polled unchanged entry writes nothing. An entry whose title or summary changed
    is updated in place (same pk, same first_seen) and its hits replaced; a change of link,
    guid, date or language alone updates the row and keeps the hits. Hits are (entry,
    indicator) unique; a second hit for one indicator in one entry is dropped. An entry absent
    from `hits_by_entry_id` has no hits. Every entry written records the rules fingerprint its
    hits came from (`hits_fingerprint`), so an entry with no hits is not re-matched forever;
    an unchanged entry stored under another fingerprint gets the fresh hits it was given.

Clusters (one story carried by several feeds, counted once by scoring)
    A new entry joins the cluster of the nearest entry (fewest differing bits of
    `clusters.simhash`, then the oldest cluster) that comes from another source, is `near`
    it, and counts from within CLUSTER_WINDOW (3 days) of it; candidates come from the four
    indexed band columns. A cluster holds at most one entry per source: near-identical entries
    of one feed under different keys stay apart, because a feed repeating itself is a
    templated series (daily bulletins, one headline per captured village), not syndication.
    Otherwise the entry starts its own cluster, whose id is its own pk. Clusters are decided
    when an entry is first seen; an edit keeps its cluster. Two near entries ingested at the
    same moment by two workers may both start clusters.

Polling state
    The store records what happened and what the caller decided (next_due_at, not_before);
    it never computes schedules. A permanent redirect must be reported REDIRECT_CONFIRMATIONS
    times in a row before `url` follows it (`configured_url` keeps the configured one); a
    successful fetch without it resets the count, a not-modified poll without it keeps it.
    Recording any poll outcome ends the source's lease. Leases let several pollers share
    feeds: `lease_due` picks active sources that are due (next_due_at and not_before_at
    passed or unset; never-polled first, then most overdue) and hold no live lease (a killed
    worker's lease simply expires; a worker is not handed its own live lease twice), and
    leases them in one transaction: `FOR UPDATE SKIP LOCKED` on PostgreSQL, `BEGIN IMMEDIATE`
    on SQLite.

Storage notes: `entry.simhash` is the signed int64 key of `monitor.clusters`; `entry.when_at`
is published-else-first-seen (`Entry.when`), indexed for time ranges; `hit.terms` is a JSON
list. Re-matching writes hits in bulk (one DELETE per 500 entries, one executemany INSERT),
never an ORM object per row.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import platformdirs
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    Row,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy import (
    cast as cast_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Field, SQLModel

from monitor import clusters
from monitor.errors import StoreError
from monitor.model import Entry, Hit, storable

SCHEMA_VERSION = 1
CLUSTER_WINDOW = timedelta(days=3)
REDIRECT_CONFIRMATIONS = 2
BUSY_TIMEOUT_MS = 10_000
_MAX_CANDIDATES = 1000
_CHUNK = 500  # ids per IN (...): far below every SQLite build's bound-parameter limit
_PG_INIT_LOCK = 0x6D6F6E69  # advisory lock serialising first-open table creation

T = TypeVar("T")


# --- column types -----------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, UTC datetimes out, on SQLite (naive UTC text) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:  # most values are UTC already; converting costs per row
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"the store takes timezone-aware datetimes, got naive {value!r}")
            value = value.astimezone(UTC)
        # SQLite keeps text: naive UTC in one fixed format compares in time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- tables -------------------------------------------------------------------------------


class SourceRow(SQLModel, table=True):
    __tablename__ = "source"

    id: str = Field(primary_key=True)
    url: str | None = Field(default=None, sa_type=Text)
    configured_url: str | None = Field(default=None, sa_type=Text)
    path: str | None = Field(default=None, sa_type=Text)
    title: str | None = Field(default=None, sa_type=Text)
    feed_title: str | None = Field(default=None, sa_type=Text)
    active: bool = True
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_kind: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_errors: int = 0
    next_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    not_before_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    redirect_url: str | None = Field(default=None, sa_type=Text)
    redirect_seen: int = 0
    entry_count: int = 0
    last_fetched: int = 0
    lease_owner: str | None = Field(default=None, sa_type=Text)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EntryRow(SQLModel, table=True):
    __tablename__ = "entry"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_entry_source_key"),
        Index("ix_entry_band0", "band0"),
        Index("ix_entry_band1", "band1"),
        Index("ix_entry_band2", "band2"),
        Index("ix_entry_band3", "band3"),
        Index("ix_entry_when_at", "when_at"),
        Index("ix_entry_cluster_id", "cluster_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    source: str = Field(foreign_key="source.id", sa_type=Text)
    key: str = Field(sa_type=Text)
    guid: str | None = Field(default=None, sa_type=Text)
    link: str | None = Field(default=None, sa_type=Text)
    title: str = Field(sa_type=Text)
    summary: str = Field(sa_type=Text)
    language: str | None = Field(default=None, sa_type=Text)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    when_at: datetime = Field(sa_type=UTCDateTime)
    content_hash: str = Field(sa_type=Text)
    simhash: int = Field(sa_type=BigInteger)
    band0: int
    band1: int
    band2: int
    band3: int
    cluster_id: int | None = None
    hits_fingerprint: str | None = Field(default=None, sa_type=Text)


class HitRow(SQLModel, table=True):
    __tablename__ = "hit"
    __table_args__ = (
        UniqueConstraint("entry_pk", "indicator", name="uq_hit_entry_indicator"),
        Index("ix_hit_indicator", "indicator"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_pk: int = Field(foreign_key="entry.pk", ondelete="CASCADE")
    indicator: str = Field(sa_type=Text)
    terms: str = Field(default="[]", sa_type=Text)
    value: float | None = None
    label: str | None = Field(default=None, sa_type=Text)
    fingerprint: str = Field(sa_type=Text)


class FeedbackRow(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("entry_pk", "indicator", name="uq_feedback_entry_indicator"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The entry and indicator, not the hit row: re-matching replaces hit rows, and a verdict
    # must outlive that (and still apply if changed rules drop the hit and bring it back).
    entry_pk: int = Field(foreign_key="entry.pk", ondelete="CASCADE")
    indicator: str = Field(sa_type=Text)
    verdict: str = Field(default="false", sa_type=Text)
    note: str = Field(default="", sa_type=Text)
    who: str = Field(default="", sa_type=Text)
    at: datetime = Field(sa_type=UTCDateTime)


class SnapshotRow(SQLModel, table=True):
    __tablename__ = "score_snapshot"
    # The unique constraint is also the (scenario, at) index that history reads go through.
    __table_args__ = (UniqueConstraint("scenario", "at", name="uq_score_snapshot_scenario_at"),)

    id: int | None = Field(default=None, primary_key=True)
    scenario: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=UTCDateTime)
    level: float
    evidence: float
    alert: bool = False


# --- digests and alert emails (what was delivered, so nothing is lost or sent twice) ---------


class DigestRow(SQLModel, table=True):
    __tablename__ = "digest"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    """The digest's `now`: the end of its window."""
    since: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    recipients: str = Field(default="[]", sa_type=Text)
    subject: str = Field(default="", sa_type=Text)
    levels: str = Field(default="{}", sa_type=Text)
    """JSON {scenario: {"level": float, "alert": bool}} at delivery: the next digest's base."""


class DigestItemRow(SQLModel, table=True):
    __tablename__ = "digest_item"
    # One row per hit ever reported: the unique key is what keeps news from being sent twice.
    __table_args__ = (
        UniqueConstraint("entry_pk", "indicator", name="uq_digest_item_entry_indicator"),
    )

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", ondelete="CASCADE")
    entry_pk: int = Field(foreign_key="entry.pk", ondelete="CASCADE")
    indicator: str = Field(sa_type=Text)


class AlertEmailRow(SQLModel, table=True):
    __tablename__ = "alert_email"
    __table_args__ = (
        UniqueConstraint("scenario", "crossing_at", name="uq_alert_email_scenario_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scenario: str = Field(sa_type=Text)
    crossing_at: datetime = Field(sa_type=UTCDateTime)
    level: float
    recipients: str = Field(default="[]", sa_type=Text)
    message: str = Field(sa_type=Text)
    """The rendered email, so a retry sends exactly what the crossing produced."""
    status: str = Field(default="pending", sa_type=Text)
    """pending (not yet accepted by the mail server), sent, or expired (retries gave up)."""
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str = Field(sa_type=Text)


_SOURCE = cast(Table, SourceRow.__table__)  # type: ignore[attr-defined]
_ENTRY = cast(Table, EntryRow.__table__)  # type: ignore[attr-defined]
_HIT = cast(Table, HitRow.__table__)  # type: ignore[attr-defined]
_META = cast(Table, MetaRow.__table__)  # type: ignore[attr-defined]
_HITS_REPLACED = "hits_replaced"
"""The meta key counting transactions that replaced stored hits (see `hit_marks`)."""
_VERDICTS_CHANGED = "verdicts_changed"
"""The meta key counting verdicts recorded or withdrawn (see `false_hits`)."""
_FEEDBACK = cast(Table, FeedbackRow.__table__)  # type: ignore[attr-defined]
_SNAPSHOT = cast(Table, SnapshotRow.__table__)  # type: ignore[attr-defined]
_DIGEST = cast(Table, DigestRow.__table__)  # type: ignore[attr-defined]
_DIGEST_ITEM = cast(Table, DigestItemRow.__table__)  # type: ignore[attr-defined]
_ALERT_EMAIL = cast(Table, AlertEmailRow.__table__)  # type: ignore[attr-defined]
# create_all adds tables a database lacks, so a database made before `feedback`,
# `score_snapshot` or the digest tables existed gains them on its next open without a
# schema-version bump.
_TABLES = [_SOURCE, _ENTRY, _HIT, _META, _FEEDBACK, _SNAPSHOT, _DIGEST, _DIGEST_ITEM,
           _ALERT_EMAIL]


# --- values crossing the boundary --------------------------------------------------------


class FeedLike(Protocol):
    """What `sync_sources` reads from a configured feed (indicators.Feed fits)."""

    @property
    def id(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def path(self) -> str | os.PathLike[str] | None: ...


@dataclass(frozen=True, slots=True)
class Polled:
    """A successful fetch, as `ingest` records it on the source."""

    next_due_at: datetime
    """When the caller wants the source polled next."""
    etag: str | None = None
    last_modified: str | None = None
    redirect_url: str | None = None
    """Where a permanent redirect pointed during this fetch, if one did."""
    not_before: datetime | None = None
    """A floor the server set on the next poll (max-age, ttl), if any."""
    feed_title: str | None = None
    """The feed's own title, shown when the configuration gives none."""


@dataclass(frozen=True, slots=True)
class SourceState:
    """One feed's configuration and polling state, detached from the database."""

    id: str
    url: str | None
    configured_url: str | None
    path: str | None
    title: str | None
    feed_title: str | None
    active: bool
    etag: str | None
    last_modified: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_kind: str | None
    last_error_at: datetime | None
    consecutive_errors: int
    next_due_at: datetime | None
    not_before_at: datetime | None
    redirect_url: str | None
    redirect_seen: int
    entry_count: int
    last_fetched: int
    lease_owner: str | None
    lease_until: datetime | None

    @property
    def name(self) -> str:
        """The name to show: the configured title, else the feed's own, else the id."""
        return self.title or self.feed_title or self.id


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: `entry.source` and `entry.first_seen` are filled in."""

    pk: int
    entry: Entry
    cluster_id: int
    first_seen: datetime
    updated_at: datetime
    hits_fingerprint: str | None

    @property
    def when(self) -> datetime:
        """Published, else first seen: the time the entry counts from."""
        return self.entry.published or self.first_seen


@dataclass(frozen=True, slots=True)
class StoredHit:
    """A hit with what scoring needs of its entry: source, cluster and time."""

    entry_pk: int
    hit: Hit
    fingerprint: str
    source: str
    cluster_id: int
    when: datetime


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A poll that found the feed unchanged (304), as `record_unchanged` records it."""

    source_id: str
    now: datetime
    next_due_at: datetime
    etag: str | None = None
    """The validators to send next time; None keeps the stored ones."""
    last_modified: str | None = None
    redirect_url: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one poll's ingest did, entry by entry."""

    new: int
    updated: int
    unchanged: int
    new_pks: tuple[int, ...] = ()
    updated_pks: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceSync:
    """How `sync_sources` changed the source table."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deactivated: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Feedback:
    """An analyst's verdict on one hit (an entry's match of one indicator)."""

    entry_pk: int
    indicator: str
    verdict: str
    note: str
    who: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A scenario's score as it was computed at one moment."""

    scenario: str
    at: datetime
    level: float
    evidence: float
    alert: bool


@dataclass(frozen=True, slots=True)
class ScoredHit:
    """A hit with only what scoring reads: no match terms, no entry summary."""

    entry_pk: int
    indicator: str
    value: float | None
    label: str | None
    source: str
    cluster_id: int
    when: datetime
    title: str


SCORING_BATCH = 25_000
"""Entry keys per part of a bulk read of hits (`Store.scoring_batches`)."""


@dataclass(frozen=True)
class ScoringRows:
    """Hits read in bulk for scoring many at once (`monitor.ledger`), in as few rows as the
    database can give them: each entry once, its plain hits joined in one string."""

    entries: list[tuple[int, str, int, int, str]]
    """(pk, source, cluster, time in microseconds since the epoch UTC, title); rows are
    tuple-like (the driver's rows), not necessarily tuples."""
    grouped: list[tuple[int, str]]
    """(entry pk, the indicator ids of its hits without value or label, joined by spaces)."""
    valued: list[tuple[int, str, float | None, str | None]]
    """(entry pk, indicator, value, label) of the hits with a value or a label."""
    last_hit: int
    """The largest hit id read (0 if none): the next read starts after it."""


@dataclass(frozen=True, slots=True)
class DeliveredDigest:
    """A digest the mail server accepted."""

    id: int
    at: datetime
    since: datetime
    sent_at: datetime
    recipients: tuple[str, ...]
    subject: str
    levels: dict[str, float]
    alerts: dict[str, bool]


@dataclass(frozen=True, slots=True)
class AlertEmail:
    """One alert crossing's email and how its delivery went."""

    id: int
    scenario: str
    crossing_at: datetime
    level: float
    recipients: tuple[str, ...]
    message: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class IndicatorStats:
    """How often an indicator hit and how many of those hits an analyst marked false."""

    hits: int
    marked_false: int

    @property
    def precision(self) -> float | None:
        """1 - false / hits, None when there are no hits to judge."""
        return None if not self.hits else 1.0 - self.marked_false / self.hits


@dataclass(frozen=True, slots=True)
class StoreCounts:
    sources: int
    active_sources: int
    entries: int
    hits: int
    clusters: int


# --- helpers ------------------------------------------------------------------------------


def default_url() -> str:
    """The SQLite file used when no URL is given."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('monitor')) / 'monitor.db'}"


def _resolve_url(url: str | None) -> str:
    if url is None:
        folder = Path(platformdirs.user_data_dir("monitor"))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the data folder {folder} for the database ({exc.strerror})."
            ) from exc
        return default_url()
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _mask(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return (lines[0] if lines else type(orig).__name__).rstrip(".")


_clean = storable


def _clean_opt(value: str | None) -> str | None:
    return None if value is None else _clean(value)


def _aware(value: datetime, name: str = "now") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _aware_opt(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else _aware(value, name)


def _content_hash(title: str, summary: str) -> str:
    return hashlib.blake2b(f"{title}\x1f{summary}".encode(), digest_size=16).hexdigest()


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _terms_json(terms: Sequence[str]) -> str:
    return json.dumps([_clean(t) for t in terms], ensure_ascii=False)


def _unique_hits(hits: Iterable[Hit]) -> list[Hit]:
    seen: set[str] = set()
    out = []
    for hit in hits:
        if hit.indicator not in seen:
            seen.add(hit.indicator)
            out.append(hit)
    return out


def _hit_rows(entry_pk: int, hits: Iterable[Hit], fingerprint: str) -> list[dict[str, Any]]:
    return [
        {
            "entry_pk": entry_pk,
            "indicator": h.indicator,
            "terms": _terms_json(h.terms),
            "value": h.value,
            "label": h.label,
            "fingerprint": fingerprint,
        }
        for h in _unique_hits(hits)
    ]


def _source_state(row: Row[Any]) -> SourceState:
    m = row._mapping
    return SourceState(**{name: m[name] for name in SourceState.__dataclass_fields__})


_ENTRY_COLUMNS = [
    _ENTRY.c.pk,
    _ENTRY.c.source,
    _ENTRY.c.key,
    _ENTRY.c.guid,
    _ENTRY.c.link,
    _ENTRY.c.title,
    _ENTRY.c.summary,
    _ENTRY.c.language,
    _ENTRY.c.published_at,
    _ENTRY.c.first_seen_at,
    _ENTRY.c.updated_at,
    _ENTRY.c.cluster_id,
    _ENTRY.c.hits_fingerprint,
]


def _stored_entry(row: Row[Any]) -> StoredEntry:
    entry = Entry(
        id=row.key,
        title=row.title,
        summary=row.summary,
        link=row.link,
        published=row.published_at,
        source=row.source,
        language=row.language,
        guid=row.guid,
        first_seen=row.first_seen_at,
    )
    return StoredEntry(
        row.pk, entry, row.cluster_id, row.first_seen_at, row.updated_at, row.hits_fingerprint
    )


_HIT_COLUMNS = [
    _HIT.c.entry_pk,
    _HIT.c.indicator,
    _HIT.c.terms,
    _HIT.c.value,
    _HIT.c.label,
    _HIT.c.fingerprint,
    _ENTRY.c.source,
    _ENTRY.c.cluster_id,
    _ENTRY.c.when_at,
]


def _stored_hit(row: Row[Any]) -> StoredHit:
    entry_pk, indicator, terms, value, label, fingerprint, source, cluster_id, when = tuple(row)
    hit = Hit(indicator=indicator, terms=tuple(json.loads(terms)), value=value, label=label)
    return StoredHit(entry_pk, hit, fingerprint, source, cluster_id, when)


def _delivered(row: Row[Any]) -> DeliveredDigest:
    levels = json.loads(row.levels)
    return DeliveredDigest(
        row.id, row.at, row.since, row.sent_at, tuple(json.loads(row.recipients)), row.subject,
        {k: float(v["level"]) for k, v in levels.items()},
        {k: bool(v["alert"]) for k, v in levels.items()})


def _redirect_values(current: Mapping[str, Any], redirect_url: str | None) -> dict[str, Any]:
    if redirect_url is None or redirect_url == current["url"]:
        return {"redirect_url": None, "redirect_seen": 0}
    seen = current["redirect_seen"] + 1 if current["redirect_url"] == redirect_url else 1
    if seen >= REDIRECT_CONFIRMATIONS:
        return {"url": redirect_url, "redirect_url": None, "redirect_seen": 0}
    return {"redirect_url": redirect_url, "redirect_seen": seen}


@dataclass(slots=True)
class _Incoming:
    entry: Entry
    title: str
    summary: str
    content_hash: str
    hits: list[Hit]
    simhash: int | None
    """The near-duplicate key, when the caller gave it; computed only for rows written."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    pk: int
    simhash: int
    cluster_id: int
    when: datetime


def _text_columns(item: _Incoming) -> dict[str, Any]:
    key = clusters.simhash(item.title, item.summary) if item.simhash is None else item.simhash
    band0, band1, band2, band3 = clusters.bands(key)
    return {
        "title": item.title,
        "summary": item.summary,
        "content_hash": item.content_hash,
        "simhash": key,
        "band0": band0,
        "band1": band1,
        "band2": band2,
        "band3": band3,
    }


# What sync_sources resets when a feed's configured location changes: a new resource.
_FRESH_LOCATION: dict[str, Any] = {
    "etag": None,
    "last_modified": None,
    "redirect_url": None,
    "redirect_seen": 0,
    "next_due_at": None,
    "not_before_at": None,
}

_KNOWN_COLUMNS = [
    _ENTRY.c.pk,
    _ENTRY.c.key,
    _ENTRY.c.content_hash,
    _ENTRY.c.link,
    _ENTRY.c.guid,
    _ENTRY.c.published_at,
    _ENTRY.c.language,
    _ENTRY.c.first_seen_at,
    _ENTRY.c.hits_fingerprint,
]


_KNOWN = select(*_KNOWN_COLUMNS).where(
    _ENTRY.c.source == bindparam("b_source"),
    _ENTRY.c.key.in_(bindparam("b_keys", expanding=True)),
)
_CANDIDATES = (
    select(_ENTRY.c.pk, _ENTRY.c.simhash, _ENTRY.c.cluster_id, _ENTRY.c.when_at,
           _ENTRY.c.band0, _ENTRY.c.band1, _ENTRY.c.band2, _ENTRY.c.band3)
    .where(
        or_(*(_ENTRY.c[f"band{i}"].in_(bindparam(f"b_band{i}", expanding=True))
              for i in range(4))),
        _ENTRY.c.source != bindparam("b_source"),
        _ENTRY.c.simhash != clusters.EMPTY,
        _ENTRY.c.when_at >= bindparam("b_earliest"),
        _ENTRY.c.when_at <= bindparam("b_latest"),
    )
    # A flood of near-identical text must not make one lookup read a whole window.
    .limit(bindparam("b_limit"))
)
_META_VALUE = select(_META.c.value).where(_META.c.key == bindparam("b_key"))
_INSERT_ENTRIES = insert(_ENTRY).returning(_ENTRY.c.pk, _ENTRY.c.key, sort_by_parameter_order=True)
_LOCK_SOURCE = select(_SOURCE).where(_SOURCE.c.id == bindparam("b_id")).with_for_update()
# The columns to set come with the parameters: the statement is built (and compiled) once per
# set of columns instead of once per poll.
_UPDATE_SOURCE = update(_SOURCE).where(_SOURCE.c.id == bindparam("b_id"))


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module so `begin` below decides the mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("monitor_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


# --- the store ------------------------------------------------------------------------------


class Store:
    """A handle on one database; safe to share between threads (one connection per thread)."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url
        """The database URL with any password masked, fit for messages."""
        self._sqlite = engine.dialect.name == "sqlite"
        self._false_kept: tuple[Any, frozenset[tuple[int, str]]] | None = None
        """The verdicts `false_hits` read last, with what told them apart then."""

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (and on first use create) the database at `url`; see the module docstring."""
        full = _resolve_url(url)
        masked = _mask(full)
        try:
            parsed = make_url(full)
            if parsed.get_backend_name() == "sqlite":
                engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
                event.listen(engine, "connect", _sqlite_connect)
                event.listen(engine, "begin", _sqlite_begin)
            else:
                engine = create_engine(parsed, pool_pre_ping=True)
        except (ArgumentError, ImportError, SQLAlchemyError) as exc:
            raise StoreError(f"Cannot open the database at {masked} ({_reason(exc)}).") from exc
        store = cls(engine, masked)
        try:
            store._prepare()
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"Cannot open the database at {masked} ({_reason(exc)}).") from exc
        except BaseException:
            engine.dispose()
            raise
        return store

    def _prepare(self) -> None:
        with self._write() as conn:
            if not self._sqlite:
                conn.execute(select(func.pg_advisory_xact_lock(_PG_INIT_LOCK)))
            if inspect(conn).has_table("meta"):
                raw = conn.execute(
                    select(_META.c.value).where(_META.c.key == "schema_version")
                ).scalar_one_or_none()
                version = int(raw) if raw is not None else SCHEMA_VERSION
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"The database at {self.url} has schema version {version}, newer than "
                        f"the {SCHEMA_VERSION} this monitor knows; upgrade monitor to use it."
                    )
                if version < SCHEMA_VERSION:  # the first schema: no older ones exist yet
                    raise StoreError(
                        f"The database at {self.url} has schema version {version}, which this "
                        f"monitor cannot upgrade to {SCHEMA_VERSION}."
                    )
            SQLModel.metadata.create_all(conn, tables=_TABLES)
            self._put_meta(conn, "schema_version", str(SCHEMA_VERSION), overwrite=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transactions -----------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if self._sqlite:
                conn.execution_options(monitor_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot {action} the database at {self.url} ({_reason(exc)})."
            ) from exc

    def _insert(self, table: Table) -> Any:
        dialect = sqlite if self._sqlite else postgresql
        return dialect.insert(table)

    def _put_meta(self, conn: Connection, key: str, value: str, *, overwrite: bool = True) -> None:
        if overwrite:
            current = conn.execute(_META_VALUE, {"b_key": key}).scalar()
            if current == value:  # skip the write: pollers would queue on this one row
                return
        stmt = self._insert(_META).values(key=key, value=value)
        if overwrite:
            stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
        conn.execute(stmt)

    # --- sources ----------------------------------------------------------------------------

    def sync_sources(self, feeds: Iterable[FeedLike]) -> SourceSync:
        """Make the source table match the configured feeds, keeping every polling state."""
        added: list[str] = []
        changed: list[str] = []
        deactivated: list[str] = []
        with self._guard("write to"), self._write() as conn:
            rows = {r.id: r._mapping for r in conn.execute(select(_SOURCE))}
            configured: set[str] = set()
            for feed in feeds:
                fid = feed.id
                configured.add(fid)
                url = _clean_opt(feed.url)
                path = None if feed.path is None else _clean(os.fspath(feed.path))
                title = _clean_opt(cast(str | None, getattr(feed, "title", None)))
                row = rows.get(fid)
                if row is None:
                    # Two pollers starting together may both add it: the second adds nothing.
                    conn.execute(
                        self._insert(_SOURCE)
                        .values(**self._new_source(fid, url, path, title))
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                    added.append(fid)
                    continue
                values: dict[str, Any] = {}
                if row["configured_url"] != url or row["path"] != path:
                    values.update(configured_url=url, url=url, path=path, **_FRESH_LOCATION)
                if title is not None and row["title"] != title:
                    values["title"] = title
                if not row["active"]:
                    values["active"] = True
                if values:
                    conn.execute(update(_SOURCE).where(_SOURCE.c.id == fid).values(**values))
                    changed.append(fid)
            for fid, row in rows.items():
                if fid not in configured and row["active"]:
                    conn.execute(update(_SOURCE).where(_SOURCE.c.id == fid).values(active=False))
                    deactivated.append(fid)
        return SourceSync(tuple(added), tuple(changed), tuple(deactivated))

    @staticmethod
    def _new_source(
        fid: str, url: str | None, path: str | None, title: str | None
    ) -> dict[str, Any]:
        return {
            "id": fid,
            "url": url,
            "configured_url": url,
            "path": path,
            "title": title,
            "active": True,
            "consecutive_errors": 0,
            "redirect_seen": 0,
            "entry_count": 0,
            "last_fetched": 0,
        }

    def _lock_source(self, conn: Connection, source_id: str) -> Mapping[str, Any]:
        """The source's row, created if unknown, locked for this transaction."""
        row = conn.execute(_LOCK_SOURCE, {"b_id": source_id}).first()
        if row is None:
            conn.execute(
                self._insert(_SOURCE)
                .values(**self._new_source(source_id, None, None, None))
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = conn.execute(_LOCK_SOURCE, {"b_id": source_id}).one()
        return dict(row._mapping)

    def source_states(self) -> list[SourceState]:
        """Every source, active or not, by id."""
        with self._guard("read"), self._read() as conn:
            rows = conn.execute(select(_SOURCE).order_by(_SOURCE.c.id)).all()
        return [_source_state(r) for r in rows]

    def source_state(self, source_id: str) -> SourceState | None:
        with self._guard("read"), self._read() as conn:
            row = conn.execute(select(_SOURCE).where(_SOURCE.c.id == source_id)).first()
        return None if row is None else _source_state(row)

    # --- recording polls ----------------------------------------------------------------------

    def record_not_modified(
        self,
        source_id: str,
        now: datetime,
        next_due_at: datetime,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        redirect_url: str | None = None,
        not_before: datetime | None = None,
    ) -> None:
        """A poll that found the feed unchanged (304): a success that brings no entries.
        Validators given replace the stored ones; None keeps them."""
        self.record_unchanged([Unchanged(source_id, now, next_due_at, etag=etag,
                                         last_modified=last_modified,
                                         redirect_url=redirect_url, not_before=not_before)])

    def record_unchanged(self, polls: Sequence[Unchanged]) -> None:
        """Several 304 polls in one transaction: on a pass where most feeds are unchanged,
        a commit per feed would cost more than the requests did."""
        if not polls:
            return
        plain = [p for p in polls if p.redirect_url is None]
        with self._guard("write to"), self._write() as conn:
            if plain:
                conn.execute(
                    self._insert(_SOURCE).on_conflict_do_nothing(index_elements=["id"]),
                    [self._new_source(p.source_id, None, None, None) for p in plain],
                )
                s = _SOURCE.c
                conn.execute(
                    update(_SOURCE)
                    .where(s.id == bindparam("b_id"))
                    .values(
                        last_polled_at=bindparam("b_now", type_=UTCDateTime),
                        last_success_at=bindparam("b_now", type_=UTCDateTime),
                        consecutive_errors=0,
                        next_due_at=bindparam("b_due", type_=UTCDateTime),
                        not_before_at=bindparam("b_not_before", type_=UTCDateTime),
                        lease_owner=None,
                        lease_until=None,
                        etag=func.coalesce(bindparam("b_etag", type_=Text), s.etag),
                        last_modified=func.coalesce(bindparam("b_modified", type_=Text),
                                                    s.last_modified),
                    ),
                    [
                        {
                            "b_id": p.source_id,
                            "b_now": _aware(p.now),
                            "b_due": _aware(p.next_due_at, "next_due_at"),
                            "b_not_before": _aware_opt(p.not_before, "not_before"),
                            "b_etag": _clean_opt(p.etag),
                            "b_modified": _clean_opt(p.last_modified),
                        }
                        for p in plain
                    ],
                )
            for p in polls:
                if p.redirect_url is None:
                    continue
                # A 304 may not say whether it was redirected; one that was moves the source.
                current = self._lock_source(conn, p.source_id)
                values: dict[str, Any] = {
                    "last_polled_at": _aware(p.now),
                    "last_success_at": _aware(p.now),
                    "consecutive_errors": 0,
                    "next_due_at": _aware(p.next_due_at, "next_due_at"),
                    "not_before_at": _aware_opt(p.not_before, "not_before"),
                    "lease_owner": None,
                    "lease_until": None,
                    **_redirect_values(current, p.redirect_url),
                }
                if p.etag is not None:
                    values["etag"] = _clean(p.etag)
                if p.last_modified is not None:
                    values["last_modified"] = _clean(p.last_modified)
                conn.execute(update(_SOURCE).where(_SOURCE.c.id == p.source_id).values(**values))

    def record_failure(
        self,
        source_id: str,
        now: datetime,
        error: str,
        kind: str,
        next_due_at: datetime,
        *,
        not_before: datetime | None = None,
    ) -> None:
        """A poll that failed: `error` is the sentence to show, `kind` a short class of it
        (e.g. http, network, parse), `not_before` a server's Retry-After floor."""
        now = _aware(now)
        with self._guard("write to"), self._write() as conn:
            self._lock_source(conn, source_id)
            conn.execute(
                update(_SOURCE)
                .where(_SOURCE.c.id == source_id)
                .values(
                    last_polled_at=now,
                    last_error=_clean(error),
                    last_error_kind=_clean(kind),
                    last_error_at=now,
                    consecutive_errors=_SOURCE.c.consecutive_errors + 1,
                    next_due_at=_aware(next_due_at, "next_due_at"),
                    not_before_at=_aware_opt(not_before, "not_before"),
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def ingest(
        self,
        source_id: str,
        entries: Sequence[Entry],
        hits_by_entry_id: Mapping[str, Sequence[Hit]],
        fingerprint: str,
        now: datetime,
        outcome: Polled,
        near_keys: Mapping[str, int] | None = None,
    ) -> IngestReport:
        """Store one successful poll of a source in one transaction (see the module docstring).
        `near_keys` are near-duplicate keys by entry id, when the caller computed them already (the
        poller's parser processes do); the others are computed here."""
        now = _aware(now)
        incoming: dict[str, _Incoming] = {}
        for entry in entries:
            key = _clean(entry.id)
            if key in incoming:
                continue
            title, summary = _clean(entry.title), _clean(entry.summary)
            hits = list(hits_by_entry_id.get(entry.id, ()))
            incoming[key] = _Incoming(entry, title, summary, _content_hash(title, summary), hits,
                                      near_keys.get(entry.id) if near_keys else None)

        with self._guard("write to"), self._write() as conn:
            current = self._lock_source(conn, source_id)
            existing: dict[str, Mapping[str, Any]] = {}
            keys = list(incoming)
            for chunk in _chunks(keys):
                for row in conn.execute(_KNOWN, {"b_source": source_id, "b_keys": chunk}):
                    existing[row.key] = dict(row._mapping)

            new_rows: list[dict[str, Any]] = []
            row_updates: list[dict[str, Any]] = []
            rehit: list[tuple[int, list[Hit]]] = []
            updated_pks: list[int] = []
            unchanged = 0
            for key, item in incoming.items():
                e = item.entry
                published = None if e.published is None else _aware(e.published, "published")
                fields = {
                    "guid": _clean_opt(e.guid),
                    "link": _clean_opt(e.link),
                    "language": _clean_opt(e.language),
                    "published_at": published,
                }
                old = existing.get(key)
                if old is None:
                    new_rows.append(
                        {
                            "source": source_id,
                            "key": key,
                            "first_seen_at": now,
                            "updated_at": now,
                            "when_at": published or now,
                            "cluster_id": None,
                            "hits_fingerprint": fingerprint,
                            **fields,
                            **_text_columns(item),
                        }
                    )
                    continue
                pk = old["pk"]
                text_changed = old["content_hash"] != item.content_hash
                meta_changed = any(old[name] != value for name, value in fields.items())
                if text_changed or meta_changed:
                    when = published or old["first_seen_at"]
                    row_updates.append(
                        {"b_pk": pk, "updated_at": now, "when_at": when, **fields}
                        | _text_columns(item)
                    )
                    updated_pks.append(pk)
                else:
                    unchanged += 1
                if text_changed or old["hits_fingerprint"] != fingerprint:
                    rehit.append((pk, item.hits))

            if row_updates:
                names = [k for k in row_updates[0] if k != "b_pk"]
                conn.execute(
                    update(_ENTRY)
                    .where(_ENTRY.c.pk == bindparam("b_pk"))
                    .values({n: bindparam(f"v_{n}") for n in names}),
                    [
                        {f"v_{k}" if k != "b_pk" else k: v for k, v in u.items()}
                        for u in row_updates
                    ],
                )
            if rehit:
                self._replace_hits(conn, rehit, fingerprint)

            new_pks: list[int] = []
            if new_rows:
                result = conn.execute(_INSERT_ENTRIES, new_rows)
                pk_by_key = {r.key: r.pk for r in result}
                new_pks = [pk_by_key[values["key"]] for values in new_rows]
                hit_rows: list[dict[str, Any]] = []
                for pk, values in zip(new_pks, new_rows, strict=True):
                    hit_rows.extend(_hit_rows(pk, incoming[values["key"]].hits, fingerprint))
                if hit_rows:
                    conn.execute(insert(_HIT), hit_rows)
                self._assign_clusters(conn, source_id, new_pks, new_rows)

            # The row is locked (and on SQLite the database), so its entry count is current.
            conn.execute(_UPDATE_SOURCE, {
                "b_id": source_id,
                "etag": _clean_opt(outcome.etag),
                "last_modified": _clean_opt(outcome.last_modified),
                "feed_title": _clean_opt(outcome.feed_title) or current["feed_title"],
                "last_polled_at": now,
                "last_success_at": now,
                "consecutive_errors": 0,
                "next_due_at": _aware(outcome.next_due_at, "next_due_at"),
                "not_before_at": _aware_opt(outcome.not_before, "not_before"),
                "entry_count": current["entry_count"] + len(new_rows),
                "last_fetched": len(incoming),
                "lease_owner": None,
                "lease_until": None,
                **_redirect_values(current, outcome.redirect_url),
            })
            if incoming:
                self._put_meta(conn, "rules_fingerprint", fingerprint)
        return IngestReport(
            new=len(new_rows),
            updated=len(updated_pks),
            unchanged=unchanged,
            new_pks=tuple(new_pks),
            updated_pks=tuple(updated_pks),
        )

    def _assign_clusters(
        self, conn: Connection, source_id: str, pks: list[int], rows: list[dict[str, Any]]
    ) -> None:
        e = _ENTRY.c
        band_columns = (e.band0, e.band1, e.band2, e.band3)
        keyed = [(pk, row) for pk, row in zip(pks, rows, strict=True) if row["simhash"]]
        # Candidates for a whole chunk of new entries come from one query, then are matched to
        # each entry in Python: per-entry queries cost more in statement overhead than in I/O.
        by_band: list[dict[int, list[_Candidate]]] = [{}, {}, {}, {}]
        for chunk in _chunks(keyed, _CHUNK // 4):
            earliest = min(row["when_at"] for _, row in chunk) - CLUSTER_WINDOW
            latest = max(row["when_at"] for _, row in chunk) + CLUSTER_WINDOW
            near = conn.execute(_CANDIDATES, {
                **{f"b_{col.name}": list({row[col.name] for _, row in chunk})
                   for col in band_columns},
                "b_source": source_id,
                "b_earliest": earliest,
                "b_latest": latest,
                "b_limit": _MAX_CANDIDATES * len(chunk),
            })
            for pk, key, cluster_id, when, *band_values in near:
                candidate = _Candidate(pk, key, cluster_id, when)
                for position, value in enumerate(band_values):
                    by_band[position].setdefault(value, []).append(candidate)

        nearest: dict[int, list[tuple[int, int]]] = {}  # new pk -> [(distance, cluster id)]
        for pk, row in keyed:
            key, when = row["simhash"], row["when_at"]
            found = {
                c.pk: c
                for position, col in enumerate(band_columns)
                for c in by_band[position].get(row[col.name], ())
            }
            ranked = sorted(
                (clusters.distance(key, c.simhash), c.cluster_id)
                for c in found.values()
                if abs(c.when - when) <= CLUSTER_WINDOW and clusters.near(key, c.simhash)
            )
            if ranked:
                nearest[pk] = ranked

        # Clusters that already hold an entry of this source are closed to it.
        wanted = sorted({cid for ranked in nearest.values() for _, cid in ranked})
        closed: set[int] = set()
        for ids in _chunks(wanted):
            query = select(e.cluster_id).where(e.source == source_id, e.cluster_id.in_(ids))
            closed.update(conn.execute(query.distinct()).scalars())
        assigned = []
        alone = []
        for pk in pks:
            cluster = next((cid for _, cid in nearest.get(pk, ()) if cid not in closed), pk)
            closed.add(cluster)
            if cluster == pk:
                alone.append(pk)
            else:
                assigned.append({"b_pk": pk, "b_cluster": cluster})
        # Most new entries start a cluster of their own: one statement sets them all.
        for some in _chunks(alone):
            conn.execute(update(_ENTRY).where(e.pk.in_(some)).values(cluster_id=e.pk))
        if assigned:
            conn.execute(
                update(_ENTRY)
                .where(e.pk == bindparam("b_pk"))
                .values(cluster_id=bindparam("b_cluster")),
                assigned,
            )

    # --- leases -------------------------------------------------------------------------------

    def lease_due(
        self, worker_id: str, now: datetime, limit: int, lease_seconds: float
    ) -> list[SourceState]:
        """Lease up to `limit` due, active sources to `worker_id`, most overdue first."""
        now = _aware(now)
        if limit <= 0:
            return []
        s = _SOURCE.c
        due = and_(
            s.active.is_(True),
            or_(s.next_due_at.is_(None), s.next_due_at <= now),
            or_(s.not_before_at.is_(None), s.not_before_at <= now),
            # Live leases are skipped even when they are this worker's own: it is polling them.
            or_(s.lease_until.is_(None), s.lease_until <= now),
        )
        query = (
            select(s.id)
            .where(due)
            .order_by(s.next_due_at.asc().nulls_first(), s.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._guard("write to"), self._write() as conn:
            ids = list(conn.execute(query).scalars())
            return self._take(conn, ids, worker_id, now, lease_seconds)

    def lease(
        self,
        source_ids: Sequence[str],
        worker_id: str,
        now: datetime,
        lease_seconds: float,
        force: bool = False,
    ) -> list[SourceState]:
        """Lease the named sources whether due or not (an explicit poll); sources leased to
        another worker are left out unless `force`, and unknown ids are left out."""
        now = _aware(now)
        s = _SOURCE.c
        with self._guard("write to"), self._write() as conn:
            ids: list[str] = []
            for chunk in _chunks(list(dict.fromkeys(source_ids))):
                query = select(s.id).where(s.id.in_(chunk))
                if not force:
                    query = query.where(
                        or_(
                            s.lease_until.is_(None),
                            s.lease_until <= now,
                            s.lease_owner == worker_id,
                        )
                    )
                ids.extend(conn.execute(query.with_for_update(skip_locked=not force)).scalars())
            order = {sid: i for i, sid in enumerate(source_ids)}
            ids.sort(key=order.__getitem__)
            return self._take(conn, ids, worker_id, now, lease_seconds)

    def _take(
        self, conn: Connection, ids: list[str], worker_id: str, now: datetime, seconds: float
    ) -> list[SourceState]:
        if not ids:
            return []
        until = now + timedelta(seconds=seconds)
        states: dict[str, SourceState] = {}
        for chunk in _chunks(ids):
            conn.execute(
                update(_SOURCE)
                .where(_SOURCE.c.id.in_(chunk))
                .values(lease_owner=worker_id, lease_until=until)
            )
            for row in conn.execute(select(_SOURCE).where(_SOURCE.c.id.in_(chunk))):
                states[row.id] = _source_state(row)
        return [states[i] for i in ids]

    def release(self, source_id: str, worker_id: str) -> bool:
        """End `worker_id`'s lease on a source early; False if it did not hold one."""
        with self._guard("write to"), self._write() as conn:
            result = conn.execute(
                update(_SOURCE)
                .where(_SOURCE.c.id == source_id, _SOURCE.c.lease_owner == worker_id)
                .values(lease_owner=None, lease_until=None)
            )
            return bool(result.rowcount)

    # --- evidence: reading ----------------------------------------------------------------------

    def entries(
        self,
        *,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[StoredEntry]:
        """Entries by the time they count from (published, else first seen), `since` <= t <
        `until`."""
        e = _ENTRY.c
        query = select(*_ENTRY_COLUMNS)
        if source is not None:
            query = query.where(e.source == source)
        if since is not None:
            query = query.where(e.when_at >= _aware(since, "since"))
        if until is not None:
            query = query.where(e.when_at < _aware(until, "until"))
        if newest_first:
            query = query.order_by(e.when_at.desc(), e.pk.desc())
        else:
            query = query.order_by(e.when_at, e.pk)
        if limit is not None:
            query = query.limit(limit)
        with self._guard("read"), self._read() as conn:
            return [_stored_entry(r) for r in conn.execute(query)]

    def iter_entries(
        self, batch_size: int = 1000, *, source: str | None = None
    ) -> Iterator[list[StoredEntry]]:
        """Every entry in pk order, in batches each read in its own short transaction."""
        condition = None if source is None else _ENTRY.c.source == source
        return self._batches(condition, batch_size)

    def stale_entries(
        self, fingerprint: str, batch_size: int = 1000
    ) -> Iterator[list[StoredEntry]]:
        """Entries whose hits came from other rules (or none yet), in pk-ordered batches; safe
        to `replace_hits` batch by batch while iterating."""
        e = _ENTRY.c
        condition = or_(e.hits_fingerprint.is_(None), e.hits_fingerprint != fingerprint)
        return self._batches(condition, batch_size)

    def _batches(self, condition: Any, batch_size: int) -> Iterator[list[StoredEntry]]:
        last = 0
        while True:
            query = select(*_ENTRY_COLUMNS).where(_ENTRY.c.pk > last)
            if condition is not None:
                query = query.where(condition)
            query = query.order_by(_ENTRY.c.pk).limit(batch_size)
            with self._guard("read"), self._read() as conn:
                batch = [_stored_entry(r) for r in conn.execute(query)]
            if not batch:
                return
            yield batch
            last = batch[-1].pk

    def entry_by_pk(self, pk: int) -> StoredEntry | None:
        return self.entries_by_pk([pk]).get(pk)

    def entries_by_pk(self, pks: Iterable[int]) -> dict[int, StoredEntry]:
        wanted = sorted(set(pks))
        out: dict[int, StoredEntry] = {}
        with self._guard("read"), self._read() as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(select(*_ENTRY_COLUMNS).where(_ENTRY.c.pk.in_(chunk))):
                    stored = _stored_entry(row)
                    out[stored.pk] = stored
        return out

    def hits_since(
        self,
        since: datetime,
        until: datetime | None = None,
        indicators: Iterable[str] | None = None,
    ) -> list[StoredHit]:
        """Hits of entries that count from `since` <= t < `until`, oldest first."""
        e = _ENTRY.c
        query = (
            select(*_HIT_COLUMNS)
            .join_from(_HIT, _ENTRY, _HIT.c.entry_pk == e.pk)
            .where(e.when_at >= _aware(since, "since"))
        )
        if until is not None:
            query = query.where(e.when_at < _aware(until, "until"))
        if indicators is not None:
            query = query.where(_HIT.c.indicator.in_(sorted(set(indicators))))
        query = query.order_by(e.when_at, e.pk, _HIT.c.indicator)
        with self._guard("read"), self._read() as conn:
            return [_stored_hit(r) for r in conn.execute(query)]

    def scored_hits_since(self, since: datetime, until: datetime | None = None
                          ) -> list[ScoredHit]:
        """Hits of entries that count from `since` <= t < `until`, with only the columns
        scoring reads, in one query: `hits_since` plus `entries_by_pk` without the terms'
        JSON, the summaries or a second round trip. Oldest first."""
        e, h = _ENTRY.c, _HIT.c
        query = (
            select(h.entry_pk, h.indicator, h.value, h.label, e.source, e.cluster_id,
                   e.when_at, e.title)
            .join_from(_HIT, _ENTRY, h.entry_pk == e.pk)
            .where(e.when_at >= _aware(since, "since"))
        )
        if until is not None:
            query = query.where(e.when_at < _aware(until, "until"))
        query = query.order_by(e.when_at, e.pk, h.indicator)
        with self._guard("read"), self._read() as conn:
            return [ScoredHit(*row) for row in conn.execute(query)]

    # --- bulk reads for scoring (monitor/ledger.py) --------------------------------------------

    def scoring_batches(self, since: datetime, after_hit: int = 0,
                        batch: int | None = None) -> Iterator[ScoringRows]:
        """The hits with id > `after_hit` of entries that count from `since` on, in bulk (a
        million hits are one row per entry, times as integers, no datetime per row), in
        parts of the entries' keys `batch` wide (None: `SCORING_BATCH`; 0: one part) read in
        one transaction, each with the hits of its entries: a first read of a million hits
        never holds them all as Python rows at once (that doubled the peak memory of a
        dashboard). A read after a hit is one part. Every part has the same `last_hit`."""
        e, h = _ENTRY.c, _HIT.c
        if self._sqlite:
            # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC): whole seconds, then the
            # microseconds, both exact (strftime would round a fraction to the second).
            micros: Any = (cast_(func.strftime("%s", func.substr(e.when_at, 1, 19)), BigInteger)
                           * 1_000_000
                           + cast_(func.substr(e.when_at, 21, 6), BigInteger))
            joined: Any = func.group_concat(h.indicator, " ")
        else:
            micros = cast_(func.extract("epoch", e.when_at) * 1_000_000, BigInteger)
            joined = func.string_agg(h.indicator, " ")
        recent = e.when_at >= _aware(since, "since")
        plain = and_(h.value.is_(None), h.label.is_(None))
        with self._guard("read"), self._read() as conn:
            last = conn.execute(select(func.max(h.id))).scalar() or 0
            # Entries of `since` on all have a pk from the first of them on: hits of older
            # entries are skipped without a join (the caller drops any hit whose entry it
            # was not given).
            first = conn.execute(select(func.min(e.pk)).where(recent)).scalar()
            if first is None or last <= after_hit:
                yield ScoringRows([], [], [], max(last, after_hit))
                return
            wanted = and_(h.id > after_hit, h.id <= last)
            parts: Iterable[tuple[Any, Any]]
            if after_hit:
                # The entries of a later read's few hits, found by hit id alone (a range of
                # entry keys would have the database scan the hits).
                hits_in = and_(wanted, h.entry_pk >= first)
                parts = [(hits_in, e.pk.in_(select(h.entry_pk).where(hits_in)))]
            else:
                top = conn.execute(select(func.max(e.pk))).scalar() or first
                size = SCORING_BATCH if batch is None else batch
                step = size if size > 0 else top - first + 1
                parts = ((and_(wanted, h.entry_pk >= lo, h.entry_pk < lo + step),
                          and_(e.pk >= lo, e.pk < lo + step))
                         for lo in range(first, top + 1, step))
            for hits_in, keys in parts:
                entries = select(e.pk, e.source, e.cluster_id, micros, e.title).where(recent,
                                                                                     keys)
                grouped = select(h.entry_pk, joined).where(hits_in, plain).group_by(h.entry_pk)
                valued = select(h.entry_pk, h.indicator, h.value, h.label).where(hits_in,
                                                                                  ~plain)
                # fetchall: one call into the driver, not one per row (a third of the time).
                yield ScoringRows(
                    cast(list[tuple[int, str, int, int, str]], conn.execute(entries).all()),
                    cast(list[tuple[int, str]], conn.execute(grouped).all()),
                    cast(list[tuple[int, str, float | None, str | None]],
                         conn.execute(valued).all()),
                    last,
                )

    def hit_marks(self, after_hit: int = 0) -> tuple[int, int, int]:
        """(how many times stored hits were replaced, largest hit id, hits with id >
        `after_hit`): hits were only added since a read up to `after_hit` while the first
        stays the same. Re-matching and edited entries replace hits; nothing else removes
        any. Cheap at any size: no count of the table (40 ms at a million hits in SQLite)."""
        h = _HIT.c
        with self._guard("read"), self._read() as conn:
            replaced = conn.execute(_META_VALUE, {"b_key": _HITS_REPLACED}).scalar()
            # One aggregate per query (see `change_marker`): a lone max() of the key is
            # answered at once.
            top = conn.execute(select(func.max(h.id))).scalar()
            newer = conn.execute(select(func.count()).where(h.id > after_hit)).scalar()
        return int(replaced or 0), int(top or 0), int(newer or 0)

    def hits_for(self, entry_pks: Iterable[int]) -> dict[int, list[StoredHit]]:
        """The hits of the given entries (entries without hits are absent)."""
        out: dict[int, list[StoredHit]] = {}
        with self._guard("read"), self._read() as conn:
            for chunk in _chunks(sorted(set(entry_pks))):
                query = (
                    select(*_HIT_COLUMNS)
                    .join_from(_HIT, _ENTRY, _HIT.c.entry_pk == _ENTRY.c.pk)
                    .where(_HIT.c.entry_pk.in_(chunk))
                    .order_by(_HIT.c.entry_pk, _HIT.c.indicator)
                )
                for row in conn.execute(query):
                    hit = _stored_hit(row)
                    out.setdefault(hit.entry_pk, []).append(hit)
        return out

    def last_fired(self, indicators: Iterable[str], until: datetime) -> dict[str, datetime]:
        """Indicator -> the time of its latest hit counting from before `until`, leaving out
        hits marked false (indicators that never fired are absent)."""
        e, h, f = _ENTRY.c, _HIT.c, _FEEDBACK.c
        marked = and_(f.entry_pk == h.entry_pk, f.indicator == h.indicator,
                      f.verdict == "false")
        query = (
            select(h.indicator, func.max(e.when_at))
            .select_from(_HIT.join(_ENTRY, h.entry_pk == e.pk).outerjoin(_FEEDBACK, marked))
            .where(h.indicator.in_(sorted(set(indicators))), e.when_at <= _aware(until, "until"),
                   f.id.is_(None))
            .group_by(h.indicator)
        )
        with self._guard("read"), self._read() as conn:
            return {ind: when for ind, when in conn.execute(query) if when is not None}

    def counts(self) -> StoreCounts:
        with self._guard("read"), self._read() as conn:
            sources, active = conn.execute(
                select(func.count(), func.count().filter(_SOURCE.c.active.is_(True)))
            ).one()
            entries, cluster_count = conn.execute(
                select(func.count(), func.count(_ENTRY.c.cluster_id.distinct()))
            ).one()
            hits = conn.execute(select(func.count()).select_from(_HIT)).scalar_one()
        return StoreCounts(sources, active, entries, hits, cluster_count)

    def change_marker(self) -> tuple[str, ...]:
        """A cheap fingerprint of what scores depend on (entries, hits, verdicts, recorded
        alerts): it differs whenever another process has ingested, re-matched, marked or
        recorded since it was last read, so a reader re-scores only then."""
        # Counts see deletions (re-matching drops hits, an undone verdict drops a row); the
        # highest ids see insertions, also where a delete and an insert leave a count as it
        # was. SQLite may give a replaced newest hit its old id again, so the newest hit is
        # read whole, and re-matching shows by the rules fingerprint; a re-marked hit changes
        # `at`. An edit that leaves an entry's hits as they were, or only moves its date, is
        # not seen: readers re-score now and then anyway. One aggregate per query: SQLite
        # answers a lone max() of a key from its index and a lone count() from the smallest
        # index, but scans the table for both together, or for max(updated_at) (15-20 ms
        # instead of 1 ms at 100,000 hits).
        e, h, f, s = _ENTRY.c, _HIT.c, _FEEDBACK.c, _SNAPSHOT.c
        queries = [
            select(func.count()).select_from(_ENTRY), select(func.max(e.pk)),
            select(func.count()).select_from(_HIT),
            select(_META.c.value).where(_META.c.key == "rules_fingerprint"),
            select(func.count()).select_from(_FEEDBACK), select(func.max(f.id)),
            select(func.max(f.at)),
            select(func.count()).select_from(_SNAPSHOT), select(func.max(s.id)),
        ]
        newest_hit = (select(h.id, h.entry_pk, h.indicator, h.terms, h.value, h.label)
                      .order_by(h.id.desc()).limit(1))
        with self._guard("read"), self._read() as conn:
            marker = [str(conn.execute(q).scalar()) for q in queries]
            marker.append(str(conn.execute(newest_hit).first()))
        return tuple(marker)

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        with self._guard("read"), self._read() as conn:
            query = select(_META.c.value).where(_META.c.key == "schema_version")
            return int(conn.execute(query).scalar_one())

    def rules_fingerprint(self) -> str | None:
        """The fingerprint of the rules that last wrote hits."""
        with self._guard("read"), self._read() as conn:
            query = select(_META.c.value).where(_META.c.key == "rules_fingerprint")
            return conn.execute(query).scalar_one_or_none()

    # --- analyst feedback -----------------------------------------------------------------------

    def mark_false(
        self, entry_pk: int, indicator: str, note: str, who: str, now: datetime
    ) -> None:
        """Record that the entry's hit for `indicator` is false; marking again replaces the
        note, who and when. StoreError if the entry does not exist."""
        now = _aware(now)
        values = {"entry_pk": entry_pk, "indicator": _clean(indicator), "verdict": "false",
                  "note": _clean(note), "who": _clean(who), "at": now}
        with self._guard("write to"), self._write() as conn:
            found = conn.execute(select(_ENTRY.c.pk).where(_ENTRY.c.pk == entry_pk)).scalar()
            if found is None:
                raise StoreError(f"The database at {self.url} has no entry {entry_pk}.")
            conn.execute(
                self._insert(_FEEDBACK)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=["entry_pk", "indicator"],
                    set_={k: values[k] for k in ("verdict", "note", "who", "at")},
                )
            )
            self._count(conn, _VERDICTS_CHANGED)

    def unmark(self, entry_pk: int, indicator: str) -> bool:
        """Withdraw the verdict on the entry's hit for `indicator`; False if there was none."""
        f = _FEEDBACK.c
        with self._guard("write to"), self._write() as conn:
            result = conn.execute(
                delete(_FEEDBACK).where(f.entry_pk == entry_pk, f.indicator == indicator)
            )
            if result.rowcount:
                self._count(conn, _VERDICTS_CHANGED)
            return bool(result.rowcount)

    def false_hits(self) -> frozenset[tuple[int, str]]:
        """(entry pk, indicator) of every hit marked false: what scoring leaves out."""
        f = _FEEDBACK.c
        query = select(f.entry_pk, f.indicator).where(f.verdict == "false")
        with self._guard("read"), self._read() as conn:
            # Read again only when they changed (a dashboard asks at every refresh): the
            # count of changes, and the verdicts' number and largest id for a writer that
            # does not count them.
            marker = (conn.execute(_META_VALUE, {"b_key": _VERDICTS_CHANGED}).scalar(),
                      *conn.execute(select(func.count(), func.max(f.id))).one())
            kept = self._false_kept
            if kept is not None and kept[0] == marker:
                return kept[1]
            found = frozenset((pk, ind) for pk, ind in conn.execute(query))
        self._false_kept = (marker, found)
        return found

    def feedback(self) -> list[Feedback]:
        """Every verdict, oldest first."""
        f = _FEEDBACK.c
        query = select(f.entry_pk, f.indicator, f.verdict, f.note, f.who, f.at).order_by(
            f.at, f.id
        )
        with self._guard("read"), self._read() as conn:
            return [Feedback(*row) for row in conn.execute(query)]

    def indicator_stats(self, fingerprint: str | None = None) -> dict[str, IndicatorStats]:
        """Indicator -> its stored hits (only those from `fingerprint`'s rules, if given) and
        how many of them are marked false. Verdicts on hits the rules no longer find do not
        count: they would push precision below zero."""
        h, f = _HIT.c, _FEEDBACK.c
        marked = and_(f.entry_pk == h.entry_pk, f.indicator == h.indicator,
                      f.verdict == "false")
        query = (
            select(h.indicator, func.count(), func.count(f.id))
            .select_from(_HIT.outerjoin(_FEEDBACK, marked))
            .group_by(h.indicator)
        )
        if fingerprint is not None:
            query = query.where(h.fingerprint == fingerprint)
        with self._guard("read"), self._read() as conn:
            return {ind: IndicatorStats(hits, false) for ind, hits, false in conn.execute(query)}

    # --- score history -------------------------------------------------------------------------

    def save_snapshots(self, rows: Iterable[tuple[str, float, float, bool]], now: datetime
                       ) -> int:
        """Record (scenario, level, evidence, alert) rows as the scores at `now`, in one
        transaction; a scenario already recorded at `now` is overwritten. Returns the rows
        written."""
        now = _aware(now)
        values = [{"scenario": _clean(sc), "at": now, "level": float(level),
                   "evidence": float(ev), "alert": bool(alert)}
                  for sc, level, ev, alert in rows]
        if not values:
            return 0
        stmt = self._insert(_SNAPSHOT)
        stmt = stmt.on_conflict_do_update(
            index_elements=["scenario", "at"],
            set_={k: stmt.excluded[k] for k in ("level", "evidence", "alert")},
        )
        with self._guard("write to"), self._write() as conn:
            conn.execute(stmt, values)
        return len(values)

    def snapshots(self, scenario: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> list[Snapshot]:
        """Recorded scores with `since` <= at < `until`, by scenario then time."""
        s = _SNAPSHOT.c
        query = select(s.scenario, s.at, s.level, s.evidence, s.alert)
        if scenario is not None:
            query = query.where(s.scenario == scenario)
        if since is not None:
            query = query.where(s.at >= _aware(since, "since"))
        if until is not None:
            query = query.where(s.at < _aware(until, "until"))
        query = query.order_by(s.scenario, s.at)
        with self._guard("read"), self._read() as conn:
            return [Snapshot(sc, at, level, ev, bool(alert))
                    for sc, at, level, ev, alert in conn.execute(query)]

    def latest_snapshots(self, scenarios: Iterable[str], until: datetime | None = None
                         ) -> dict[str, Snapshot]:
        """Each scenario's latest recorded score at or before `until` (default: the latest
        of all); scenarios without one are absent. One indexed lookup per scenario: the
        history holds a reading every few minutes, far too many to read whole."""
        s = _SNAPSHOT.c
        out: dict[str, Snapshot] = {}
        with self._guard("read"), self._read() as conn:
            for scenario in scenarios:
                query = (select(s.scenario, s.at, s.level, s.evidence, s.alert)
                         .where(s.scenario == scenario))
                if until is not None:
                    query = query.where(s.at <= _aware(until, "until"))
                row = conn.execute(query.order_by(s.at.desc()).limit(1)).first()
                if row is not None:
                    sc, at, level, ev, alert = row
                    out[sc] = Snapshot(sc, at, level, ev, bool(alert))
        return out

    def last_alerts(self) -> dict[str, bool]:
        """Scenario -> the alert state of its latest snapshot (what hysteresis starts from)."""
        s = _SNAPSHOT.c
        latest = (
            select(s.scenario, func.max(s.at).label("at")).group_by(s.scenario).subquery()
        )
        query = select(s.scenario, s.alert).join(
            latest, and_(s.scenario == latest.c.scenario, s.at == latest.c.at)
        )
        with self._guard("read"), self._read() as conn:
            return {sc: bool(alert) for sc, alert in conn.execute(query)}

    # --- digests and alert emails ----------------------------------------------------------

    def record_digest(self, at: datetime, since: datetime, sent_at: datetime,
                      recipients: Sequence[str], subject: str,
                      levels: Mapping[str, tuple[float, bool]],
                      reported: Iterable[tuple[int, str]]) -> int:
        """Record a digest the mail server accepted, with each scenario's (level, alert) at
        delivery and the (entry pk, indicator) hits it reported, in one transaction. A hit
        already reported stays with its first digest. Returns the digest's id."""
        values = {
            "at": _aware(at, "at"), "since": _aware(since, "since"),
            "sent_at": _aware(sent_at, "sent_at"),
            "recipients": json.dumps([_clean(r) for r in recipients], ensure_ascii=False),
            "subject": _clean(subject),
            "levels": json.dumps({_clean(k): {"level": float(lv), "alert": bool(al)}
                                  for k, (lv, al) in levels.items()}, ensure_ascii=False),
        }
        pairs = sorted(set(reported))
        with self._guard("write to"), self._write() as conn:
            digest_id = int(conn.execute(insert(_DIGEST).values(**values)
                                         .returning(_DIGEST.c.id)).scalar_one())
            if pairs:
                # Entries deleted since the digest was composed have nothing left to report.
                known: set[int] = set()
                for chunk in _chunks(sorted({pk for pk, _ in pairs})):
                    known.update(conn.execute(
                        select(_ENTRY.c.pk).where(_ENTRY.c.pk.in_(chunk))).scalars())
                rows = [{"digest_id": digest_id, "entry_pk": pk, "indicator": _clean(ind)}
                        for pk, ind in pairs if pk in known]
                if rows:
                    conn.execute(self._insert(_DIGEST_ITEM).on_conflict_do_nothing(
                        index_elements=["entry_pk", "indicator"]), rows)
        return digest_id

    def last_digest(self) -> DeliveredDigest | None:
        """The latest delivered digest (by its `at`), or None before the first."""
        d = _DIGEST.c
        query = select(_DIGEST).order_by(d.at.desc(), d.id.desc()).limit(1)
        with self._guard("read"), self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _delivered(row)

    def digests(self) -> list[DeliveredDigest]:
        """Every delivered digest, oldest first."""
        d = _DIGEST.c
        with self._guard("read"), self._read() as conn:
            return [_delivered(r) for r in conn.execute(select(_DIGEST).order_by(d.at, d.id))]

    def reported_hits(self, entry_pks: Iterable[int]) -> frozenset[tuple[int, str]]:
        """(entry pk, indicator) of the given entries' hits some delivered digest reported."""
        i = _DIGEST_ITEM.c
        out: set[tuple[int, str]] = set()
        with self._guard("read"), self._read() as conn:
            for chunk in _chunks(sorted(set(entry_pks))):
                query = select(i.entry_pk, i.indicator).where(i.entry_pk.in_(chunk))
                out.update((pk, ind) for pk, ind in conn.execute(query))
        return frozenset(out)

    def record_alert(self, scenario: str, crossing_at: datetime, level: float,
                     recipients: Sequence[str], message: str) -> bool:
        """Record an alert crossing's email as pending; False if that crossing (scenario and
        moment) was recorded already, so one crossing is mailed once."""
        values = {"scenario": _clean(scenario), "crossing_at": _aware(crossing_at, "crossing_at"),
                  "level": float(level), "status": "pending", "attempts": 0,
                  "recipients": json.dumps([_clean(r) for r in recipients], ensure_ascii=False),
                  "message": _clean(message)}
        # RETURNING says whether the row went in: rowcount after ON CONFLICT DO NOTHING came
        # back 1 for a conflict on PostgreSQL through SQLAlchemy.
        stmt = self._insert(_ALERT_EMAIL).values(**values).on_conflict_do_nothing(
            index_elements=["scenario", "crossing_at"]).returning(_ALERT_EMAIL.c.id)
        with self._guard("write to"), self._write() as conn:
            return conn.execute(stmt).first() is not None

    def alert_emails(self, status: str | None = None) -> list[AlertEmail]:
        """Alert emails (only those with `status`, if given), oldest crossing first."""
        a = _ALERT_EMAIL.c
        query = select(_ALERT_EMAIL).order_by(a.crossing_at, a.id)
        if status is not None:
            query = query.where(a.status == status)
        with self._guard("read"), self._read() as conn:
            rows = conn.execute(query).all()
        return [AlertEmail(r.id, r.scenario, r.crossing_at, r.level,
                           tuple(json.loads(r.recipients)), r.message, r.status, r.attempts,
                           r.last_error, r.sent_at) for r in rows]

    def mark_alert(self, alert_id: int, status: str, now: datetime,
                   error: str | None = None) -> None:
        """Record one delivery attempt of an alert email: `sent`, still `pending` after a
        failure (`error` says why), or `expired`."""
        if status not in ("pending", "sent", "expired"):
            raise ValueError(f"unknown alert email status {status!r}")
        a = _ALERT_EMAIL.c
        values: dict[str, Any] = {"status": status, "attempts": a.attempts + 1,
                                  "last_error": _clean_opt(error)}
        if status == "sent":
            values["sent_at"] = _aware(now)
        with self._guard("write to"), self._write() as conn:
            conn.execute(update(_ALERT_EMAIL).where(a.id == alert_id).values(**values))

    # --- evidence: re-matching ------------------------------------------------------------------

    def replace_hits(self, batch: Sequence[tuple[int, Sequence[Hit]]], fingerprint: str) -> None:
        """Replace the hits of each (entry pk, hits) pair and mark them computed with
        `fingerprint`, in one transaction."""
        if not batch:
            return
        with self._guard("write to"), self._write() as conn:
            self._replace_hits(conn, batch, fingerprint)
            self._put_meta(conn, "rules_fingerprint", fingerprint)

    def _count(self, conn: Connection, key: str) -> None:
        """Add one to the meta counter `key`."""
        conn.execute(self._insert(_META).values(key=key, value="1")
                     .on_conflict_do_update(index_elements=["key"], set_={
                         "value": cast_(cast_(_META.c.value, Integer) + 1, Text)}))

    def _replace_hits(
        self, conn: Connection, batch: Sequence[tuple[int, Sequence[Hit]]], fingerprint: str
    ) -> None:
        pks = [pk for pk, _ in batch]
        rows: list[dict[str, Any]] = []
        for pk, hits in batch:
            rows.extend(_hit_rows(pk, hits, fingerprint))
        # Counted in the same transaction, in one row update (concurrent writers queue on
        # the row), so a reader of `hit_marks` sees every replacement.
        self._count(conn, _HITS_REPLACED)
        for chunk in _chunks(pks):
            conn.execute(delete(_HIT).where(_HIT.c.entry_pk.in_(chunk)))
            conn.execute(
                update(_ENTRY).where(_ENTRY.c.pk.in_(chunk)).values(hits_fingerprint=fingerprint)
            )
        if rows:
            conn.execute(insert(_HIT), rows)


__all__ = [
    "CLUSTER_WINDOW",
    "REDIRECT_CONFIRMATIONS",
    "SCHEMA_VERSION",
    "AlertEmail",
    "DeliveredDigest",
    "FeedLike",
    "Feedback",
    "IndicatorStats",
    "Polled",
    "ScoredHit",
    "ScoringRows",
    "Snapshot",
    "IngestReport",
    "SourceState",
    "SourceSync",
    "Store",
    "StoreCounts",
    "StoredEntry",
    "StoredHit",
    "default_url",
]
