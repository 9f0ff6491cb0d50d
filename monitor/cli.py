"""The `monitor` command: parse arguments, call the library, and map every error to an exit
code and one sentence on stderr. This is the only place that decides exit codes.

Exit codes: 0 ok, 1 findings or failure, 2 usage.
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, UsageError
from monitor.model import stamp as _stamp
from monitor.text import on_one_line

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
    from monitor.scoring import non_diagnostic

    for _, sentence in non_diagnostic(config):
        out.write(f"warning: {sentence}\n")
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
    out.write(f"{date}  {on_one_line(title)}\n")
    for h in hits:
        extra = ""
        if h.value is not None:
            extra += f" value={h.value:g}"
        if h.label:
            extra += f" label={h.label}"
        out.write(f"            -> {h.indicator}{extra}: {', '.join(h.terms)}\n")


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

    from monitor.evidence import Crossing
    from monitor.memory import return_large_blocks
    from monitor.scheduler import serve
    from monitor.watch import Reload, Watch

    _configure_logging(args.log_format)
    return_large_blocks()  # a long-running process: see monitor.memory
    rules, store = _prepare(args)
    log = logging.getLogger("monitor")

    def told_reload(reload: Reload) -> None:
        if reload.rules is None:
            log.error("indicators.yaml has problems; keeping the last good rules",
                      extra={"event": {"problems": reload.problems}})
        else:
            log.info("rules reloaded", extra={"event": {"rules": reload.rules.fingerprint,
                                                        "re-matched": reload.rematched}})

    def told_crossing(crossing: Crossing) -> None:
        log.warning("alert on" if crossing.on else "alert off",
                    extra={"event": {"scenario": crossing.scenario,
                                     "level": round(crossing.level, 1)}})

    async def go() -> None:
        async with _poller(args, store, rules) as poller:
            mailer = _alert_mailer(store, lambda: poller.rules.config)

            async def crossed(crossing: Crossing) -> None:
                told_crossing(crossing)
                if mailer is not None:
                    await mailer.on_crossing(crossing)

            watch = Watch(poller, store, _indicators_path(args), score_every=args.score_every,
                          clock=_now, on_reload=told_reload, on_crossing=crossed,
                          on_reading=mailer.retry if mailer is not None else None)
            await serve(poller, tick=args.tick, on_pass=watch.after_pass)

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
            out.write(f"{'':<{width}}  last error: {on_one_line(st.last_error)}\n")
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


# --- scores, explanations and feedback --------------------------------------------------------


def _at(text: str) -> datetime:
    """--at: an ISO date (midnight) or datetime; without a zone it is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or datetime such as 2025-10-26 or 2025-10-26T12:00"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _duration(text: str) -> timedelta:
    from monitor.indicators import parse_duration

    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_backtest(args: argparse.Namespace, out: TextIO) -> int:
    from monitor import backtest
    from monitor.fetch import read_entries
    from monitor.rules import load

    rules = load(_indicators_path(args), examples=False).rules
    config = rules.config
    by_path = {(config.path.parent / f.path).resolve(): f.id for f in config.feeds if f.path}
    entries = []
    now = _now()
    for name in args.paths:
        path = Path(name)
        source = by_path.get(path.resolve(), path.stem)
        entries.extend(read_entries(path, source=source, now=now).entries)
    timeline = backtest.run(entries, rules, args.start, args.end, args.step)
    ids = [s.id for s in config.scenarios]
    if args.csv:
        out.write(",".join(["date", *ids]) + "\n")
        for i, at in enumerate(timeline.steps):
            levels = (f"{timeline.scenarios[sid][i].level:.1f}" for sid in ids)
            out.write(",".join([at.isoformat(), *levels]) + "\n")
        return 0
    if args.json:
        for i, at in enumerate(timeline.steps):
            out.write(json.dumps({
                "at": at.isoformat(),
                "levels": {sid: round(timeline.scenarios[sid][i].level, 1) for sid in ids},
                "alerts": [sid for sid in ids if timeline.scenarios[sid][i].alert],
            }) + "\n")
        return 0
    out.write(f"backtest of {timeline.items} items ({timeline.hits} hits"
              + (f", {timeline.undated} without a date left out" if timeline.undated else "")
              + ")\n")
    if not timeline.steps:
        out.write("no dated items: nothing to replay\n")
        return 0
    width = 60
    count = len(timeline.steps)
    buckets = [range(i * count // width, max((i + 1) * count // width, i * count // width + 1))
               for i in range(min(width, count))]
    name_width = max(len(sid) for sid in ids)
    first, last = timeline.steps[0], timeline.steps[-1]
    out.write(f"{'':<{name_width}}  {first:%Y-%m-%d}{'':<{max(len(buckets) - 20, 1)}}"
              f"{last:%Y-%m-%d}  now   peak\n")
    for sid in ids:
        points = timeline.scenarios[sid]
        bars = backtest.sparkline([max(points[j].level for j in b) for b in buckets])
        peak = max(points, key=lambda p: p.level)
        alerts = [p.at for i, p in enumerate(points)
                  if p.alert and (i == 0 or not points[i - 1].alert)]
        line = (f"{sid:<{name_width}}  {bars}  {points[-1].level:4.1f}  {peak.level:4.1f} "
                f"({peak.at:%Y-%m-%d})")
        if alerts:
            line += "  alert from " + ", ".join(f"{a:%Y-%m-%d}" for a in alerts[:3])
        out.write(line + "\n")
    return 0


def _signed(x: float) -> str:
    return f"{x:+.1f}"


def _unknown(kind: str, name: str, known: Sequence[str], where: str) -> str:
    close = difflib.get_close_matches(name, known, n=1) or [k for k in known if name in k][:1]
    hint = (f"did you mean {close[0]!r}?" if close
            else f"known: {', '.join(known) or 'none'}.")
    return f"There is no {kind} {name!r} in {where}; {hint}"


def _gathered(args: argparse.Namespace) -> tuple[Any, Any]:
    """The rules, and the evidence at --at (default now) from the store."""
    from monitor.evidence import gather_scored

    rules, store = _prepare(args)
    try:
        return rules, gather_scored(store, rules.config, args.at or _now())
    finally:
        store.close()


def cmd_scores(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.evidence import ledger_views, record_reading
    from monitor.scoring import tenths as _tenths

    rules, store = _prepare(args)
    config = rules.config
    try:
        at = args.at or _now()
        # Live scores continue the stored history: an alert stays on until the level falls
        # below its hysteresis band, and this reading becomes part of the history. A score
        # --at a past moment is a what-if and is neither fed by nor written to the history.
        if args.at is None:
            shown = record_reading(store, config, at).views
        else:
            shown = ledger_views(store, config, at)
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    for scenario in config.scenarios:
        v = shown[scenario.id]
        level = _tenths(v.score.level)
        rows.append({
            "scenario": scenario.id, "title": scenario.title, "at": at.isoformat(),
            "level": level,
            # Changes between the levels as shown, so 24 h ago is exactly level - change.
            "change_24h": round(level - _tenths(v.score.level - v.change_24h), 1),
            "change_7d": round(level - _tenths(v.score.level - v.change_7d), 1),
            "alert": v.alert, "converged": v.converged,
            "surges": [{"indicator": s.indicator, "recent": s.recent,
                        "baseline": round(s.baseline, 3), "p_value": s.p_value}
                       for s in v.surges],
            "top": _top(v.score)[:3],
        })
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    out.write(f"scores at {_stamp(at)}\n")
    width = max([len(r["scenario"]) for r in rows] + [8])
    out.write(f"{'scenario':<{width}}  level     24h      7d  alert  surge  top indicators\n")
    for r in rows:
        top = ", ".join(f"{t['indicator']} {t['points']:.1f}" for t in r["top"]) or "-"
        surge = ",".join(s["indicator"] for s in r["surges"]) or "-"
        out.write(f"{r['scenario']:<{width}}  {r['level']:5.1f}  {_signed(r['change_24h']):>6}  "
                  f"{_signed(r['change_7d']):>6}  {'ALERT' if r['alert'] else '-':<5}  "
                  f"{surge:<5}  {top}\n")
    return 0


def _top(score: Any) -> list[dict[str, Any]]:
    """Indicators by the size of their evidence, with their points as `explain` shows them."""
    points = score.indicator_points()
    by = score.by_indicator()
    ranked = sorted(by, key=lambda i: (-abs(by[i][0]), i))
    return [{"indicator": i, "points": round(points[i], 1), "stories": by[i][2]}
            for i in ranked]


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from monitor import scoring
    from monitor.scoring import tenths as _tenths

    rules, got = _gathered(args)
    config = rules.config
    scenario = config.scenario(args.scenario)
    if scenario is None:
        raise UsageError(_unknown("scenario", args.scenario,
                                  [s.id for s in config.scenarios], str(config.path)))
    settings = scoring.settings_for(config)
    result = scoring.score(scenario.id, got.evidence, config, got.now, settings, got.false_hits)
    level = _tenths(result.level)
    points = scoring.round_points(result.stories, result.level)
    idle = _idle_entries(scenario.id, result, got, config)
    stories: list[dict[str, Any]] = []
    for story, p in zip(result.stories, points, strict=True):
        stories.append({
            "indicator": story.indicator, "story": story.cluster, "weight": story.weight,
            "strength": round(story.strength, 4), "evidence": round(story.evidence, 4),
            "points": p,
            "reports": [{"entry": r.entry, "source": r.source, "grade": r.grade,
                         "reliability": r.reliability, "decay": round(r.decay, 4),
                         "when": r.when.isoformat(), "title": r.title}
                        for r in story.reports],
            "added_nothing": idle.get((story.indicator, story.cluster), []),
        })
    if args.json:
        out.write(json.dumps({
            "scenario": scenario.id, "title": scenario.title, "at": got.now.isoformat(),
            "level": level, "evidence": round(result.evidence, 4), "scale": settings.scale,
            "stories": stories,
        }, ensure_ascii=False) + "\n")
        return 0
    n = len(stories)
    out.write(f"{scenario.id}: {scenario.title}\n")
    out.write(f"level {level:.1f} at {_stamp(got.now)} from {n} stor{'y' if n == 1 else 'ies'} "
              f"(evidence {result.evidence:+.3f}, scale {settings.scale:g})\n")
    for st in stories:
        out.write(f"\n{st['points']:6.1f}  {st['indicator']}  story {st['story']}  "
                  f"weight {st['weight']:+g}  strength {st['strength']:.3f}  "
                  f"evidence {st['evidence']:+.3f}\n")
        for r in st["reports"]:
            when = datetime.fromisoformat(r["when"]).strftime("%Y-%m-%d %H:%M")
            out.write(f"        entry {r['entry']}  {r['source']}  {r['grade']} "
                      f"{r['reliability']:.2f}  decay {r['decay']:.3f}  {when}  "
                      f"{on_one_line(r['title'])}\n")
        for c in st["added_nothing"]:
            out.write(f"        added nothing: entry {c['entry']}  {c['source']}  "
                      f"({c['why']})  {on_one_line(c['title'])}\n")
    terms = [f"{st['points']:.1f}" for st in stories[:1]]
    terms += [f"{'-' if st['points'] < 0 else '+'} {abs(st['points']):.1f}" for st in stories[1:]]
    out.write(f"\ntotal {' '.join(terms) or '0.0'} = {level:.1f}\n")
    return 0


def _idle_entries(scenario: str, result: Any, got: Any, config: Any
                  ) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Per story, the entries that counted for it in principle but added nothing: copies of a
    counted report's wording, or weaker reports of a source already counted."""
    from monitor import scoring

    cutoff = got.now - timedelta(seconds=scoring.half_life_seconds(config, scenario)
                                 * scoring.HORIZON_HALF_LIVES)
    indicators = {i.id: i for i in config.indicators}
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for story in result.stories:
        counted = {r.entry for r in story.reports}
        by_source = {r.source: r.entry for r in story.reports}
        versions: dict[str, int] = {}
        idle: list[dict[str, Any]] = []
        for ev in got.evidence:
            if ev.indicator == story.indicator and ev.cluster == story.cluster \
                    and ev.entry in counted:
                versions.setdefault(ev.version or f"entry:{ev.entry}", ev.entry)
        for ev in got.evidence:
            if (ev.indicator != story.indicator or ev.cluster != story.cluster
                    or ev.entry in counted or ev.when > got.now or ev.when < cutoff
                    or (ev.entry, ev.indicator) in got.false_hits
                    or not scoring.weight_of(indicators[ev.indicator], scenario, ev.value,
                                             ev.label)):
                continue
            copy_of = versions.get(ev.version or f"entry:{ev.entry}")
            why = (f"copy of entry {copy_of}" if copy_of is not None
                   else f"weaker than entry {by_source[ev.source]} of the same source"
                   if ev.source in by_source else "copy")
            idle.append({"entry": ev.entry, "source": ev.source, "when": ev.when.isoformat(),
                         "title": ev.title, "why": why})
        out[(story.indicator, story.cluster)] = idle
    return out


def cmd_feedback(args: argparse.Namespace, out: TextIO) -> int:
    if not (args.false or args.undo):
        raise UsageError("say --false to mark the hit false, or --undo to withdraw the mark "
                         "(see `monitor feedback --help`)")
    rules, store = _prepare(args)
    config = rules.config
    try:
        known = [i.id for i in config.indicators]
        if args.indicator not in known:
            raise MonitorError(_unknown("indicator", args.indicator, known, str(config.path)))
        entry = store.entry_by_pk(args.entry)
        if entry is None:
            raise MonitorError(f"There is no entry {args.entry} in the database at {store.url}; "
                               "`monitor explain SCENARIO` shows entry numbers.")
        if args.undo:
            if not store.unmark(args.entry, args.indicator):
                raise MonitorError(f"Entry {args.entry}'s hit for {args.indicator} is not marked "
                                   "false, so there is nothing to undo.")
            out.write(f"Entry {args.entry}'s hit for {args.indicator} counts again.\n")
            return 0
        hits = store.hits_for([args.entry]).get(args.entry, [])
        if all(h.hit.indicator != args.indicator for h in hits):
            raise MonitorError(f"Entry {args.entry} has no hit for {args.indicator} under the "
                               "current rules, so there is nothing to mark false.")
        store.mark_false(args.entry, args.indicator, args.note or "", _who(), _now())
    finally:
        store.close()
    out.write(f"Marked entry {args.entry}'s hit for {args.indicator} false: "
              "scores leave it out from now on.\n")
    return 0


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no user database entry (some containers)
        return "unknown"


def cmd_indicators(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.rules import load

    if not args.stats:
        config = load(_indicators_path(args), examples=False).rules.config
        for ind in config.indicators:
            if args.json:
                out.write(json.dumps({"indicator": ind.id, "title": ind.title,
                                      "weight": ind.weight}, ensure_ascii=False) + "\n")
            else:
                weights = ", ".join(f"{s} {w:+g}" for s, w in ind.weight.items())
                out.write(f"{ind.id}: {ind.title} ({weights})\n")
        return 0
    rules, store = _prepare(args)
    try:
        stats = store.indicator_stats(rules.fingerprint)
    finally:
        store.close()
    rows = []
    for ind in rules.config.indicators:
        st = stats.get(ind.id)
        hits, false = (st.hits, st.marked_false) if st else (0, 0)
        precision = st.precision if st else None
        rows.append({"indicator": ind.id, "hits": hits, "false": false,
                     "precision": None if precision is None else round(precision, 4)})
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    width = max([len(r["indicator"]) for r in rows] + [9])
    out.write(f"{'indicator':<{width}}   hits  false  precision\n")
    for r in rows:
        p = "-" if r["precision"] is None else f"{r['precision']:.2f}"
        out.write(f"{r['indicator']:<{width}}  {r['hits']:>5}  {r['false']:>5}  {p:>9}\n")
    return 0


# --- digest and alert emails -------------------------------------------------------------------


def _alert_mailer(store: Any, config: Callable[[], Any]) -> Any:
    """The mailer of alert crossings when SMTP is set up (MONITOR_SMTP_*), else None; says
    once why alerts listed in indicators.yaml will not be mailed."""
    from monitor.digest import AlertMailer, smtp_settings
    from monitor.errors import MailError

    try:
        settings = smtp_settings(os.environ)
    except MailError as exc:
        if config().alerts.email:
            logging.getLogger("monitor").error(
                "alert emails are off", extra={"event": {"reason": str(exc)}})
        return None
    return AlertMailer(store, settings, config, clock=_now)


def _since(text: str) -> timedelta | None:
    """--since: `last` (None) or a duration such as 24h or 3d."""
    return None if text == "last" else _duration(text)


def cmd_digest(args: argparse.Namespace, out: TextIO) -> int:
    from monitor import digest
    from monitor.errors import MailError

    sending = not (args.dry_run or args.json)
    if args.at is not None and sending:
        raise UsageError("--at composes a digest as of another moment, which is never sent; "
                         "add --dry-run or --json")
    # Mail settings first: a cron job without them fails at once with the reason.
    settings = digest.smtp_settings(os.environ) if sending else None
    rules, store = _prepare(args)
    config = rules.config
    try:
        now = args.at or _now()
        d = digest.prepare(store, config, now, now - args.since if args.since else None)
        if args.json:
            out.write(json.dumps(digest.as_json(d), ensure_ascii=False) + "\n")
            return 0
        if not d.news:
            last = f"the last digest ({_stamp(d.since)})" if d.previous_at else _stamp(d.since)
            out.write(f"Nothing new since {last}: no new evidence and no alert changed, so no "
                      "digest was sent.\n")
            return 0
        recipients = list(args.to or config.alerts.email)
        if settings is None:
            sender = os.environ.get("MONITOR_SMTP_FROM") or "monitor@localhost"
            out.write(digest.preview(digest.render_digest(d, sender, recipients)))
            return 0
        if not recipients:
            raise UsageError("the digest has no recipients: give --to ADDR or list them under "
                             f"alerts: {{email: [...]}} in {config.path}")
        message = digest.render_digest(d, settings.sender, recipients)
        try:
            digest.deliver(store, d, message, settings, recipients, _now())
        except MailError as exc:
            raise MailError(f"{exc.what}, so the digest was not sent; the next run will send "
                            "it") from None
    finally:
        store.close()
    n = len(recipients)
    out.write(f"Sent the digest to {n} recipient{'s' if n != 1 else ''}: {d.subject}\n")
    return 0


# --- dashboard and demo ----------------------------------------------------------------------


def cmd_dashboard(args: argparse.Namespace, out: TextIO) -> int:
    from monitor.rules import load
    from monitor.tui.app import MonitorApp
    from monitor.tui.live import Attached, Engine, Polling

    path = _indicators_path(args)
    load(path, examples=False)  # a broken file is reported in full before the screen opens
    url = args.db or os.environ.get("MONITOR_DB") or None
    engine: Engine
    if args.attach:
        engine = Attached(url, path, every=args.tick)
    else:
        # Alert crossings are mailed as `monitor run` mails them, after the dashboard's own
        # notification, when MONITOR_SMTP_* is set.
        engine = Polling(url, path, lambda store, rules: _poller(args, store, rules),
                         tick=args.tick, score_every=args.score_every,
                         mailer_from=_alert_mailer, clock=_now)
    MonitorApp(url, path, engine=engine).run()
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    import functools
    import tempfile

    from monitor.rules import load
    from monitor.store import Store
    from monitor.tui import demo
    from monitor.tui.app import MonitorApp
    from monitor.tui.live import Attached

    path = _indicators_path(args)
    load(path, examples=False)  # problems are reported against the analyst's file, not a copy
    # The corpus sits beside the shipped indicators.yaml in a checkout; the package's own
    # checkout is the fallback when the rules come from elsewhere.
    seeds = demo.find_seeds(path.resolve().parent / "seeds",
                            Path(__file__).resolve().parents[1] / "seeds")
    with tempfile.TemporaryDirectory(prefix="monitor-demo-") as folder:
        rules_from = functools.partial(demo.demo_rules, folder=seeds, work=Path(folder))
        rules = rules_from(path)
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        store = Store.open(url)
        try:
            seeded = demo.seed(store, rules, seeds)
        finally:
            store.close()
        for o in seeded.report.failed:
            print(f"monitor: {o.feed}: {o.message}", file=sys.stderr)
        # Offline: nothing is polled. Scored as of the newest item, so the corpus's evidence has
        # not decayed away; a saved indicators.yaml re-matches the corpus and re-scores it.
        when = seeded.newest.strftime("%Y-%m-%d") if seeded.newest else "now"
        engine = Attached(url, path, every=1.0, now=seeded.newest, rules_from=rules_from,
                          rematch=True, label=f"demo: the seeds corpus as of {when}")
        MonitorApp(url, path, now=seeded.newest, engine=engine).run()
    return 0


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
    run.add_argument("--score-every", type=float, default=300.0, metavar="SECONDS",
                     help="score and record a snapshot at least this often, and after new "
                          "evidence (at most once a minute); default 300")
    run.add_argument("--log-format", choices=["text", "json"], default="text",
                     help="log lines as key=value text or JSON (default text)")
    run.set_defaults(run=cmd_run)

    feeds = sub.add_parser("feeds", help="each feed's health: last success, last error, next poll")
    feeds.add_argument("--json", action="store_true", help="one JSON object per feed")
    feeds.set_defaults(run=cmd_feeds)

    scores = sub.add_parser("scores", help="each scenario's level, changes, alert, surges and "
                                           "top indicators")
    scores.add_argument("--json", action="store_true", help="one JSON object per scenario")
    scores.add_argument("--at", type=_at, metavar="DATETIME",
                        help="score as of this ISO date or datetime, UTC (default: now)")
    scores.set_defaults(run=cmd_scores)

    explain = sub.add_parser("explain", help="the stories and reports behind a scenario's level")
    explain.add_argument("scenario", metavar="SCENARIO", help="scenario id")
    explain.add_argument("--json", action="store_true", help="one JSON object")
    explain.add_argument("--at", type=_at, metavar="DATETIME",
                         help="explain as of this ISO date or datetime, UTC (default: now)")
    explain.set_defaults(run=cmd_explain)

    backtest = sub.add_parser("backtest", help="replay dated items through matching and "
                                               "scoring with a moving now")
    backtest.add_argument("paths", nargs="+", metavar="PATH",
                          help="RSS/Atom file or .jsonl of dated items")
    backtest.add_argument("--from", dest="start", type=_at, metavar="DATE",
                          help="first step (default: the first item's date)")
    backtest.add_argument("--to", dest="end", type=_at, metavar="DATE",
                          help="last step (default: the last item's date)")
    backtest.add_argument("--step", type=_duration, default=timedelta(days=1), metavar="DURATION",
                          help="time between steps, e.g. 1d or 12h (default 1d)")
    shape = backtest.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON object per step")
    shape.add_argument("--csv", action="store_true", help="CSV: a row per step, a column per "
                                                          "scenario")
    backtest.set_defaults(run=cmd_backtest)

    feedback = sub.add_parser("feedback", help="mark an entry's hit false (or undo that)")
    feedback.add_argument("entry", type=int, metavar="ENTRY",
                          help="entry number, as `monitor explain` shows it")
    feedback.add_argument("indicator", metavar="INDICATOR", help="indicator id")
    feedback.add_argument("--false", action="store_true",
                          help="the hit is false: scores leave it out")
    feedback.add_argument("--note", metavar="TEXT", help="why, for whoever reads it later")
    feedback.add_argument("--undo", action="store_true", help="withdraw the mark")
    feedback.set_defaults(run=cmd_feedback)

    indicators = sub.add_parser("indicators", help="the indicators, with --stats their hits "
                                                   "and precision")
    indicators.add_argument("--stats", action="store_true",
                            help="stored hits, hits marked false and precision per indicator")
    indicators.add_argument("--json", action="store_true", help="one JSON object per indicator")
    indicators.set_defaults(run=cmd_indicators)

    digest = sub.add_parser("digest", help="email what moved since the last digest; for cron")
    digest.add_argument("--since", type=_since, default=None, metavar="DURATION|last",
                        help="news since the last delivered digest (`last`, the default) or "
                             "within a span such as 24h or 3d")
    digest.add_argument("--to", nargs="+", metavar="ADDR",
                        help="recipients (default: alerts: email: in indicators.yaml)")
    digest.add_argument("--dry-run", action="store_true",
                        help="print the message instead of sending it; records nothing")
    digest.add_argument("--json", action="store_true",
                        help="print the digest's content as one JSON object; sends nothing")
    digest.add_argument("--at", type=_at, metavar="DATETIME",
                        help="compose as of this ISO date or datetime, UTC (with --dry-run "
                             "or --json)")
    digest.set_defaults(run=cmd_digest)

    dashboard = sub.add_parser(
        "dashboard", help="the scores, and the stories behind them, in the terminal, kept "
                          "current: polls, scores and alerts as `monitor run` does",
        description="The scores, and the stories behind them, kept current without a "
                    "keypress. By default the dashboard polls due feeds, scores, records "
                    "snapshots and notifies alert crossings itself, as `monitor run` does; "
                    "with --attach it only reads a database that `monitor run` (or a team's "
                    "pollers) feeds. Saving indicators.yaml takes the new rules in; a broken "
                    "save keeps the last good rules and shows its problems in a banner.")
    dashboard.add_argument("--attach", action="store_true",
                           help="poll nothing; re-score when the database changes")
    dashboard.add_argument("--tick", type=float, default=2.0, metavar="SECONDS",
                           help="how often to look for due feeds, or with --attach for "
                                "changes in the database (default 2)")
    dashboard.add_argument("--score-every", type=float, default=300.0, metavar="SECONDS",
                           help="record a snapshot at least this often, and after new evidence "
                                "(at most once a minute), as `monitor run` does; default 300")
    dashboard.add_argument("--worker-id", metavar="NAME",
                           help="this poller's name in a team's database (default: random)")
    dashboard.set_defaults(run=cmd_dashboard)

    demo = sub.add_parser("demo", help="the dashboard on the demo corpus (seeds/), in a "
                                       "throwaway database, offline; saving indicators.yaml "
                                       "re-scores it")
    demo.set_defaults(run=cmd_demo)
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
