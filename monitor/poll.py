"""One polling pass: decide what to poll, fetch it, match it, store it.

The decisions are pure (`skip_reason`, `next_due`): what a pass polls and when a feed is due
again are functions of the stored state, the configuration and `now`. Only `poll_once` and
`rematch` act: they lease feeds from the store (so several pollers on one PostgreSQL never poll
a feed twice), fetch them concurrently, match every entry with the rules and commit each
feed's result in its own transaction. Errors are values: one feed's failure is an outcome in
the report, never the end of a pass.

Scheduling policy (the numbers are `Schedule` fields):
- a healthy feed is due again `every` later, give or take `jitter` (default 10%), so feeds
  configured alike spread out instead of hitting their servers in step;
- a floor the server set (Retry-After, Cache-Control max-age, `<ttl>`) is respected;
- after a failure the wait doubles with each consecutive error, from `every` up to
  `backoff_cap` (6 h); after `failing_after` (10) errors in a row the feed is marked failing
  and retried only every `failing_every` (24 h) until it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import random
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from monitor.fetch import Fetched, Fetcher, FetchFailed, NotModified, Prepare
from monitor.indicators import Feed
from monitor.model import Hit
from monitor.model import stamp as _stamp
from monitor.parsejobs import hits_by as _hits_by
from monitor.parsejobs import hits_from_file as _hits_compiled
from monitor.rules import Rules
from monitor.store import Polled, SourceState, Store, Unchanged

log = logging.getLogger("monitor.poll")


@dataclass(frozen=True)
class Schedule:
    """How often feeds are polled and how failures slow that down."""

    jitter: float = 0.1
    """Fraction of a feed's interval by which its next poll is moved at random (either way)."""
    backoff_cap: float = 6 * 3600
    """The longest wait, in seconds, between retries of a failing feed before it is marked."""
    failing_after: int = 10
    """Consecutive errors after which a feed is marked failing."""
    failing_every: float = 24 * 3600
    """How often, in seconds, a feed marked failing is retried."""
    lease_seconds: float = 300
    """How long a poller holds a feed; a killed poller's feeds are free again after this."""


def is_failing(errors: int, schedule: Schedule) -> bool:
    return errors >= schedule.failing_after


def next_due(every: float, errors: int, now: datetime, schedule: Schedule,
             spread: float, not_before: datetime | None = None) -> datetime:
    """When a feed polled at `now` is due again.

    `errors` counts consecutive failures including this poll (0 after a success); `spread`
    is a number in [-1, 1] that places the poll within the jitter band.
    """
    if errors == 0:
        delay = every * (1 + schedule.jitter * spread)
    elif is_failing(errors, schedule):
        delay = schedule.failing_every
    else:
        delay = min(every * 2 ** (errors - 1), schedule.backoff_cap)
        delay = max(delay * (1 + schedule.jitter * spread), 1.0)
    due = now + timedelta(seconds=delay)
    return max(due, not_before) if not_before else due


def skip_reason(state: SourceState, now: datetime) -> str | None:
    """Why an explicit poll should leave a feed alone (None: poll it)."""
    if state.not_before_at and state.not_before_at > now:
        return (f"the server asked not to be polled before {_stamp(state.not_before_at)}; "
                "use --force to poll anyway")
    if state.consecutive_errors and state.next_due_at and state.next_due_at > now:
        return (f"backing off after {state.consecutive_errors} error"
                f"{'s' if state.consecutive_errors != 1 else ''} until "
                f"{_stamp(state.next_due_at)}; use --force to poll anyway")
    return None


@dataclass(frozen=True)
class FeedOutcome:
    """What one feed's poll came to."""

    feed: str
    status: str
    """new | unchanged | not-modified | failed | skipped"""
    new: int = 0
    updated: int = 0
    entries: int = 0
    hits: int = 0
    message: str = ""
    """One sentence for people: the error, the problem salvaged around, or why skipped."""
    next_due_at: datetime | None = None


@dataclass
class PollReport:
    """Every feed's outcome of one pass, in the order they finished."""

    outcomes: list[FeedOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)


class Poller:
    """Polls the configured feeds into a store with the given rules.

    Owns a Fetcher (one per event loop) and a worker id for leases. Use as an async context
    manager, or call `aclose()`.
    """

    def __init__(
        self,
        feeds: Sequence[Feed],
        rules: Rules,
        store: Store,
        *,
        base_dir: Path,
        default_every: float,
        fetcher: Fetcher | None = None,
        schedule: Schedule | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
    ) -> None:
        self.feeds = {f.id: f for f in feeds}
        self.rules = rules
        self.store = store
        self.base_dir = base_dir
        self.default_every = default_every
        self.fetcher = fetcher or Fetcher()
        self.schedule = schedule or Schedule()
        self.worker_id = worker_id or f"poller-{uuid.uuid4().hex[:8]}"
        self.clock = clock
        self.rng = rng or random.Random()
        self._write_lock = asyncio.Lock()
        self._unchanged: list[tuple[Unchanged, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._rules_dir: tempfile.TemporaryDirectory[str] | None = None

    async def __aenter__(self) -> Poller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        if self._rules_dir is not None:
            self._rules_dir.cleanup()
            self._rules_dir = None

    def _matcher(self) -> Prepare:
        """Matching, to run beside the parse: in the parser processes, which compile the
        current rules once from a file this poller writes, or in this process's threads."""
        rules = self.rules
        if not self.fetcher.policy.parse_processes:
            return partial(_hits_by, rules)
        if self._rules_dir is None:
            self._rules_dir = tempfile.TemporaryDirectory(prefix="monitor-rules-")
        path = Path(self._rules_dir.name) / f"{rules.fingerprint}.pickle"
        if not path.exists():
            # Written whole under another name first: a parser never reads half a file.
            part = path.with_suffix(".part")
            part.write_bytes(pickle.dumps(rules.config, protocol=pickle.HIGHEST_PROTOCOL))
            part.replace(path)
        return partial(_hits_compiled, str(path))

    def sync(self) -> None:
        """Make the store's sources match the configured feeds."""
        self.store.sync_sources(self.feeds.values())

    async def poll_due(self, limit: int = 1000) -> PollReport:
        """Poll every feed that is due (the scheduler's pass)."""
        leased = await asyncio.to_thread(
            self.store.lease_due, self.worker_id, self.clock(), limit,
            self.schedule.lease_seconds)
        return await self._poll(leased, PollReport())

    async def poll_now(self, feed_ids: Iterable[str] | None = None, *,
                       force: bool = False, take_leases: bool | None = None) -> PollReport:
        """Poll the named feeds (default: all) now, leaving alone those in backoff or under a
        server's Retry-After unless `force`. A feed another poller holds is taken from it
        when `take_leases` (default: `force`), else skipped."""
        steal = force if take_leases is None else take_leases
        report = PollReport()
        now = self.clock()
        wanted = list(feed_ids) if feed_ids else list(self.feeds)
        states = {s.id: s for s in self.store.source_states()}
        chosen = []
        for fid in wanted:
            state = states.get(fid)
            if state is None or fid not in self.feeds:
                report.outcomes.append(FeedOutcome(fid, "skipped", message=f"no feed `{fid}` "
                                                   "in indicators.yaml"))
                continue
            reason = None if force else skip_reason(state, now)
            if reason:
                report.outcomes.append(FeedOutcome(fid, "skipped", message=reason))
                continue
            chosen.append(fid)
        leased = await asyncio.to_thread(
            self.store.lease, chosen, self.worker_id, now, self.schedule.lease_seconds, steal)
        taken = {s.id for s in leased}
        for fid in chosen:
            if fid not in taken:
                report.outcomes.append(FeedOutcome(fid, "skipped", message="another poller is "
                                                   "polling it right now"))
        return await self._poll(leased, report)

    async def _poll(self, states: Sequence[SourceState], report: PollReport) -> PollReport:
        tasks = [asyncio.ensure_future(self._poll_one(s)) for s in states]
        try:
            for done in asyncio.as_completed(tasks):
                outcome = await done
                report.outcomes.append(outcome)
                _log_outcome(outcome)
        finally:
            for task in tasks:
                task.cancel()
        return report

    async def _poll_one(self, state: SourceState) -> FeedOutcome:
        feed = self.feeds.get(state.id)
        if feed is None:  # removed from the configuration while leased
            await asyncio.to_thread(self.store.release, state.id, self.worker_id)
            return FeedOutcome(state.id, "skipped", message="no longer configured")
        now = self.clock()
        try:
            if feed.path:
                result = await self.fetcher.fetch_path(self.base_dir / feed.path,
                                                       source=feed.id, now=now,
                                                       prepare=self._matcher())
            else:
                result = await self.fetcher.fetch(state.url or feed.url or "", source=feed.id,
                                                  etag=state.etag,
                                                  last_modified=state.last_modified, now=now,
                                                  prepare=self._matcher())
            return await self._record(feed, state, result, now)
        except Exception as exc:  # one feed's bug must not end the pass; say what happened
            log.exception("feed %s: unexpected error", feed.id)
            message = f"unexpected error while polling: {type(exc).__name__}: {exc}"
            due = next_due(self._every(feed), state.consecutive_errors + 1, now,
                           self.schedule, self.rng.uniform(-1, 1))
            try:
                async with self._write_lock:
                    await asyncio.to_thread(self.store.record_failure, feed.id, now, message,
                                            "internal", due)
            except Exception:
                log.exception("feed %s: could not record the failure", feed.id)
            return FeedOutcome(feed.id, "failed", message=message, next_due_at=due)

    def _every(self, feed: Feed) -> float:
        return float(feed.every or self.default_every)

    async def _record(self, feed: Feed, state: SourceState, result: object,
                      now: datetime) -> FeedOutcome:
        every = self._every(feed)
        spread = self.rng.uniform(-1, 1)
        if isinstance(result, FetchFailed):
            errors = state.consecutive_errors + 1
            due = next_due(every, errors, now, self.schedule, spread, result.retry_after)
            async with self._write_lock:
                await asyncio.to_thread(self.store.record_failure, feed.id, now, result.error,
                                        result.kind, due, not_before=result.retry_after)
            message = result.error
            if is_failing(errors, self.schedule):
                message += f" ({errors} errors in a row: marked failing, retried daily)"
            return FeedOutcome(feed.id, "failed", message=message, next_due_at=due)
        if isinstance(result, NotModified):
            due = next_due(every, 0, now, self.schedule, spread, result.not_before)
            await self._record_unchanged(Unchanged(feed.id, now, due, etag=result.etag,
                                                   last_modified=result.last_modified,
                                                   not_before=result.not_before))
            return FeedOutcome(feed.id, "not-modified", next_due_at=due)
        assert isinstance(result, Fetched)
        entries = result.parsed.entries
        matched = result.parsed.prepared
        if matched is not None and matched[0] == self.rules.fingerprint:
            hits: dict[str, list[Hit]] = matched[1]
        else:  # the rules changed while the feed was in the parser's hands
            hits = _hits_by(self.rules, result.parsed)[1]
        due = next_due(every, 0, now, self.schedule, spread, result.retry_after)
        polled = Polled(next_due_at=due, etag=result.etag, last_modified=result.last_modified,
                        redirect_url=result.permanent_redirect, not_before=result.retry_after,
                        feed_title=result.parsed.title)
        async with self._write_lock:
            ingested = await asyncio.to_thread(self.store.ingest, feed.id, entries, hits,
                                               self.rules.fingerprint, now, polled,
                                               result.parsed.keys)
        status = "new" if ingested.new or ingested.updated else "unchanged"
        return FeedOutcome(feed.id, status, new=ingested.new, updated=ingested.updated,
                           entries=len(entries), hits=sum(len(h) for h in hits.values()),
                           message=result.parsed.problem or "", next_due_at=due)


    async def _record_unchanged(self, poll: Unchanged) -> None:
        # 304s that arrive while a write is in progress are committed together with the next
        # one; each caller still returns only after its own poll was committed.
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unchanged.append((poll, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_unchanged())
        await done

    async def _flush_unchanged(self) -> None:
        while self._unchanged:
            async with self._write_lock:
                batch, self._unchanged = self._unchanged, []
                try:
                    await asyncio.to_thread(self.store.record_unchanged, [p for p, _ in batch])
                except BaseException as exc:  # the waiters learn it, whatever it is
                    for _, done in batch:
                        if done.done():
                            continue
                        if isinstance(exc, Exception):
                            done.set_exception(exc)
                        else:
                            done.cancel()
                    if not isinstance(exc, Exception):
                        raise
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)


def _log_outcome(outcome: FeedOutcome) -> None:
    level = logging.WARNING if outcome.status == "failed" else logging.INFO
    log.log(level, "polled", extra={"event": {
        "feed": outcome.feed, "status": outcome.status, "new": outcome.new,
        "updated": outcome.updated, "entries": outcome.entries, "hits": outcome.hits,
        "message": outcome.message,
        "next_due": outcome.next_due_at.isoformat() if outcome.next_due_at else None,
    }})


def rematch(store: Store, rules: Rules, batch_size: int = 2000) -> int:
    """Re-match every stored entry whose hits came from other rules; how many were."""
    count = 0
    for batch in store.stale_entries(rules.fingerprint, batch_size):
        store.replace_hits([(e.pk, rules.match(e.entry)) for e in batch], rules.fingerprint)
        count += len(batch)
    return count
