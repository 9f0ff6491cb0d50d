"""The polling benchmark: how fast the monitor's poller gets feeds, against lemon24/reader.

It serves N RSS feeds of 20 entries each from H real HTTP servers, one per loopback address
(127.0.0.2, 127.0.0.3, ...), so per-host politeness applies as it would on the web; every
response is delayed by a seeded 20-50 ms. The servers run in a child process so that their
work does not share a GIL with the clients being timed. In one run it times, on the same feeds:
- the monitor: `Poller.poll_now()` (what `monitor poll` does) into a fresh SQLite store, with
  the project's default FetchPolicy and the shipped indicators.yaml matching every entry;
- lemon24/reader: `update_feeds(workers=16, scheduled=False)` into a fresh reader database;
each for a first pass (every feed new) and a second pass (every feed answers 304 Not Modified
to the ETag sent back). It checks that both stored every entry and that the second pass got
nothing but 304s and stored nothing new, then prints seconds per pass, feeds/s and PASS/FAIL.

Only loopback addresses are used, every server refuses requests beyond a fixed budget, and a
watchdog ends the run if it ever hangs.

Run: .venv/bin/python bench/polling.py [--quick] [--feeds N --hosts H] [--rounds R] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.metadata
import io
import ipaddress
import multiprocessing
import multiprocessing.connection
import os
import platform
import pstats
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import workloads  # noqa: E402  (bench/, beside this script)
from feedserver import FeedServer, Reply, Request, feed  # noqa: E402

from monitor.fetch import Fetcher, FetchPolicy  # noqa: E402
from monitor.indicators import Feed  # noqa: E402
from monitor.poll import Poller, PollReport  # noqa: E402
from monitor.rules import Rules, load  # noqa: E402
from monitor.store import Store  # noqa: E402

ENTRIES_PER_FEED = 20
LATENCY = (0.020, 0.050)
WORKERS = 16
FIRST_HOST = ipaddress.IPv4Address("127.0.0.2")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
WATCHDOG_SECONDS = 900

# --- the feeds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSpec:
    id: str
    host: int
    path: str
    etag: str
    latency: float
    body: bytes


def host_address(k: int) -> str:
    address = FIRST_HOST + k
    if address not in LOOPBACK or address == LOOPBACK.broadcast_address:
        raise SystemExit(f"host {k} would be {address}, outside 127.0.0.0/8; use fewer hosts")
    return str(address)


def rss(spec_id: str, items: list[workloads.Item], published: datetime) -> bytes:
    parts = []
    for k, item in enumerate(items):
        stamp = format_datetime(published.replace(minute=k % 60, second=k // 60), usegmt=True)
        parts.append(
            f"<item><title>{escape(item.title)}</title>"
            f"<link>https://news.example.org/{spec_id}/{k}</link>"
            f'<guid isPermaLink="false">{spec_id}-{k}</guid><pubDate>{stamp}</pubDate>'
            f"<description>{escape(item.summary)}</description></item>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Feed {spec_id}</title><link>https://news.example.org/{spec_id}/</link>"
            f"<description>Benchmark feed {spec_id}</description>{''.join(parts)}"
            "</channel></rss>").encode()


def make_feeds(count: int, hosts: int, seed: int) -> list[FeedSpec]:
    rng = random.Random(seed)
    vocab = workloads.vocabulary(seed=seed)
    items = workloads.items(vocab, count * ENTRIES_PER_FEED, seed=seed + 1)
    published = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    out = []
    for i in range(count):
        fid = f"f{i:05d}"
        chunk = items[i * ENTRIES_PER_FEED:(i + 1) * ENTRIES_PER_FEED]
        # Consecutive feeds sit on different hosts, as a configuration listing many sites does.
        out.append(FeedSpec(fid, i % hosts, f"/feeds/{fid}.xml", f'"{fid}-v1"',
                            rng.uniform(*LATENCY), rss(fid, chunk, published)))
    return out


# --- the servers (child process) -------------------------------------------------------------


def serve(specs: list[FeedSpec], hosts: int, budget: int,
          conn: multiprocessing.connection.Connection) -> None:
    """Run one FeedServer per host until told to stop; answer status counts on request."""
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    seen = [0]

    def route(spec: FeedSpec):  # type: ignore[no-untyped-def]
        inner = feed(spec.body, etag=spec.etag)

        def answer(request: Request) -> Reply:
            with lock:
                seen[0] += 1
                over = seen[0] > budget
            # A runaway client must not turn the benchmark into a flood: past the budget
            # every request is refused at once.
            reply = Reply(429, {"Retry-After": "3600"}) if over else None
            if reply is None:
                time.sleep(spec.latency)
                reply = inner(request)
            with lock:
                statuses[reply.status] += 1
            return reply
        return answer

    servers = [FeedServer(host_address(k)) for k in range(hosts)]
    try:
        for spec in specs:
            servers[spec.host].route(spec.path, route(spec))
        conn.send([s.port for s in servers])
        while True:
            command = conn.recv()
            if command == "counts":
                with lock:
                    conn.send(dict(statuses))
                    statuses.clear()
            else:
                break
    finally:
        for s in servers:
            s.close()


# --- the two clients -------------------------------------------------------------------------


@dataclass
class Pass:
    seconds: float
    new: int
    failed: list[str]
    statuses: dict[int, int]
    stored: int


def monitor_pass(feeds: list[Feed], rules: Rules, store: Store, policy: FetchPolicy,
                 base_dir: Path, profiler: cProfile.Profile | None) -> tuple[float, PollReport]:
    """One `monitor poll`: a fresh Poller and Fetcher (as a new process would have) polling
    every feed once."""

    async def go() -> tuple[float, PollReport]:
        poller = Poller(feeds, rules, store, base_dir=base_dir, default_every=1800,
                        fetcher=Fetcher(policy), clock=lambda: datetime.now(UTC),
                        rng=random.Random(7))
        async with poller:
            start = time.perf_counter()
            report = await poller.poll_now()
            return time.perf_counter() - start, report

    if profiler is None:
        return asyncio.run(go())
    result: tuple[float, PollReport] = profiler.runcall(asyncio.run, go())
    return result


def run_monitor(urls: list[tuple[str, str]], directory: Path, policy: FetchPolicy,
                conn: multiprocessing.connection.Connection, profile: bool
                ) -> tuple[list[Pass], dict[int, str]]:
    rules = load(ROOT / "indicators.yaml", examples=False).rules
    feeds = [Feed(id=fid, url=url) for fid, url in urls]
    store = Store.open(f"sqlite:///{directory / 'monitor.db'}")
    profiles: dict[int, str] = {}
    passes = []
    try:
        store.sync_sources(feeds)
        for number in (1, 2):
            profiler = cProfile.Profile() if profile else None
            seconds, report = monitor_pass(feeds, rules, store, policy, directory, profiler)
            conn.send("counts")
            statuses = conn.recv()
            failed = [f"{o.feed}: {o.status}: {o.message}" for o in report.outcomes
                      if o.status not in ("new", "not-modified", "unchanged")]
            passes.append(Pass(seconds, report.new, failed, statuses, store.counts().entries))
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
                profiles[number] = out.getvalue()
    finally:
        store.close()
    return passes, profiles


def run_reader(urls: list[tuple[str, str]], directory: Path,
               conn: multiprocessing.connection.Connection) -> list[Pass]:
    from reader import make_reader
    from reader.types import UpdatedFeed

    reader = make_reader(str(directory / "reader.sqlite"))
    passes = []
    try:
        for _, url in urls:
            reader.add_feed(url)
        for _ in (1, 2):
            new, failed = 0, []
            start = time.perf_counter()
            # scheduled=False: poll every feed now, as `monitor poll` does; with the default
            # (scheduled) reader would skip feeds updated within the hour.
            for result in reader.update_feeds_iter(workers=WORKERS, scheduled=False):
                if isinstance(result.value, UpdatedFeed):
                    new += result.value.new
                elif result.value is not None:
                    failed.append(f"{result.url}: {result.value}")
            seconds = time.perf_counter() - start
            conn.send("counts")
            statuses = conn.recv()
            passes.append(Pass(seconds, new, failed, statuses,
                               reader.get_entry_counts().total or 0))
    finally:
        reader.close()
    return passes


# --- report ----------------------------------------------------------------------------------


def check(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def verify(name: str, passes: list[Pass], feeds: int) -> list[str]:
    """What went wrong with a tool's two passes (empty: both did what they should)."""
    expected = feeds * ENTRIES_PER_FEED
    first, second = passes
    problems = []
    if first.failed or second.failed:
        problems += [f"{name}: {f}" for f in (first.failed + second.failed)[:5]]
    if first.statuses != {200: feeds}:
        problems.append(f"{name} pass 1: server answered {first.statuses}, expected "
                        f"{{200: {feeds}}}")
    if first.new != expected or first.stored != expected:
        problems.append(f"{name} pass 1: {first.new} new, {first.stored} stored; expected "
                        f"{expected}")
    if second.statuses != {304: feeds}:
        problems.append(f"{name} pass 2: server answered {second.statuses}, expected "
                        f"{{304: {feeds}}}")
    if second.new or second.stored != expected:
        problems.append(f"{name} pass 2: {second.new} new, {second.stored} stored; expected "
                        f"0 new, {expected} stored")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="50 feeds on 25 hosts")
    parser.add_argument("--feeds", type=int, help="how many feeds (default 500, quick 50)")
    parser.add_argument("--hosts", type=int, help="how many hosts (default 250, quick 25)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--rounds", type=int,
                        help="rounds of both tools, alternating, each on fresh databases; the "
                             "median round is reported (default 3, quick 1)")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of each monitor pass")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target fails (for CI)")
    args = parser.parse_args(argv)
    count = args.feeds or (50 if args.quick else 500)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    hosts = min(args.hosts or (25 if args.quick else 250), count)
    if count < 1 or hosts < 1:
        parser.error("--feeds and --hosts must be at least 1")
    host_address(hosts - 1)

    # The run stops by itself even if a client or server hangs.
    signal.signal(signal.SIGALRM, lambda *_: os._exit(2))
    signal.alarm(WATCHDOG_SECONDS)

    started = time.perf_counter()
    specs = make_feeds(count, hosts, args.seed)
    # Two tools, two passes each, every feed once per pass; a little room for nothing else.
    budget = rounds * 4 * count + 10
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=serve, args=(specs, hosts, budget, theirs), daemon=True)
    child.start()
    policy = FetchPolicy()
    try:
        if not ours.poll(60):
            raise SystemExit("the feed servers did not start within 60 s")
        ports = ours.recv()
        urls = [(s.id, f"http://{host_address(s.host)}:{ports[s.host]}{s.path}") for s in specs]

        print("Polling benchmark: monitor.poll (Poller.poll_now) vs. lemon24/reader "
              "(update_feeds)")
        print(f"Python {platform.python_version()} on {platform.platform()}, "
              f"{os.cpu_count()} CPUs; httpx {importlib.metadata.version('httpx')}, "
              f"feedparser {importlib.metadata.version('feedparser')}, "
              f"reader {importlib.metadata.version('reader')}")
        print(f"Workload: seed {args.seed}, {count:,} RSS feeds x {ENTRIES_PER_FEED} entries "
              f"({sum(len(s.body) for s in specs) / count / 1024:.1f} KiB per feed) on "
              f"{hosts:,} hosts ({host_address(0)}-{host_address(hosts - 1)}, one threaded "
              f"HTTP server each, in a child process), {LATENCY[0] * 1000:.0f}-"
              f"{LATENCY[1] * 1000:.0f} ms per response; ETag on every feed"
              f"{' (quick run)' if args.quick else ''}")
        print(f"monitor: FetchPolicy defaults: per-host interval {policy.per_host_interval:g} s,"
              f" concurrency {policy.concurrency}, {policy.parse_workers} parse "
              f"{'processes' if policy.parse_processes else 'threads'}, "
              f"timeout {policy.total_timeout:g} s; fresh Poller per pass, SQLite store, the "
              "shipped indicators.yaml matching every entry")
        print(f"reader:  update_feeds(workers={WORKERS}, scheduled=False), its own SQLite "
              "database, no per-host limit")
        print()

        # Alternating rounds, so load from elsewhere on the machine falls on both tools alike;
        # the median of each pass is what counts.
        mon_rounds: list[list[Pass]] = []
        rdr_rounds: list[list[Pass]] = []
        profiles: dict[int, str] = {}
        for number in range(rounds):
            with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
                directory = Path(tmp)
                (directory / "monitor").mkdir()
                (directory / "reader").mkdir()
                passes, got = run_monitor(urls, directory / "monitor", policy, ours,
                                          args.profile and number == 0)
                mon_rounds.append(passes)
                profiles.update(got)
                rdr_rounds.append(run_reader(urls, directory / "reader", ours))
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.terminate()

    mon = [_median(mon_rounds, 0), _median(mon_rounds, 1)]
    rdr = [_median(rdr_rounds, 0), _median(rdr_rounds, 1)]
    if rounds > 1:
        print(f"Seconds per round (monitor / reader), {rounds} rounds alternating:")
        for number, label in ((0, "pass 1"), (1, "pass 2")):
            cells = "  ".join(f"{m[number].seconds:.2f}/{r[number].seconds:.2f}"
                              for m, r in zip(mon_rounds, rdr_rounds, strict=True))
            print(f"  {label}: {cells}")
        print("The table gives each tool's median round.")
        print()
    print(f"{'':30}{'monitor':>12}{'reader':>12}")
    for number, label in ((0, "pass 1 (all new)"), (1, "pass 2 (all 304)")):
        m, r = mon[number], rdr[number]
        print(f"{label:30}{m.seconds:>10.2f} s{r.seconds:>10.2f} s")
        print(f"{'  feeds/s':30}{count / m.seconds:>12,.0f}{count / r.seconds:>12,.0f}")
        print(f"{'  new entries':30}{m.new:>12,}{r.new:>12,}")
        print(f"{'  entries stored after':30}{m.stored:>12,}{r.stored:>12,}")
        print(f"{'  server statuses':30}{_statuses(m.statuses):>12}{_statuses(r.statuses):>12}")
    print()

    problems = [p for m in mon_rounds for p in verify("monitor", m, count)]
    problems += [p for r in rdr_rounds for p in verify("reader", r, count)]
    for problem in problems:
        print(f"  CHECK FAILED  {problem}")
    if not problems:
        print(f"Checks: both stored all {count * ENTRIES_PER_FEED:,} entries on pass 1; on "
              f"pass 2 every feed answered 304 and nothing new was stored.")
    print()
    floor = (count - 1) // hosts * policy.per_host_interval
    targets = [
        (mon[0].seconds < rdr[0].seconds,
         f"pass 1 faster than reader: {mon[0].seconds:.2f} s vs {rdr[0].seconds:.2f} s "
         f"({rdr[0].seconds / mon[0].seconds:.2f}x)"),
        (mon[1].seconds < rdr[1].seconds,
         f"pass 2 faster than reader: {mon[1].seconds:.2f} s vs {rdr[1].seconds:.2f} s "
         f"({rdr[1].seconds / mon[1].seconds:.2f}x)"),
    ]
    print(f"Targets ({count:,} feeds on {hosts:,} hosts; politeness alone keeps a monitor pass "
          f"at or above {floor:g} s):")
    for ok, text in targets:
        print(f"  {check(ok)}  {text}")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")
    for number, text in sorted(profiles.items()):
        print(f"\ncProfile of monitor pass {number} (sorted by cumulative time):")
        print(text)
    failed_targets = not all(ok for ok, _ in targets)
    return 1 if problems or (args.strict and failed_targets) else 0


def _median(rounds: list[list[Pass]], number: int) -> Pass:
    ranked = sorted((r[number] for r in rounds), key=lambda p: p.seconds)
    return ranked[(len(ranked) - 1) // 2]


def _statuses(counts: dict[int, int]) -> str:
    return " ".join(f"{n}x{status}" for status, n in sorted(counts.items())) or "-"


if __name__ == "__main__":
    sys.exit(main())
