"""The digest and alert emails: what goes in them, how they look, and how they are sent.

A digest tells an analyst, in one email that reads well in a mail client and on a phone, what
moved since the last digest and why: every scenario's level, its change since the last
delivered digest, alert and surge state and a 7-day trend; for scenarios with new evidence the
strongest new reports (title, source and grade, time, link, the indicator hit) and how many
more; and a line on feeds that are failing.

The parts:
- `compose(...) -> Digest` and `render_digest(Digest, ...) -> EmailMessage` are pure: stored
  facts and `now` in, content and a multipart text + HTML message out (golden-tested).
  Everything that came from a feed is escaped in HTML, and only http(s) links are linked.
- `prepare(store, config, now, since)` reads what `compose` needs from the store: the last
  delivered digest, the new hits (not reported by any delivered digest), feed health.
- `send(message, settings, recipients)` hands a message to an SMTP server (STARTTLS, SSL or
  plain), mapping every failure to one `MailError` sentence that never holds the password.
- `deliver(...)` sends a digest and only then records it as delivered, with the hits it
  reported, so a failed run loses nothing and a repeated run reports nothing twice.
- `AlertMailer` mails a scenario's alert crossing once, recording it first and retrying a
  failed send on later passes (for up to a day, after which the digest still shows the alert).

SMTP settings come from the environment only (`smtp_settings`): MONITOR_SMTP_HOST, _PORT,
_USER, _PASSWORD, _FROM, _SECURITY (starttls, ssl or none).
"""

from __future__ import annotations

import asyncio
import bisect
import email
import email.policy
import html
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

from monitor import scoring
from monitor.backtest import sparkline
from monitor.errors import MailError, MonitorError
from monitor.evidence import Crossing, LiveLedger, ledger_views
from monitor.evidence import scored_to_evidence as to_scored_evidence
from monitor.indicators import Config
from monitor.model import stamp as _stamp
from monitor.model import utcnow

if TYPE_CHECKING:
    from monitor.store import DeliveredDigest, SourceState, Store, StoredEntry

TOP = 3
"""New reports shown per scenario; the rest are counted."""
LATE = timedelta(days=3)
"""How far before the window a report may be dated and still be news: a report first seen in
the window (a feed that was down, a slow outlet) is reported if it is at most this old."""
TREND_DAYS = 7
SNAPSHOT_SLACK = timedelta(hours=1)
"""How old a recorded reading may be and still stand for the level at a day of the trend."""
ALERT_RETRY = timedelta(hours=24)
"""How long a failed alert email is retried; after that the digest carries the news."""
SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_LOWEST = "▁"  # the trend of a level at zero: a bar, not a blank, so mail keeps its width
# Any http(s) URL without whitespace or control characters; quotes and brackets in it are
# escaped where it is written into HTML.
_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)

log = logging.getLogger("monitor.mail")


# --- content -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One new report, as the digest shows it."""

    entry: int
    indicator: str
    title: str
    source: str
    source_name: str
    grade: str
    when: datetime
    link: str | None
    """The entry's link if it is http(s), else None (never shown or linked)."""
    points: float
    """Its story's share of the scenario's level, to 0.1 (negative: evidence against)."""


@dataclass(frozen=True)
class ScenarioLine:
    """One scenario in a digest."""

    id: str
    title: str
    level: float
    change: float
    """Since the last digest, or over 24 h before the first one (`since_last` says which)."""
    since_last: bool
    alert: bool
    was_alert: bool
    alert_at: float
    surges: tuple[scoring.Surge, ...]
    trend: tuple[float, ...]
    """Levels at each of the last TREND_DAYS days and now, oldest first."""
    items: tuple[Item, ...] = ()
    more: int = 0
    """New reports beyond `items`."""
    new_entries: frozenset[int] = frozenset()
    """Every entry with a new report for the scenario, shown or counted in `more`."""

    @property
    def previous(self) -> float:
        return self.level - self.change

    @property
    def moving(self) -> bool:
        return bool(self.items) or self.alert != self.was_alert or round(self.change) != 0


@dataclass(frozen=True)
class FeedProblem:
    """A feed marked failing, as the digest mentions it."""

    id: str
    name: str
    errors: int
    last_success: datetime | None
    error: str


@dataclass(frozen=True)
class Digest:
    """Everything one digest says, and the hits it reports."""

    now: datetime
    since: datetime
    previous_at: datetime | None
    """When the last delivered digest was made, if one was."""
    scenarios: tuple[ScenarioLine, ...]
    feeds: int
    failing: tuple[FeedProblem, ...]
    reported: frozenset[tuple[int, str]] = field(default_factory=frozenset)
    """(entry, indicator) of every new hit in the window: recorded at delivery, never
    reported again."""

    @property
    def news(self) -> bool:
        """Whether there is anything to send: a new report that counts for some scenario, or an
        alert that switched on or off. (New hits that weigh on no scenario are not news.)"""
        return any(s.new_entries or s.alert != s.was_alert for s in self.scenarios)

    @property
    def subject(self) -> str:
        moved = [s for s in self.scenarios if round(s.previous) != round(s.level)]
        parts = []
        if moved:
            top = max(moved, key=lambda s: (abs(s.change), s.alert))
            parts.append(f"{top.id} {round(top.previous)} → {round(top.level)}")
        else:
            parts.append("no scenario moved")
        alerts = sum(s.alert for s in self.scenarios)
        if alerts:
            parts.append(f"{alerts} alert{'s' if alerts != 1 else ''}")
        new = len(frozenset().union(*(s.new_entries for s in self.scenarios)))
        if new:
            parts.append(f"{new} new report{'s' if new != 1 else ''}")
        return ", ".join(parts)


def safe_link(link: str | None) -> str | None:
    """`link` if it is an http(s) URL without whitespace or control characters, else None."""
    if not link:
        return None
    link = link.strip()
    return link if _LINK.fullmatch(link) else None


def compose(config: Config, now: datetime, level_at: Callable[[str, datetime], float],
            shown: Mapping[str, scoring.ScenarioView],
            new: Iterable[tuple[int, str]], entries: Mapping[int, StoredEntry],
            previous: DeliveredDigest | None, since: datetime,
            sources: Sequence[SourceState] = (), failing_after: int = 10,
            recorded: Mapping[str, Sequence[tuple[datetime, float]]] | None = None) -> Digest:
    """The digest at `now` of the window from `since`: `shown` are the scenarios' views at
    `now`, `level_at(scenario, moment)` scores one at an earlier moment, `new` are the
    (entry, indicator) hits not reported before, `entries` their stored entries (for links),
    `previous` the last delivered digest, `sources` the feeds' polling states, `recorded` each
    scenario's stored (time, level) readings of the last week, oldest first (the trend uses
    them where it can).

    A feed is reported failing when its last poll failed and it is marked failing
    (`failing_after` errors in a row) or has not succeeded since `since`: either way, news of
    the window may be missing."""
    new_hits = frozenset(new)
    names = {s.id: s.name for s in sources}
    lines = []
    for scenario in config.scenarios:
        view = shown[scenario.id]
        level = scoring.tenths(view.score.level)
        if previous is not None and scenario.id in previous.levels:
            change = level - scoring.tenths(previous.levels[scenario.id])
            was_alert = previous.alerts.get(scenario.id, False)
            since_last = True
        else:
            change = level - scoring.tenths(view.score.level - view.change_24h)
            was_alert = view.alert
            since_last = False
        items = _items(view.score, new_hits, entries, names)
        alert_at = scenario.alert if scenario.alert is not None else config.defaults.alert
        lines.append(ScenarioLine(
            scenario.id, scenario.title, level, round(change, 1), since_last, view.alert,
            was_alert, alert_at, view.surges, _trend(scenario.id, now, level_at, view,
                                                     (recorded or {}).get(scenario.id, ())),
            tuple(items[:TOP]), max(len(items) - TOP, 0), frozenset(i.entry for i in items)))
    order = {s.id: i for i, s in enumerate(config.scenarios)}
    # Alerts first, then what moved most, then the quiet ones in the order of the file.
    lines.sort(key=lambda s: (not s.alert, not s.moving,
                              -abs(s.change) if s.moving else 0.0, order[s.id]))
    failing = tuple(
        FeedProblem(s.id, s.name, s.consecutive_errors, s.last_success_at,
                    " ".join((s.last_error or "").split()))
        for s in sources if s.active and s.consecutive_errors
        and (s.consecutive_errors >= failing_after or s.last_success_at is None
             or s.last_success_at < since))
    return Digest(now, since, previous.at if previous else None, tuple(lines),
                  sum(1 for s in sources if s.active), failing, new_hits)


def _items(score: scoring.Score, new: frozenset[tuple[int, str]],
           entries: Mapping[int, StoredEntry], names: Mapping[str, str]) -> list[Item]:
    """One item per story with a new counted report (its strongest new one), strongest story
    first."""
    out = []
    points = scoring.round_points(score.stories, score.level)
    for story, p in zip(score.stories, points, strict=True):
        fresh = [r for r in story.reports if (r.entry, story.indicator) in new]
        if not fresh:
            continue
        r = fresh[0]
        stored = entries.get(r.entry)
        out.append(Item(r.entry, story.indicator,
                        " ".join(r.title.split()), r.source, names.get(r.source, r.source),
                        r.grade, r.when, safe_link(stored.entry.link if stored else None), p))
    out.sort(key=lambda i: (-abs(i.points), -i.when.timestamp(), i.entry))
    return out


def _trend(scenario: str, now: datetime, level_at: Callable[[str, datetime], float],
           view: scoring.ScenarioView, recorded: Sequence[tuple[datetime, float]] = ()
           ) -> tuple[float, ...]:
    """The level at each of the last TREND_DAYS days and now. Now, a day and a week ago are the
    view's own; each day between is the latest reading recorded within SNAPSHOT_SLACK before
    it (`monitor run` records one every few minutes), else scored afresh (bench/digest.py)."""
    level = view.score.level
    levels: dict[int, float] = {0: level, 1: level - view.change_24h,
                                TREND_DAYS: level - view.change_7d}
    times = [at for at, _ in recorded]
    for d in range(2, TREND_DAYS):
        at = now - timedelta(days=d)
        i = bisect.bisect_right(times, at) - 1
        if i >= 0 and at - times[i] <= SNAPSHOT_SLACK:
            levels[d] = recorded[i][1]
        else:
            levels[d] = level_at(scenario, at)
    return tuple(scoring.tenths(levels[d]) for d in range(TREND_DAYS, -1, -1))


# --- reading the store -------------------------------------------------------------------------


def prepare(store: Store, config: Config, now: datetime, since: datetime | None = None
            ) -> Digest:
    """The digest at `now` of news since `since` (default: since the last delivered digest,
    else the last 24 h), read from `store`."""
    from monitor.poll import Schedule  # the poller's own threshold for "failing"

    previous = store.last_digest()
    if since is None:
        since = previous.at if previous is not None else now - timedelta(hours=24)
    # Scored through a ledger (monitor.ledger: the model of monitor.scoring over arrays), so
    # the trend's days cost a sum over arrays each rather than a rescoring of every story.
    live = LiveLedger(config)
    shown = ledger_views(store, config, now, store.last_alerts(), live)
    ledger = live.ledger
    assert ledger is not None
    false_hits = store.false_hits()
    candidates = [ev for ev in to_scored_evidence(store.scored_hits_since(since - LATE, now))
                  if ev.when <= now and (ev.entry, ev.indicator) not in false_hits]
    entries = store.entries_by_pk({ev.entry for ev in candidates})
    reported = store.reported_hits(entries)
    new = []
    for ev in candidates:
        stored = entries.get(ev.entry)
        if stored is None or (ev.entry, ev.indicator) in reported:
            continue
        if ev.when >= since or since <= stored.first_seen <= now:
            new.append((ev.entry, ev.indicator))
    recorded: dict[str, list[tuple[datetime, float]]] = {}
    for snap in store.snapshots(since=now - timedelta(days=TREND_DAYS) - SNAPSHOT_SLACK,
                                until=now):
        recorded.setdefault(snap.scenario, []).append((snap.at, snap.level))
    return compose(config, now, lambda sid, at: ledger.level(sid, at), shown, new,
                   entries, previous, since, store.source_states(),
                   Schedule().failing_after, recorded)


# --- rendering ---------------------------------------------------------------------------------


def _points(p: float) -> str:
    return f"{p:+.1f} points"


def _change(s: ScenarioLine) -> str:
    span = "since the last digest" if s.since_last else "in 24 h"
    return f"{s.change:+.1f} {span}"


def _alert_state(s: ScenarioLine) -> str:
    if s.alert and not s.was_alert:
        return "ALERT (new)"
    if s.alert:
        return "ALERT"
    if s.was_alert:
        return "alert ended"
    return ""


def _window(d: Digest) -> str:
    since = _stamp(d.since)
    if d.previous_at is not None and d.since == d.previous_at:
        return f"News since the last digest ({since})."
    return f"News since {since}."


def _feeds_line(d: Digest) -> str:
    if not d.failing:
        return ""
    parts = []
    for f in d.failing:
        ok = f"last ok {_stamp(f.last_success)}" if f.last_success else "never ok"
        parts.append(f"{f.name} ({f.errors} errors in a row, {ok}: {f.error or 'no message'})")
    return (f"Feeds: {len(d.failing)} of {d.feeds} failing, so their news is missing: "
            + "; ".join(parts) + ".")


def render_text(d: Digest) -> str:
    """The plain-text part."""
    out = [f"Scenario digest of {_stamp(d.now)}. {_window(d)}", ""]
    for s in d.scenarios:
        state = _alert_state(s)
        out.append(f"{s.title} [{s.id}]" + (f" - {state}" if state else ""))
        out.append(f"  level {s.level:.1f}, {_change(s)} (alert at {s.alert_at:g})")
        out.append(f"  last 7 days {sparkline(s.trend, _LOWEST)} "
                   f"{s.trend[0]:.0f} → {s.trend[-1]:.0f}")
        for surge in s.surges:
            out.append(f"  surge: {surge.indicator}, {surge.recent} stories in 24 h "
                       f"(usually {surge.baseline:.1f})")
        if s.items:
            out.append("  new evidence:")
        for i in s.items:
            out.append(f"  - {i.title}")
            out.append(f"    {i.source_name}, grade {i.grade}, {_stamp(i.when)}")
            out.append(f"    {i.indicator}, {_points(i.points)}")
            link = safe_link(i.link)
            if link:
                out.append(f"    {link}")
        if s.more:
            out.append(f"  and {s.more} more: monitor explain {s.id}")
        out.append("")
    feeds = _feeds_line(d)
    if feeds:
        out += [feeds, ""]
    out.append("Levels are 0-100 measures of how strongly the evidence points at a scenario, "
               "not probabilities; `monitor explain SCENARIO` shows every point.")
    return "\n".join(out) + "\n"


_E = html.escape
_MUTED = "color:#555555;font-size:13px"


def render_html(d: Digest) -> str:
    """The HTML part: one narrow column with inline styles, which mail clients keep."""
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_E(d.subject)}</title></head>",
        '<body style="margin:0;padding:0;background:#f3f3f3">',
        '<div style="max-width:640px;margin:0 auto;padding:12px 16px;background:#ffffff;'
        "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
        'font-size:15px;line-height:1.45;color:#1a1a1a">',
        f'<p style="{_MUTED}">Scenario digest of {_E(_stamp(d.now))}. {_E(_window(d))}</p>',
    ]
    for s in d.scenarios:
        state = _alert_state(s)
        badge = ""
        if state:
            colour = "#b00020" if s.alert else "#555555"
            badge = (f' <span style="background:{colour};color:#ffffff;font-size:12px;'
                     f'padding:1px 6px;border-radius:3px">{_E(state)}</span>')
        out.append('<div style="border-top:1px solid #dddddd;padding:10px 0">')
        out.append(f'<h2 style="font-size:17px;margin:0 0 4px 0">{_E(s.title)} '
                   f'<span style="{_MUTED};font-weight:normal">{_E(s.id)}</span>{badge}</h2>')
        out.append(f'<p style="margin:0"><strong>{s.level:.1f}</strong> '
                   f"{_E(_change(s))} · alert at {s.alert_at:g}</p>")
        out.append(f'<p style="margin:0;{_MUTED}">last 7 days '
                   f'<span style="font-family:monospace;font-size:15px">'
                   f"{sparkline(s.trend, _LOWEST)}</span> {s.trend[0]:.0f} → {s.trend[-1]:.0f}</p>")
        for surge in s.surges:
            out.append(f'<p style="margin:0">Surge: {_E(surge.indicator)}, {surge.recent} '
                       f"stories in 24 h (usually {surge.baseline:.1f})</p>")
        if s.items:
            out.append('<ul style="margin:8px 0 0 0;padding-left:18px">')
        for i in s.items:
            # Checked again here, so no caller can hand the renderer a link to run.
            link = safe_link(i.link)
            title = (f'<a href="{_E(link)}" style="color:#0b57d0">{_E(i.title)}</a>'
                     if link else _E(i.title))
            out.append(f'<li style="margin:0 0 8px 0">{title}<br>'
                       f'<span style="{_MUTED}">{_E(i.source_name)}, grade {_E(i.grade)} · '
                       f"{_E(_stamp(i.when))} · {_E(i.indicator)} · {_E(_points(i.points))}"
                       "</span></li>")
        if s.items:
            out.append("</ul>")
        if s.more:
            out.append(f'<p style="margin:0;{_MUTED}">and {s.more} more: '
                       f"<code>monitor explain {_E(s.id)}</code></p>")
        out.append("</div>")
    feeds = _feeds_line(d)
    if feeds:
        out.append(f'<p style="border-top:1px solid #dddddd;padding-top:10px;color:#8a4b00">'
                   f"{_E(feeds)}</p>")
    out.append(f'<p style="{_MUTED}">Levels are 0-100 measures of how strongly the evidence '
               "points at a scenario, not probabilities; <code>monitor explain SCENARIO</code> "
               "shows every point.</p>")
    out.append("</div></body></html>")
    return "\n".join(out) + "\n"


def _headed(subject: str, sender: str, recipients: Sequence[str], at: datetime, text: str
            ) -> EmailMessage:
    """A message with the monitor's headers and `text` as its plain-text body."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(at.astimezone(UTC))
    message.set_content(text, cte="quoted-printable")
    return message


def render_digest(d: Digest, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The digest as one multipart/alternative message: plain text, then HTML."""
    message = _headed(d.subject, sender, recipients, d.now, render_text(d))
    message.add_alternative(render_html(d), subtype="html", cte="quoted-printable")
    return message


def preview(message: EmailMessage) -> str:
    """A message as a person reads it: its headers, then each part decoded (for --dry-run)."""
    out = [f"{k}: {v}" for k, v in message.items() if k.lower() not in ("content-type",
                                                                          "mime-version")]
    for part in message.walk():
        if part.is_multipart():
            continue
        out.append(f"\n--- {part.get_content_type()} ---")
        out.append(str(part.get_content()).rstrip("\n"))
    return "\n".join(out) + "\n"


def as_json(d: Digest) -> dict[str, Any]:
    """The digest's content for `monitor digest --json`."""
    return {
        "at": d.now.isoformat(), "since": d.since.isoformat(),
        "previous": d.previous_at.isoformat() if d.previous_at else None,
        "subject": d.subject, "news": d.news,
        "scenarios": [{
            "scenario": s.id, "title": s.title, "level": s.level, "change": s.change,
            "change_since": "last digest" if s.since_last else "24h",
            "alert": s.alert, "was_alert": s.was_alert, "alert_at": s.alert_at,
            "surges": [{"indicator": g.indicator, "recent": g.recent,
                        "baseline": round(g.baseline, 3)} for g in s.surges],
            "trend": list(s.trend),
            "new": [{"entry": i.entry, "indicator": i.indicator, "title": i.title,
                     "source": i.source, "grade": i.grade, "when": i.when.isoformat(),
                     "link": i.link, "points": i.points} for i in s.items],
            "more": s.more,
        } for s in d.scenarios],
        "feeds": {"active": d.feeds, "failing": [
            {"feed": f.id, "errors": f.errors,
             "last_success": f.last_success.isoformat() if f.last_success else None,
             "error": f.error} for f in d.failing]},
    }


# --- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail. The password never appears in repr() or messages."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_settings(env: Mapping[str, str]) -> SmtpSettings:
    """The SMTP settings from MONITOR_SMTP_* in `env`; MailError if missing or invalid."""
    host = env.get("MONITOR_SMTP_HOST", "").strip()
    if not host:
        raise MailError("MONITOR_SMTP_HOST is not set, so there is no mail server to send to "
                        "(set MONITOR_SMTP_HOST and MONITOR_SMTP_FROM, or use --dry-run)")
    security = env.get("MONITOR_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SECURITIES:
        raise MailError(f"MONITOR_SMTP_SECURITY is {security!r}; it must be one of "
                        + ", ".join(SECURITIES))
    raw_port = env.get("MONITOR_SMTP_PORT", "").strip()
    try:
        port = int(raw_port) if raw_port else DEFAULT_PORTS[security]
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise MailError(f"MONITOR_SMTP_PORT is {raw_port!r}, not a port number")
    user = env.get("MONITOR_SMTP_USER", "").strip() or None
    password = env.get("MONITOR_SMTP_PASSWORD") or None
    if user and password is None:
        raise MailError("MONITOR_SMTP_USER is set but MONITOR_SMTP_PASSWORD is not")
    sender = env.get("MONITOR_SMTP_FROM", "").strip() or (user if user and "@" in user else "")
    if not sender:
        raise MailError("MONITOR_SMTP_FROM is not set, so the mail has no sender address")
    return SmtpSettings(host, port, security, sender, user, password)


def send(message: EmailMessage, settings: SmtpSettings, recipients: Sequence[str]) -> None:
    """Hand `message` to the mail server for `recipients`; returns once the server accepted
    it for at least one of them. MailError (one clause, no password) otherwise."""
    try:
        _send(message, settings, recipients)
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"the mail server at {settings.where} refused the login of "
                        f"{settings.user} ({_answer(exc, settings)})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise MailError(f"the mail server at {settings.where} refused every recipient "
                        f"({refused})") from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(f"the mail server at {settings.where} refused the sender "
                        f"{settings.sender} ({_answer(exc, settings)})") from None
    except smtplib.SMTPServerDisconnected:
        raise MailError(f"the mail server at {settings.where} closed the connection before "
                        "it accepted the message") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"the mail server at {settings.where} answered "
                        f"{_answer(exc, settings)}") from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS with the mail server at {settings.where} failed "
                        f"({_hide(exc.reason or str(exc), settings)})") from None
    except smtplib.SMTPException as exc:
        raise MailError(f"mail to {settings.where} failed ({_hide(str(exc), settings)})") \
            from None
    except TimeoutError:
        raise MailError(f"the mail server at {settings.where} did not answer within "
                        f"{settings.timeout:g} s") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise MailError(f"cannot reach the mail server at {settings.where} "
                        f"({_hide(reason, settings)})") from None


def _send(message: EmailMessage, settings: SmtpSettings, recipients: Sequence[str]) -> None:
    if not recipients:
        raise MailError("there are no recipients to send the mail to")
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    # Leaving the block sends QUIT; a server that hangs up after accepting is not a failure.
    with smtp:
        if settings.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except smtplib.SMTPNotSupportedError:
                raise MailError(f"the mail server at {settings.where} does not offer STARTTLS "
                                "(set MONITOR_SMTP_SECURITY to ssl or none)") from None
        if settings.user:
            try:
                smtp.login(settings.user, settings.password or "")
            except smtplib.SMTPNotSupportedError:
                raise MailError(f"the mail server at {settings.where} does not offer a login "
                                "(unset MONITOR_SMTP_USER, or use TLS if it offers one only "
                                "over TLS)") from None
        if "Message-ID" not in message:
            message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2]
                                               or None)
        refused = smtp.send_message(message, from_addr=settings.sender,
                                    to_addrs=list(recipients))
    if refused:
        log.warning("mail server refused some recipients",
                    extra={"event": {"refused": sorted(refused)}})


def _answer(exc: smtplib.SMTPResponseException, settings: SmtpSettings) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    return _hide(f"{exc.smtp_code} {' '.join(text.split())}", settings)


def _hide(text: str, settings: SmtpSettings) -> str:
    """`text` with the password blanked out, should a server or library ever echo it."""
    return text.replace(settings.password, "***") if settings.password else text


def deliver(store: Store, d: Digest, message: EmailMessage, settings: SmtpSettings,
            recipients: Sequence[str], sent_at: datetime) -> int:
    """Send the digest, then record it as delivered with each scenario's level and the hits it
    reported. Nothing is recorded unless the server accepted it. Returns the digest's id."""
    send(message, settings, recipients)
    levels = {s.id: (s.level, s.alert) for s in d.scenarios}
    return store.record_digest(d.now, d.since, sent_at, recipients, d.subject, levels,
                               d.reported)


# --- alert emails ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertNotice:
    """What an alert email says: the scenario crossed its alert level, and the stories that
    weigh most in its level."""

    scenario: str
    title: str
    question: str
    level: float
    alert_at: float
    at: datetime
    items: tuple[Item, ...]


def render_alert(notice: AlertNotice, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """A short plain-text alert email."""
    lines = [f"{notice.title} [{notice.scenario}] crossed its alert level at "
             f"{_stamp(notice.at)}: {notice.level:.1f} (alert at {notice.alert_at:g}).",
             "", notice.question, ""]
    if notice.items:
        lines.append("Weighing most:")
    for i in notice.items:
        lines.append(f"- {i.title}")
        lines.append(f"  {i.source_name}, grade {i.grade}, {_stamp(i.when)}, {i.indicator}, "
                     f"{_points(i.points)}")
        link = safe_link(i.link)
        if link:
            lines.append(f"  {link}")
    lines += ["", f"monitor explain {notice.scenario} shows every point."]
    subject = f"Alert: {notice.scenario} {round(notice.level)} (alert at {notice.alert_at:g})"
    return _headed(subject, sender, recipients, notice.at, "\n".join(lines) + "\n")


def alert_notice(store: Store, config: Config, crossing: Crossing) -> AlertNotice:
    """The notice for `crossing`, with the scenario's strongest stories at that moment."""
    scenario = config.scenario(crossing.scenario)
    # The score the crossing came from names the stories; one told without it is scored anew.
    result = crossing.score or LiveLedger(config).refresh(store, crossing.at).score(
        crossing.scenario, crossing.at)
    lead = {(s.reports[0].entry, s.indicator) for s in result.stories[:TOP] if s.reports}
    entries = store.entries_by_pk(pk for pk, _ in lead)
    names = {s.id: s.name for s in store.source_states()}
    items = _items(result, frozenset(lead), entries, names)
    alert_at = (scenario.alert if scenario and scenario.alert is not None
                else config.defaults.alert)
    return AlertNotice(crossing.scenario, scenario.title if scenario else crossing.scenario,
                       scenario.question if scenario else "", crossing.level, alert_at,
                       crossing.at, tuple(items[:TOP]))


class AlertMailer:
    """Mails each alert crossing (a scenario's alert switching on) to `alerts.email` once.

    The email is rendered and recorded as pending first, then sent; a send that fails stays
    pending and is retried on every later call of `retry` (wire it as the Watch's
    `on_reading`) or `on_crossing`, for up to `retry_for`, after which it is marked expired
    and the digest carries the news. Failures are logged, never raised: polling goes on.

        mailer = AlertMailer(store, smtp_settings(os.environ), lambda: poller.rules.config)
        Watch(..., on_crossing=mailer.on_crossing, on_reading=mailer.retry)
    """

    def __init__(self, store: Store, settings: SmtpSettings, config: Callable[[], Config], *,
                 clock: Callable[[], datetime] = utcnow,
                 retry_for: timedelta = ALERT_RETRY) -> None:
        self.store = store
        self.settings = settings
        self.config = config
        self.clock = clock
        self.retry_for = retry_for

    async def on_crossing(self, crossing: Crossing) -> None:
        await asyncio.to_thread(self.mail, crossing)

    async def retry(self, _reading: object = None) -> None:
        await asyncio.to_thread(self.send_pending)

    def mail(self, crossing: Crossing) -> None:
        """Record and send the email for `crossing` (an alert switching off sends none)."""
        try:
            recipients = list(self.config().alerts.email)
            if crossing.on and recipients:
                notice = alert_notice(self.store, self.config(), crossing)
                message = render_alert(notice, self.settings.sender, recipients)
                self.store.record_alert(crossing.scenario, crossing.at, crossing.level,
                                        recipients, message.as_string())
        except MonitorError as exc:
            log.error("alert email not recorded", extra={"event": {
                "scenario": crossing.scenario, "error": str(exc)}})
        self.send_pending()

    def send_pending(self) -> int:
        """Send every pending alert email; returns how many the server accepted."""
        sent = 0
        try:
            pending = self.store.alert_emails("pending")
            for alert in pending:
                now = self.clock()
                if now - alert.crossing_at > self.retry_for:
                    self.store.mark_alert(alert.id, "expired", now, alert.last_error)
                    log.error("alert email given up", extra={"event": {
                        "scenario": alert.scenario, "attempts": alert.attempts,
                        "error": alert.last_error}})
                    continue
                message = email.message_from_string(alert.message, policy=email.policy.default)
                try:
                    send(message, self.settings, alert.recipients)
                except MailError as exc:
                    self.store.mark_alert(alert.id, "pending", now, str(exc))
                    log.warning("alert email not sent; retrying after the next pass",
                                extra={"event": {"scenario": alert.scenario,
                                                 "error": str(exc)}})
                    continue
                self.store.mark_alert(alert.id, "sent", now)
                sent += 1
                log.info("alert email sent", extra={"event": {
                    "scenario": alert.scenario, "to": list(alert.recipients)}})
        except MonitorError as exc:
            log.error("alert emails not sent", extra={"event": {"error": str(exc)}})
        return sent


__all__ = [
    "ALERT_RETRY", "LATE", "TOP", "AlertMailer", "AlertNotice", "Digest", "FeedProblem",
    "Item", "ScenarioLine", "SmtpSettings", "alert_notice", "as_json", "compose", "deliver",
    "prepare", "preview", "render_alert", "render_digest", "render_html", "render_text",
    "safe_link", "send", "smtp_settings",
]

