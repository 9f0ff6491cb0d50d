"""The digest benchmark: what composing a digest costs over a large store, against the views
`monitor scores` computes from the same store (the baseline, in the same run).

It builds, untimed, the store of bench/scoring.py (`build_store`: the shipped indicators.yaml's
feeds and indicators, stories carried by up to six feeds, copies among them; by default 30,000
entries and 100,000 hits over 180 days), then times, best of `--repeat`:

- views: `evidence.gather_scored` + `evidence.views` at a fixed now (what `monitor scores`
  does before it prints);
- digest: `digest.prepare` (the same read and views, plus the 7-day trend of every scenario,
  the new hits of the last 24 h, their entries, and what earlier digests reported) and
  `digest.render_digest`;
- the digest once more after a delivered digest that reported every hit of the window, so
  the "reported before" lookup has a full answer (and nothing is new);
- and again with a week of score readings recorded every 5 minutes, as `monitor run` keeps
  them, which the trend uses instead of scoring the days between afresh.

Run: .venv/bin/python bench/digest.py [--entries N] [--hits N] [--days N] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import scoring as bench_scoring  # bench/scoring.py: the store builder

from monitor import digest, evidence
from monitor.rules import load

ROOT = Path(__file__).resolve().parents[1]
NOW = bench_scoring.NOW
T = TypeVar("T")


def best(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    result, fastest = None, float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        fastest = min(fastest, time.perf_counter() - started)
    return result, fastest  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=30_000)
    parser.add_argument("--hits", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    rules = load(ROOT / "indicators.yaml", examples=False).rules
    config = rules.config
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        store, work = bench_scoring.build_store(f"sqlite:///{Path(tmp) / 'bench.db'}", rules,
                                                args.entries, args.hits, args.days, args.seed)
        print(f"setup (untimed): {work.entries:,} entries, {work.hits:,} hits over "
              f"{args.days} days; built in {work.setup_s:.1f} s")
        with store:
            def views() -> object:
                got = evidence.gather_scored(store, config, NOW)
                return evidence.views(config, got, store.last_alerts())

            def compose() -> digest.Digest:
                d = digest.prepare(store, config, NOW)
                digest.render_digest(d, "monitor@example.org", ["desk@example.org"])
                return d

            _, views_s = best(views, args.repeat)
            first, digest_s = best(compose, args.repeat)
            store.record_digest(NOW - timedelta(minutes=1), first.since, NOW,
                                ["desk@example.org"], first.subject,
                                {s.id: (s.level, s.alert) for s in first.scenarios},
                                first.reported)
            again, again_s = best(lambda: digest.prepare(store, config, NOW), args.repeat)
            levels = [(s.id, s.level, 1.0, s.alert) for s in first.scenarios]
            at = NOW - timedelta(days=7, hours=1)
            while at < NOW:  # untimed: a week of readings, every 5 minutes
                store.save_snapshots(levels, at)
                at += timedelta(minutes=5)
            _, recorded_s = best(lambda: digest.prepare(store, config, NOW), args.repeat)
            # The baseline again at the end, best of both, so load on a shared machine during
            # one part of the run does not tilt the ratios.
            views_s = min(views_s, best(views, args.repeat)[1])

    print(f"\nat {NOW:%Y-%m-%d %H:%M} UTC, best of {args.repeat} (wall seconds)")
    print(f"  views (gather_scored + views)      {views_s:8.3f}   1.00x")
    print(f"  digest (prepare + render), 24 h    {digest_s:8.3f}   {digest_s / views_s:.2f}x"
          f"   {len(first.reported):,} new hits")
    print(f"  digest after one that reported all {again_s:8.3f}   {again_s / views_s:.2f}x"
          f"   {len(again.reported):,} new hits")
    print(f"  digest with a week of readings     {recorded_s:8.3f}   {recorded_s / views_s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
