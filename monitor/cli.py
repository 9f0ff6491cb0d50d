"""The `monitor` command: parse arguments, call the library, and map every error to an exit
code and one sentence on stderr. This is the only place that decides exit codes.

Exit codes: 0 ok, 1 findings or failure, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import logging
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


# --- polling ---------------------------------------------------------------------------------


def _open_store(args: argparse.Namespace) -> Any:
    from monitor.store import Store

    return Store.open(args.db or os.environ.get("MONITOR_DB") or None)


def _poller(args: argparse.Namespace, store: Any, rules: Any) -> Any:
    from monitor.fetch import Fetcher, FetchPolicy
    from monitor.poll import Poller

    config = rules.config
    policy = FetchPolicy(per_host_interval=config.polling.host_interval,
                         concurrency=config.polling.concurrency,
                         total_timeout=config.polling.timeout)
    return Poller(config.feeds, rules, store, base_dir=config.path.parent,
                  default_every=config.defaults.every, clock=_now, fetcher=Fetcher(policy),
                  worker_id=getattr(args, "worker_id", None))


def _prepare(args: argparse.Namespace) -> tuple[Any, Any]:
    """The rules and the store, with sources synced and stale hits re-matched."""
    from monitor.poll import rematch
    from monitor.rules import load

    rules = load(_indicators_path(args), examples=False).rules
    store = _open_store(args)
    store.sync_sources(rules.config.feeds)
    changed = rematch(store, rules)
    if changed:
        logging.getLogger("monitor").info(
            "re-matched", extra={"event": {"entries": changed, "rules": rules.fingerprint}})
    return rules, store


def cmd_poll(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    rules, store = _prepare(args)

    async def go() -> Any:
        async with _poller(args, store, rules) as poller:
            return await poller.poll_now(args.feeds or None, force=args.force)

    try:
        report = asyncio.run(go())
    finally:
        store.close()
    for o in report.outcomes:
        if args.json:
            out.write(json.dumps({
                "feed": o.feed, "status": o.status, "new": o.new, "updated": o.updated,
                "entries": o.entries, "hits": o.hits, "message": o.message or None,
                "next_due": o.next_due_at.isoformat() if o.next_due_at else None,
            }, ensure_ascii=False) + "\n")
        else:
            detail = {
                "new": f"{o.new} new, {o.updated} updated, {o.hits} hits",
                "unchanged": f"{o.entries} entries, nothing new",
                "not-modified": "not modified",
            }.get(o.status, "")
            message = f" ({o.message})" if o.message and detail else o.message
            out.write(f"{o.feed}: {o.status}: {detail}{message}\n")
    return 1 if report.failed else 0


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from monitor.scheduler import serve

    _configure_logging(args.log_format)
    rules, store = _prepare(args)

    async def go() -> None:
        async with _poller(args, store, rules) as poller:
            await serve(poller, tick=args.tick)

    try:
        asyncio.run(go())
    finally:
        store.close()
    return 0


def cmd_feeds(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.poll import Schedule, is_failing
    from monitor.rules import load

    rules = load(_indicators_path(args), examples=False).rules
    store = _open_store(args)
    try:
        store.sync_sources(rules.config.feeds)
        states = {s.id: s for s in store.source_states()}
    finally:
        store.close()
    schedule = Schedule()
    rows = []
    for feed in rules.config.feeds:
        st = states[feed.id]
        if st.last_polled_at is None:
            health = "never polled"
        elif is_failing(st.consecutive_errors, schedule):
            health = "failing"
        elif st.consecutive_errors:
            health = "error"
        else:
            health = "ok"
        rows.append({
            "feed": feed.id, "health": health,
            "source": st.url or feed.path,
            "reliability": feed.reliability or rules.config.defaults.reliability,
            "last_success": _iso(st.last_success_at), "last_error": st.last_error,
            "consecutive_errors": st.consecutive_errors, "next_poll": _iso(st.next_due_at),
            "not_before": _iso(st.not_before_at), "entries": st.entry_count,
        })
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    now = _now()
    width = max((len(r["feed"]) for r in rows), default=4)
    out.write(f"{'feed':<{width}}  grade  health        last success  next poll   entries\n")
    for r, st in zip(rows, (states[f.id] for f in rules.config.feeds), strict=True):
        out.write(f"{r['feed']:<{width}}  {r['reliability']:<5}  {r['health']:<12}  "
                  f"{_ago(st.last_success_at, now):<12}  {_until(st.next_due_at, now):<10}  "
                  f"{r['entries']:>7}\n")
        if st.last_error and st.consecutive_errors:
            out.write(f"{'':<{width}}  last error: {_one_line(st.last_error)}\n")
    return 0


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _ago(when: datetime | None, now: datetime) -> str:
    return "never" if when is None else f"{_span((now - when).total_seconds())} ago"


def _until(when: datetime | None, now: datetime) -> str:
    if when is None or when <= now:
        return "now"
    return f"in {_span((when - now).total_seconds())}"


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "event", {}) or {})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _KeyValues(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pairs = " ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}"
                         for k, v in (getattr(record, "event", {}) or {}).items()
                         if v not in (None, ""))
        text = f"{stamp} {record.levelname.lower():<7} {record.getMessage()} {pairs}".rstrip()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging(style: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines() if style == "json" else _KeyValues())
    root = logging.getLogger("monitor")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


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

    poll = sub.add_parser("poll", help="poll feeds once now (default: all) and exit; for cron")
    poll.add_argument("feeds", nargs="*", metavar="FEED-ID", help="feeds to poll (default: all)")
    poll.add_argument("--force", action="store_true",
                      help="poll feeds in backoff or under a server's Retry-After too")
    poll.add_argument("--json", action="store_true", help="one JSON object per feed")
    poll.set_defaults(run=cmd_poll)

    run = sub.add_parser("run", help="poll every feed on its schedule until stopped")
    run.add_argument("--tick", type=float, default=10.0, metavar="SECONDS",
                     help="how often to look for due feeds (default 10)")
    run.add_argument("--worker-id", metavar="NAME",
                     help="this poller's name in a team's database (default: random)")
    run.add_argument("--log-format", choices=["text", "json"], default="text",
                     help="log lines as key=value text or JSON (default text)")
    run.set_defaults(run=cmd_run)

    feeds = sub.add_parser("feeds", help="each feed's health: last success, last error, next poll")
    feeds.add_argument("--json", action="store_true", help="one JSON object per feed")
    feeds.set_defaults(run=cmd_feeds)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    # Commands report outcomes themselves; only `monitor run` turns logging on.
    if not logging.getLogger("monitor").handlers:
        logging.getLogger("monitor").addHandler(logging.NullHandler())
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
