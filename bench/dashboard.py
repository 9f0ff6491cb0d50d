"""The dashboard benchmark: how long the real Textual app takes to draw its first screen over a
large store, what a refresh costs, and how much memory it holds.

It builds, untimed, a seeded SQLite store of 200,000 entries and about 1,000,000 hits over the
180 days up to the present (bench/scoring.py's generator, shipped indicators.yaml), then in a
child process (so that its memory is the app's alone) it runs `MonitorApp` headless with
`App.run_test()` and times:

- the first screen: from creating the app until the scenarios table holds every scenario.
  The setup records readings as `monitor run` leaves them (scores saved as snapshots, here
  at the present, a day and a week before, and at the end of each of the trend's 29 past
  days), so this is the latest reading drawn at once;
- live scores: from creating the app until the scored board replaces the reading (the
  first read of every hit into a cold ledger);
- a refresh: from `r`'s action (`action_reload`, called directly: `Pilot.press` adds about
  40 ms of its own waiting, printed apart) until the new scores are in the table (best and
  median of several), with no new hits, and once after a poll added entries; the refreshes
  start once the 30-day trends are filled;
- peak resident memory of the child: the high-water mark of its own address space
  (`VmHWM` in /proc/self/status on Linux). Not `getrusage`'s `ru_maxrss`: Linux carries it
  over `exec` from the forked parent, so it reported the benchmark's own setup (the store
  built and scored, 800-965 MB) rather than the app's.

The baseline, in this process: what each refresh cost before the ledger (`gather_scored`,
then `evidence.views`: every hit read and every story scored again).

Run: .venv/bin/python bench/dashboard.py [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import scoring as scoring_bench  # bench/scoring.py: the store generator

from monitor import evidence
from monitor.rules import load
from monitor.store import Store
from monitor.tui.board import TREND_SPAN
from monitor.tui.reading import trend_days

ROOT = Path(__file__).resolve().parents[1]
TARGET_FIRST_S = 1.5
TARGET_REFRESH_S = 0.1
TARGET_RSS_MB = 300.0


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, since its `exec`."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # Elsewhere: getrusage, which may include the parent's peak before the exec.
    scale = 1024 * 1024 if platform.system() == "Darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def child(url: str, refreshes: int, poll: int, polls: int, seed: int) -> dict[str, Any]:
    """Run the app over `url`; the figures as a dict (run in a fresh process)."""
    from textual.widgets import DataTable

    from monitor.tui.app import MonitorApp

    rules = load(ROOT / "indicators.yaml", examples=False).rules
    scenarios = len(rules.config.scenarios)
    out: dict[str, Any] = {}

    class Timed(MonitorApp):
        """The app, telling when a board is in the tables: a refresh is waited for without
        polling, which would take the interpreter from the worker being timed (at 2 ms a
        poll, a third more time for a refresh after a poll)."""

        CSS_PATH = ROOT / "monitor" / "tui" / "monitor.tcss"  # relative paths are the class's

        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.drawn = asyncio.Event()

        def on_scores_loaded(self, message: Any) -> None:
            # Textual calls the app's own handler too (after this one, in the same turn of
            # the event loop), so the waiter wakes once the board is drawn.
            self.drawn.set()

    async def refreshed(app: Any) -> float:
        """Seconds from `r`'s action until the new board is in the tables."""
        app.drawn.clear()
        began = time.perf_counter()
        app.action_reload()
        await asyncio.wait_for(app.drawn.wait(), 600)
        return time.perf_counter() - began

    async def until(predicate: Any, pilot: Any, limit: float = 600.0) -> None:
        started = time.perf_counter()
        while not predicate():
            if time.perf_counter() - started > limit:
                raise TimeoutError("the dashboard did not fill its table")
            await pilot.pause(0.002)

    async def drive() -> None:
        started = time.perf_counter()
        app = Timed(url, ROOT / "indicators.yaml")
        async with app.run_test(size=(160, 40)) as pilot:
            table = app.query_one("#scenarios", DataTable)
            await until(lambda: app.board is not None and table.row_count == scenarios, pilot)
            out["first"] = time.perf_counter() - started
            assert app.board is not None
            out["first from reading"] = app.board.reading
            out["reading levels"] = {sid: round(v.score.level, 1)
                                     for sid, v in app.board.views.items()}
            await until(lambda: app.board is not None and not app.board.reading, pilot)
            out["live"] = time.perf_counter() - started
            out["rss at live"] = peak_rss_mb()
            # Past days' levels are scored once, then kept: wait for that, as an analyst
            # glancing at the board would, before timing refreshes.
            await until(lambda: not any(w.group == "trends" and not w.is_finished
                                        for w in app.workers), pilot)
            out["trends"] = time.perf_counter() - started
            # What `r` runs, called directly: `Pilot.press` adds waits of its own (about
            # 40 ms for a key that does nothing on this machine), timed apart below.
            times = []
            for _ in range(refreshes):
                times.append(await refreshed(app))
                await pilot.pause(0.2)
            board = app.board
            began = time.perf_counter()
            await pilot.press("r")
            await until(lambda: app.board is not board, pilot)
            out["pressed"] = time.perf_counter() - began
            began = time.perf_counter()
            await pilot.press("x")  # bound to nothing: what Pilot.press costs by itself
            out["idle press"] = time.perf_counter() - began
            out["refreshes"] = times
            # The poll below is the benchmark writing into the store from this process: the
            # app's own peak is the one before it.
            out["rss before poll"] = peak_rss_mb()
            out["poll hits"], out["after polls"] = [], []
            for n in range(polls):
                with Store.open(url) as store:
                    out["poll hits"].append(scoring_bench.new_poll(
                        store, rules, datetime.now(UTC), poll, seed + n))
                out["after polls"].append(await refreshed(app))
                await pilot.pause(0.5)
            assert app.board is not None
            out["levels"] = {sid: round(v.score.level, 1) for sid, v in app.board.views.items()}

    asyncio.run(drive())
    out["max_rss_mb"] = peak_rss_mb()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("--poll", type=int, default=1000,
                        help="entries a poll adds before the last refresh")
    parser.add_argument("--polls", type=int, default=3,
                        help="polls, each followed by a refresh, after the plain refreshes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="20,000 entries, 100,000 hits")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the slow baseline (about a minute at full size)")
    parser.add_argument("--no-readings", action="store_true",
                        help="record no readings: the first screen waits for the scores")
    parser.add_argument("--fresh-trend", action="store_true",
                        help="record readings only now, -1 d and -7 d: the app scores the "
                             "other 27 days of the trend itself")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.refreshes, args.poll, args.polls, args.seed)))
        return 0
    if args.quick:
        args.entries, args.hits = 20_000, 100_000

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    rules = load(ROOT / "indicators.yaml", examples=False).rules
    config = rules.config
    # The store ends now, so the app scores it live (alert history, the current time).
    now = datetime.now(UTC).replace(microsecond=0)
    scoring_bench.NOW = now
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'dashboard.db'}"
        store, work = scoring_bench.build_store(url, rules, args.entries, args.hits, args.days,
                                                args.seed)
        print(f"setup (untimed): {work.entries:,} entries in {work.clusters:,} stories, "
              f"{work.hits:,} hits over {args.days} days; built in {work.setup_s:.1f} s")
        if not args.no_readings:
            # The readings `monitor run` would have left over the last month (it records
            # every five minutes): here one at the end of each of the trend's past days, a
            # day and a week before, and now, so the changes and the sparklines have theirs.
            # `--fresh-trend` leaves out the past days: the trend is then scored by the app.
            moments = {now - timedelta(days=back) for back in (7, 1, 0)}
            if not args.fresh_trend:
                moments |= set(trend_days(now)[:-1])
            with Store.open(url) as recorder:
                started = time.perf_counter()
                live = evidence.LiveLedger(config, TREND_SPAN)
                ledger = live.refresh(recorder, now)
                for at in sorted(moments):
                    shown = ledger.views(at, recorder.last_alerts())
                    recorder.save_snapshots(evidence.snapshot_rows(shown), at)
                del live, ledger
                print(f"setup (untimed): {len(moments)} readings recorded in "
                      f"{time.perf_counter() - started:.1f} s")
        baseline = None
        if not args.no_baseline:
            with store:
                started = time.perf_counter()
                got = evidence.gather_scored(store, config, now)
                evidence.views(config, got, store.last_alerts())
                baseline = time.perf_counter() - started
                del got
        else:
            store.close()
        run = subprocess.run(
            [sys.executable, __file__, "--child", url, "--refreshes", str(args.refreshes),
             "--poll", str(args.poll), "--polls", str(args.polls), "--seed", str(args.seed)],
            capture_output=True, text=True, check=False)
        if run.returncode != 0:
            print(run.stdout, run.stderr, file=sys.stderr)
            return 1
        got_child = json.loads(run.stdout.strip().splitlines()[-1])

    first = got_child["first"]
    refreshes = got_child["refreshes"]
    best, median = min(refreshes), statistics.median(refreshes)
    after_polls = got_child["after polls"]
    after_poll = statistics.median(after_polls)
    rss = got_child["max_rss_mb"]
    print(f"\nthe dashboard (MonitorApp, headless run_test, 160x40), {work.hits:,} hits "
          "(wall seconds)")
    live = got_child["live"]
    source = "the stored reading" if got_child["first from reading"] else "scored"
    print(f"    {'first screen (' + source + ')':<36}{first:8.3f}")
    print(f"    {'live scores replace it':<36}{live:8.3f}")
    print(f"    {'refresh, best of ' + str(len(refreshes)):<36}{best:8.3f}")
    print(f"    {'refresh, median':<36}{median:8.3f}   "
          f"(all: {', '.join(f'{t:.3f}' for t in refreshes)})")
    print(f"    {'refresh by Pilot.press(r)':<36}{got_child['pressed']:8.3f}   "
          f"(Pilot.press of an unbound key alone: {got_child['idle press']:.3f})")
    print(f"    {'trends filled (since the start)':<36}{got_child['trends']:8.3f}")
    polled = f"refresh after a poll, median of {len(after_polls)}"
    print(f"    {polled:<36}{after_poll:8.3f}   "
          f"(all: {', '.join(f'{t:.3f}' for t in after_polls)}; polls of "
          f"{', '.join(f'{h:,}' for h in got_child['poll hits'])} hits)")
    print(f"    {'peak resident memory (MB)':<36}{rss:8.1f}   "
          f"(at live scores: {got_child['rss at live']:.1f}; before the poll, which this "
          f"process writes: {got_child['rss before poll']:.1f})")
    if baseline is not None:
        print(f"  baseline, a refresh before the ledger (gather_scored + views): {baseline:.2f} s;"
              f" live scores {baseline / live:.0f}x, refresh {baseline / median:.0f}x faster")
    print("  levels: " + ", ".join(f"{k} {v}" for k, v in got_child["levels"].items()))
    print("  levels of the first screen: "
          + ", ".join(f"{k} {v}" for k, v in got_child["reading levels"].items()))
    checks = [
        (f"first screen < {TARGET_FIRST_S} s", first < TARGET_FIRST_S, f"{first:.2f} s"),
        ("live scores (no target)", True, f"{live:.2f} s"),
        (f"refresh (median) < {TARGET_REFRESH_S * 1000:.0f} ms", median < TARGET_REFRESH_S,
         f"{median * 1000:.0f} ms"),
        (f"refresh after a poll < {TARGET_REFRESH_S * 1000:.0f} ms",
         after_poll < TARGET_REFRESH_S, f"{after_poll * 1000:.0f} ms"),
        (f"memory < {TARGET_RSS_MB:.0f} MB", rss < TARGET_RSS_MB, f"{rss:.0f} MB"),
    ]
    print()
    for name, ok, shown in checks:
        print(f"  {name:<40}{shown:>10}  {'PASS' if ok else 'FAIL'}")
    return 1 if args.strict and not all(ok for _, ok, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
