"""The `monitor` command: parse arguments, call the library, and map every error to an exit
code and one sentence on stderr. This is the only place that decides exit codes.

Exit codes: 0 ok, 1 findings or failure, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, UsageError

DEFAULT_INDICATORS = "indicators.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits by itself; we map it here instead
        raise UsageError(f"{message} (see `monitor {self.prog.split()[-1]} --help`)"
                         if " " in self.prog else f"{message} (see `monitor --help`)")


def _indicators_path(args: argparse.Namespace) -> Path:
    return Path(args.indicators or os.environ.get("MONITOR_INDICATORS") or DEFAULT_INDICATORS)


def _now() -> datetime:
    return datetime.now(UTC)


# --- check ---------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.rules import load

    path = _indicators_path(args)
    checked = load(path, examples=True)
    config = checked.rules.config
    out.write(
        f"{path}: {len(config.scenarios)} scenarios, {len(config.indicators)} indicators, "
        f"{len(config.lists)} lists, {len(config.feeds)} feeds\n"
    )
    out.write(f"examples: {checked.examples} passed\n")
    width = max((len(s.id) for s in config.scenarios), default=8)
    for scenario in config.scenarios:
        weights = sorted(
            ((ind.weight[scenario.id], ind.id) for ind in config.indicators
             if scenario.id in ind.weight),
            key=lambda w: (-abs(w[0]), w[1]),
        )
        shown = ", ".join(f"{i} {w:+g}" for w, i in weights[:4])
        more = f" (+{len(weights) - 4} more)" if len(weights) > 4 else ""
        quiet = "" if weights else "no indicator weighs on it"
        out.write(f"  {scenario.id:<{width}}  {shown}{more}{quiet}\n")
    out.write("ok\n")
    return 0


# --- match ---------------------------------------------------------------------------------


def cmd_match(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.fetch import read_entries
    from monitor.rules import load

    rules = load(_indicators_path(args), examples=False).rules
    now = _now()
    failures = 0
    for name in args.paths:
        try:
            parsed = read_entries(Path(name), now=now)
        except MonitorError as exc:
            print(f"monitor: {exc}", file=sys.stderr)
            failures += 1
            continue
        if parsed.problem and not args.json:
            print(f"monitor: {name}: {parsed.problem} (entries were salvaged)", file=sys.stderr)
        for entry in parsed.entries:
            hits = rules.match(entry)
            if args.hits_only and not hits:
                continue
            if args.json:
                record = {
                    "id": entry.id,
                    "title": entry.title,
                    "published": entry.published.isoformat() if entry.published else None,
                    "hits": [
                        {"indicator": h.indicator, "terms": list(h.terms), "value": h.value,
                         "label": h.label}
                        for h in hits
                    ],
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                _print_match(out, entry.published, entry.title, hits)
    return 1 if failures else 0


def _print_match(out: TextIO, published: datetime | None, title: str, hits: Sequence[Any]) -> None:
    date = published.strftime("%Y-%m-%d") if published else "    -     "
    out.write(f"{date}  {_one_line(title)}\n")
    for h in hits:
        extra = ""
        if h.value is not None:
            extra += f" value={h.value:g}"
        if h.label:
            extra += f" label={h.label}"
        out.write(f"            -> {h.indicator}{extra}: {', '.join(h.terms)}\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="monitor", description="Scenario and indicator early-warning monitor.")
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    parser.add_argument("--indicators", metavar="PATH",
                        help="indicators.yaml to use (env MONITOR_INDICATORS; "
                             "default ./indicators.yaml)")
    parser.add_argument("--db", metavar="URL",
                        help="database URL (env MONITOR_DB; default: SQLite in the user data "
                             "folder)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser("check", help="validate indicators.yaml and run its examples")
    check.set_defaults(run=cmd_check)

    match = sub.add_parser("match", help="show which indicators items of feed or .jsonl files hit")
    match.add_argument("paths", nargs="+", metavar="PATH", help="RSS/Atom file or .jsonl of items")
    match.add_argument("--json", action="store_true", help="one JSON object per item")
    match.add_argument("--hits-only", action="store_true", help="leave out items with no hits")
    match.set_defaults(run=cmd_match)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        run: Callable[[argparse.Namespace, TextIO], int] | None = getattr(args, "run", None)
        if run is None:
            parser.print_help(out)
            return 2
        return run(args, out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"monitor: {n} problem{'s' if n != 1 else ''} found; fix "
              f"{'them' if n != 1 else 'it'} and run `monitor check` again", file=sys.stderr)
        return exc.exit_code
    except MonitorError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("monitor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `monitor match ... | head`); that is not an error.
        sys.stderr.close()
        return 0
