"""The live dashboard's costs over a large store: what an attached dashboard pays every tick to
learn whether anything changed (`Store.change_marker`), against what one re-scoring costs
(`board_from`, every scenario's view) and against `Store.counts()` as a baseline query.

It builds, untimed, the same seeded SQLite store as bench/scoring.py (about 1,000,000 hits
over 300,000 entries by default), then times each step several times and keeps the best.
The ratio says how much cheaper a check is than scoring on every tick would be.

Run: .venv/bin/python bench/dashboard_check.py [--quick] [--entries N] [--hits N] [--repeat N]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scoring import build_store

from monitor.rules import load
from monitor.tui.board import board_from

ROOT = Path(__file__).resolve().parents[1]


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each check")
    parser.add_argument("--quick", action="store_true",
                        help="30,000 entries and 100,000 hits")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.hits = 30_000, 100_000

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    rules = load(ROOT / "indicators.yaml", examples=False).rules
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        store, work = build_store(f"sqlite:///{Path(tmp) / 'bench.db'}", rules, args.entries,
                                  args.hits, args.days, args.seed)
        print(f"setup (untimed): {work.entries:,} entries, {work.hits:,} hits; built in "
              f"{work.setup_s:.1f} s\n")
        with store:
            marker = best(store.change_marker, args.repeat)
            counts = best(store.counts, args.repeat)
            board = best(lambda: board_from(store, rules.config), max(1, args.repeat // 5))
    print(f"{'step':<42} {'seconds':>9} {'vs marker':>10}")
    for name, seconds in [("Store.change_marker (each attached tick)", marker),
                          ("Store.counts (baseline query)", counts),
                          ("board_from (one re-scoring)", board)]:
        print(f"{name:<42} {seconds:>9.4f} {seconds / marker:>9.1f}x")
    print(f"\nAt a 2 s tick the check keeps {marker / 2:.2%} of a core busy; re-scoring every "
          f"tick would need {board / 2:.0%}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
