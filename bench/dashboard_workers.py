"""The dashboard benchmark: what the dashboard costs over a large store, in two parts, each
against a baseline measured in the same run.

It builds, untimed, the store of bench/scoring.py (entries and hits spread over 180 days from
the shipped indicators.yaml), then times:

- the live dashboard's check for changes: what an attached dashboard pays every tick to learn
  whether anything changed (`Store.change_marker`), against `Store.counts()` (a baseline query
  over the same tables) and one re-scoring (`board_from`, every scenario's view), best of
  `--checks`; the ratio says how much cheaper a check is than scoring on every tick would be;
- the screens' workers, each as a ratio of `load_board` (every scenario's view at a fixed
  `now`: what the first screen waits for), best of `--repeat`: `load_trends` (every
  scenario's last 30 days with no snapshots stored, so every day is scored from the stored
  evidence), again as a refresh does it (the past days' levels scored before are kept), and
  `load_detail` (one scenario's signpost board and evidence rows: what Enter waits for) for
  the scenario with the most stories.

Run: .venv/bin/python bench/dashboard_workers.py [--quick] [--no-trends]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import NOW, ROOT, build_store  # noqa: E402

from monitor.rules import load  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.tui.board import board_from, load_board  # noqa: E402
from monitor.tui.reading import load_detail, load_trends, trend_days  # noqa: E402

T = TypeVar("T")


def best(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    times = []
    result: T | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    assert result is not None
    return result, min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2,
                        help="timed runs of each scoring step (board, trends, detail)")
    parser.add_argument("--checks", type=int, default=5,
                        help="timed runs of each cheap check (change marker, counts)")
    parser.add_argument("--no-trends", action="store_true",
                        help="skip the trends' first fill (29 scorings a scenario: long)")
    parser.add_argument("--quick", action="store_true", help="30,000 entries, 100,000 hits")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.hits = 30_000, 100_000

    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    path = ROOT / "indicators.yaml"
    rules = load(path, examples=False).rules
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        store, work = build_store(url, rules, args.entries, args.hits, args.days, args.seed)
        store.close()
        print(f"setup (untimed): {work.entries:,} entries, {work.hits:,} hits over "
              f"{args.days} days; built in {work.setup_s:.1f} s\n")

        with Store.open(url) as opened:
            _, t_marker = best(opened.change_marker, args.checks)
            _, t_counts = best(opened.counts, args.checks)
            _, t_rescore = best(lambda: board_from(opened, rules.config, NOW), args.repeat)
        print(f"the live dashboard's check for changes: best of {args.checks} "
              f"(re-scoring: best of {args.repeat}), wall seconds")
        print(f"  {'step':<42} {'seconds':>9} {'vs marker':>10}")
        for name, seconds in [("Store.change_marker (each attached tick)", t_marker),
                              ("Store.counts (baseline query)", t_counts),
                              ("board_from (one re-scoring)", t_rescore)]:
            print(f"  {name:<42} {seconds:>9.4f} {seconds / t_marker:>9.1f}x")
        print(f"  At a 2 s tick the check keeps {t_marker / 2:.2%} of a core busy; re-scoring "
              f"every tick would need {t_rescore / 2:.0%}.\n")

        board, t_board = best(lambda: load_board(url, path, NOW), args.repeat)
        current = {sid: v.score.level for sid, v in board.views.items()}
        print(f"the screens' workers: best of {args.repeat}, wall seconds, and as a ratio of "
              "load_board")
        print(f"  load_board  (every scenario now)        {t_board:8.3f}   1.00")
        if not args.no_trends:
            trends, t_trends = best(lambda: load_trends(url, board.config, NOW, current),
                                    args.repeat)
            # A refresh: the past days scored before are reused (the dashboard keeps them
            # while the rules and the evidence stay the same).
            moments = trend_days(NOW)
            known = {(sid, at): level for sid, levels in trends.items()
                     for at, level in zip(moments[:-1], levels, strict=False)
                     if level is not None}
            _, t_again = best(lambda: load_trends(url, board.config, NOW, current,
                                                  known=known), args.repeat)
            print(f"  load_trends (30 days, no snapshots)     {t_trends:8.3f}  "
                  f"{t_trends / t_board:5.2f}")
            print(f"  load_trends (a refresh: past days kept) {t_again:8.3f}  "
                  f"{t_again / t_board:5.2f}")
        busiest = max(board.views, key=lambda sid: len(board.views[sid].score.stories))
        view = board.views[busiest]
        detail, t_detail = best(lambda: load_detail(url, board.config, busiest, view, NOW),
                                args.repeat)
    print(f"  load_detail ({busiest}: {len(detail.evidence):,} stories, "
          f"{len(detail.signposts)} signposts)")
    print(f"  {'':40}{t_detail:8.3f}  {t_detail / t_board:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
