"""`monitor digest`: one multipart email of what moved since the last delivered digest, sent to
a real SMTP server on loopback, recorded only once the server accepted it, never reporting the
same news twice; rendered from the `seeds/` corpus into golden files; and everything that came
from a feed inert in the HTML."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from smtpserver import (  # noqa: F401 (fixtures)
    PASSWORD,
    Inbox,
    Login,
    SmtpServer,
    free_port,
    smtp,
    smtp_env,
)

from monitor import digest
from monitor.cli import main
from monitor.digest import LATE
from monitor.errors import MailError
from monitor.evidence import gather_scored, views
from monitor.model import Entry, Hit
from monitor.rules import Rules, load
from monitor.store import Polled, Store
from monitor.tui import demo

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = "MONITOR_UPDATE_GOLDEN"
"""Set to 1 to rewrite the golden files from the current rendering (then read the diff)."""

RULES = """\
version: 1
feeds:
  - {id: wire, path: wire.xml, reliability: B, title: Wire & Co}
scenarios:
  - {id: elite-fracture, title: Elite fracture, question: Is the elite splitting?, alert: 30}
  - {id: economic-crisis, title: Economic crisis, question: Is the economy breaking?}
indicators:
  - id: elite-resignation
    title: Senior official resigns
    weight: {elite-fracture: 3}
    match: {all: [[resign*], [minister*]]}
  - id: key-rate-change
    title: Bank of Russia key-rate decision
    weight: {economic-crisis: 1}
    match: {all: [["Bank of Russia"], ["key rate"]]}
alerts: {email: [desk@example.org]}
"""

# Titles as a feed sends them: markup inside CDATA (stripped on the way in), escaped markup
# (which is text, and must stay text), entities, an ampersand in a link.
FIRST = [
    ("r1", "<![CDATA[Deputy minister resigns <script>alert(1)</script> & says "
           '&lt;b&gt;"no"&lt;/b&gt;]]>',
     "https://example.org/r1?a=1&amp;b=2", 3),
    ("k1", "Bank of Russia holds key rate at 16.5%", "https://example.org/k1", 2),
    ("x1", "Weather: snow in Moscow", "https://example.org/x1", 1),
]
LATER = [("r2", "Energy minister resigns suddenly", "https://example.org/r2", 0.5)]


def rss(items: list[tuple[str, str, str, float]], now: datetime) -> str:
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><link>{link}</link>"
        f"<pubDate>{format_datetime(now - timedelta(hours=hours))}</pubDate></item>"
        for guid, title, link, hours in items)
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>'
            f"<link>https://example.org/</link><description>d</description>{body}"
            "</channel></rss>")


@pytest.fixture
def desk(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The global options of a store polled just now from a feed whose items are hours old."""
    (tmp_path / "indicators.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "wire.xml").write_text(rss(FIRST, datetime.now(UTC)), encoding="utf-8")
    args = ["--db", db_url, "--indicators", str(tmp_path / "indicators.yaml")]
    assert main([*args, "poll"]) == 0
    capsys.readouterr()
    return args


def add_later_news(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rules = Path(args[3])
    (rules.parent / "wire.xml").write_text(rss(FIRST + LATER, datetime.now(UTC)),
                                           encoding="utf-8")
    assert main([*args, "poll", "--force"]) == 0
    capsys.readouterr()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    # Mail travels with CRLF line ends; the parts are compared as the text they carry.
    return (text.get_content().replace("\r\n", "\n"),  # type: ignore[attr-defined]
            html.get_content().replace("\r\n", "\n"))  # type: ignore[attr-defined]


def level_now(args: list[str], capsys: pytest.CaptureFixture[str], scenario: str) -> float:
    code, out, _ = run(capsys, *args, "scores", "--json")
    assert code == 0
    return next(r["level"] for r in map(json.loads, out.splitlines())
                if r["scenario"] == scenario)


# --- delivery ----------------------------------------------------------------------------------


def test_the_digest_reaches_a_real_smtp_server_with_both_parts_links_and_escaping(
    desk: list[str], smtp_env: SmtpServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    level = level_now(desk, capsys, "elite-fracture")
    code, out, err = run(capsys, *desk, "digest")
    assert (code, err) == (0, "")
    subject = f"elite-fracture 0 → {round(level)}, 1 alert, 2 new reports"
    assert out == f"Sent the digest to 1 recipient: {subject}\n"

    (got,) = smtp_env.inbox.received
    assert got.sender == "monitor@example.org" and got.recipients == ["desk@example.org"]
    assert got.message["Subject"] == subject
    assert got.message["From"] == "monitor@example.org"
    text, html = parts(got.message)

    title = 'Deputy minister resigns & says <b>"no"</b>'
    assert f"  - {title}\n    Wire & Co, grade B, " in text
    assert "    https://example.org/r1?a=1&b=2\n" in text
    assert "Bank of Russia holds key rate at 16.5%" in text
    assert "Weather" not in text  # no indicator: not evidence
    assert "Elite fracture [elite-fracture] - ALERT" in text

    assert ('<a href="https://example.org/r1?a=1&amp;b=2" style="color:#0b57d0">Deputy minister '
            "resigns &amp; says &lt;b&gt;&quot;no&quot;&lt;/b&gt;</a>") in html
    assert "Wire &amp; Co, grade B" in html
    assert "<script" not in html and "<b>" not in html
    assert re.findall(r'href="([^"]*)"', html) == ["https://example.org/r1?a=1&amp;b=2",
                                                    "https://example.org/k1"]

    with Store.open(db_url) as store:
        (delivered,) = store.digests()
        assert delivered.subject == subject and delivered.recipients == ("desk@example.org",)
        assert delivered.levels["elite-fracture"] == level
        assert delivered.alerts == {"elite-fracture": True, "economic-crisis": False}
        entries = {e.entry.id: e.pk for e in store.entries()}
        assert store.reported_hits(entries.values()) == {
            (entries["r1"], "elite-resignation"), (entries["k1"], "key-rate-change")}


@pytest.mark.parametrize("failure", ["down", "login refused", "dropped mid-send"])
def test_a_failed_send_records_nothing_and_the_next_run_sends_it(
    failure: str, desk: list[str], smtp_env: SmtpServer, db_url: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    if failure == "down":
        smtp_env.stop()
    elif failure == "login refused":
        smtp_env.login.refuse = True
    else:
        smtp_env.inbox.drop = True
    code, out, err = run(capsys, *desk, "digest")
    reason = {
        "down": f"cannot reach the mail server at 127.0.0.1:{smtp_env.port} "
                "(Connection refused)",
        "login refused": f"the mail server at 127.0.0.1:{smtp_env.port} refused the login of "
                         "analyst@example.org (535 5.7.8 Authentication credentials invalid)",
        "dropped mid-send": f"the mail server at 127.0.0.1:{smtp_env.port} closed the "
                            "connection before it accepted the message",
    }[failure]
    assert (code, out) == (1, "")
    assert err == (f"monitor: {reason[0].upper()}{reason[1:]}, so the digest was not sent; "
                   "the next run will send it.\n")
    assert PASSWORD not in err
    assert smtp_env.inbox.received == []
    with Store.open(db_url) as store:
        assert store.digests() == []
        assert store.reported_hits(e.pk for e in store.entries()) == frozenset()

    smtp_env.start()
    smtp_env.login.refuse = smtp_env.inbox.drop = False
    code, out, err = run(capsys, *desk, "digest")
    assert (code, err) == (0, "")
    (got,) = smtp_env.inbox.received
    text, _ = parts(got.message)
    assert "Deputy minister resigns" in text and "key rate at 16.5%" in text


def test_nothing_new_sends_nothing_and_new_evidence_is_reported_once(
    desk: list[str], smtp_env: SmtpServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *desk, "digest")[0] == 0
    with Store.open(db_url) as store:
        first = store.last_digest()
    assert first is not None

    code, out, err = run(capsys, *desk, "digest")
    assert (code, err) == (0, "")
    assert out == (f"Nothing new since the last digest ({first.at:%Y-%m-%d %H:%M} UTC): no new "
                   "evidence and no alert changed, so no digest was sent.\n")
    # A window reaching back over the same news still reports it only once.
    assert run(capsys, *desk, "digest", "--since", "7d")[1].startswith("Nothing new since")
    assert len(smtp_env.inbox.received) == 1

    add_later_news(desk, capsys)
    level = level_now(desk, capsys, "elite-fracture")
    assert run(capsys, *desk, "digest")[0] == 0
    assert len(smtp_env.inbox.received) == 2
    later = smtp_env.inbox.received[1].message
    text, _ = parts(later)
    assert "Energy minister resigns suddenly" in text
    assert "Deputy minister" not in text and "key rate at 16.5%" not in text
    change = round(level - first.levels["elite-fracture"], 1)
    assert f"  level {level:.1f}, {change:+.1f} since the last digest (alert at 30)\n" in text
    assert later["Subject"] == (f"elite-fracture {round(first.levels['elite-fracture'])} → "
                                f"{round(level)}, 1 alert, 1 new report")
    with Store.open(db_url) as store:
        assert len(store.digests()) == 2


def test_without_a_mail_server_setting_it_fails_in_one_sentence(
    desk: list[str], monkeypatch: pytest.MonkeyPatch, db_url: str,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONITOR_SMTP_HOST", raising=False)
    code, out, err = run(capsys, *desk, "digest")
    assert (code, out) == (1, "")
    assert err == ("monitor: MONITOR_SMTP_HOST is not set, so there is no mail server to send "
                   "to (set MONITOR_SMTP_HOST and MONITOR_SMTP_FROM, or use --dry-run).\n")
    with Store.open(db_url) as store:
        assert store.digests() == []


def test_starttls_is_the_default_and_a_server_without_it_is_named(
    desk: list[str], smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONITOR_SMTP_SECURITY")
    code, _, err = run(capsys, *desk, "digest")
    assert code == 1
    assert err == (f"monitor: The mail server at 127.0.0.1:{smtp_env.port} does not offer "
                   "STARTTLS (set MONITOR_SMTP_SECURITY to ssl or none), so the digest was not "
                   "sent; the next run will send it.\n")
    assert smtp_env.inbox.received == []


def test_no_recipients_is_a_usage_error(
    desk: list[str], smtp_env: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = Path(desk[3])
    rules.write_text(RULES.replace("alerts: {email: [desk@example.org]}\n", ""),
                     encoding="utf-8")
    code, _, err = run(capsys, *desk, "digest")
    assert code == 2
    assert err == ("monitor: the digest has no recipients: give --to ADDR or list them under "
                   f"alerts: {{email: [...]}} in {rules}\n")
    assert run(capsys, *desk, "digest", "--to", "a@example.org", "b@example.org")[0] == 0
    assert smtp_env.inbox.received[0].recipients == ["a@example.org", "b@example.org"]


def test_dry_run_prints_the_message_and_json_the_content_recording_nothing(
    desk: list[str], db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MONITOR_SMTP_HOST", raising=False)
    code, out, err = run(capsys, *desk, "digest", "--dry-run")
    assert (code, err) == (0, "")
    assert out.startswith("Subject: elite-fracture 0 → ")
    assert "\nTo: desk@example.org\n" in out
    assert "\n--- text/plain ---\nScenario digest of " in out
    assert "\n--- text/html ---\n<!DOCTYPE html>" in out

    code, out, _ = run(capsys, *desk, "digest", "--json")
    content = json.loads(out)
    assert code == 0 and content["news"] is True and content["previous"] is None
    elite = next(s for s in content["scenarios"] if s["scenario"] == "elite-fracture")
    assert elite["alert"] is True and elite["change_since"] == "24h"
    assert [(n["indicator"], n["source"], n["grade"]) for n in elite["new"]] == [
        ("elite-resignation", "wire", "B")]
    assert len(elite["trend"]) == 8 and elite["trend"][-1] == elite["level"]
    with Store.open(db_url) as store:
        assert store.digests() == []
        assert store.reported_hits(e.pk for e in store.entries()) == frozenset()


def test_at_is_only_for_a_digest_that_is_not_sent(
    desk: list[str], smtp_env: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *desk, "digest", "--at", "2025-01-01")
    assert code == 2 and "add --dry-run or --json" in err
    assert smtp_env.inbox.received == []


def test_a_database_made_before_digests_existed_gains_their_tables(db_url: str) -> None:
    import sqlalchemy

    Store.open(db_url).close()
    engine = sqlalchemy.create_engine(db_url)
    with engine.begin() as conn:
        for table in ("digest_item", "digest", "alert_email"):
            conn.execute(sqlalchemy.text(f"DROP TABLE {table}"))
    engine.dispose()
    at = datetime(2025, 12, 7, 18, tzinfo=UTC)
    with Store.open(db_url) as store:
        assert store.last_digest() is None and store.alert_emails() == []
        store.record_digest(at, at - timedelta(days=1), at, ["desk@example.org"], "s",
                            {"elite-fracture": (41.04, True)}, [])
        assert store.record_alert("elite-fracture", at, 63.0, ["desk@example.org"], "m")
        assert not store.record_alert("elite-fracture", at, 63.0, ["desk@example.org"], "m")
    with Store.open(db_url) as store:
        last = store.last_digest()
        assert last is not None and last.levels == {"elite-fracture": 41.04}
        assert [(a.scenario, a.status) for a in store.alert_emails()] == [
            ("elite-fracture", "pending")]


# --- content -----------------------------------------------------------------------------------


def test_failing_feeds_get_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "indicators.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "wire.xml").write_text(rss(FIRST, datetime.now(UTC)), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    rules = load(tmp_path / "indicators.yaml", examples=False).rules
    now = datetime(2025, 12, 7, 18, tzinfo=UTC)
    with Store.open(url) as store:
        store.sync_sources(rules.config.feeds)
        for i in range(10):
            store.record_failure("wire", now - timedelta(hours=10 - i),
                                 "HTTP 503 from the\nserver", "http", now)
        d = digest.prepare(store, rules.config, now)
    line = ("Feeds: 1 of 1 failing, so their news is missing: Wire & Co (10 errors in a row, "
            "never ok: HTTP 503 from the server).")
    assert f"\n{line}\n" in digest.render_text(d)
    assert "Wire &amp; Co (10 errors" in digest.render_html(d)
    assert not d.news


def test_a_feed_failing_since_before_the_window_is_named_and_one_that_recovered_in_it_is_not(
    tmp_path: Path
) -> None:
    (tmp_path / "indicators.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "wire.xml").write_text(rss(FIRST, datetime.now(UTC)), encoding="utf-8")
    rules = load(tmp_path / "indicators.yaml", examples=False).rules
    now = datetime(2025, 12, 7, 18, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.sync_sources(rules.config.feeds)
        store.ingest("wire", [], {}, rules.fingerprint, now - timedelta(days=2),
                     Polled(next_due_at=now))
        for hours in (30, 20):
            store.record_failure("wire", now - timedelta(hours=hours), "timed out", "network",
                                 now)
        failing = digest.prepare(store, rules.config, now).failing
        assert [(f.id, f.errors, f.last_success) for f in failing] == [
            ("wire", 2, now - timedelta(days=2))]
        store.ingest("wire", [], {}, rules.fingerprint, now - timedelta(hours=10),
                     Polled(next_due_at=now))
        store.record_failure("wire", now - timedelta(hours=1), "timed out", "network", now)
        assert digest.prepare(store, rules.config, now).failing == ()


def item(title: str, link: str | None) -> digest.Item:
    return digest.Item(7, "elite-resignation", title, "wire",
                       "Wire <i>&amp;</i> Co", "B", datetime(2025, 12, 7, 9, tzinfo=UTC), link,
                       12.5)


def one_scenario(*items: digest.Item) -> digest.Digest:
    line = digest.ScenarioLine("elite-fracture", "Elite <fracture>", 63.2, 22.1, True, True,
                               False, 60, (), (0, 0, 10, 20, 30, 41.1, 50, 63.2), items, 0,
                               frozenset(i.entry for i in items))
    now = datetime(2025, 12, 7, 18, tzinfo=UTC)
    return digest.Digest(now, now - timedelta(days=1), now - timedelta(days=1), (line,), 1, (),
                         frozenset({(7, "elite-resignation")}))


def test_feed_text_with_script_entities_and_javascript_links_arrives_inert() -> None:
    hostile = [
        item('<script>alert("x")</script> &amp; &lt;b&gt; &#x27;q&#x27;', "javascript:alert(1)"),
        item("<img src=x onerror=alert(2)>", " JavaScript:alert(1)"),
        item("data", "data:text/html,<script>alert(3)</script>"),
        item("spaced", "https://example.org/a b"),
        item("quoted", 'https://example.org/?q="><script>alert(4)</script>'),
    ]
    d = one_scenario(*hostile)
    html = digest.render_html(d)
    assert "<script" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;amp; &amp;lt;b&amp;gt; " \
           "&amp;#x27;q&amp;#x27;" in html
    assert "Wire &lt;i&gt;&amp;amp;&lt;/i&gt; Co" in html
    assert "Elite &lt;fracture&gt;" in html
    assert re.findall(r'href="([^"]*)"', html) == [
        "https://example.org/?q=&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;"]
    text = digest.render_text(d)
    assert "javascript" not in text.lower() and "data:text" not in text
    assert "https://example.org/a b" not in text
    message = digest.render_digest(d, "monitor@example.org", ["desk@example.org"])
    assert message["Subject"] == "elite-fracture 41 → 63, 1 alert, 1 new report"


def test_only_http_and_https_links_are_kept() -> None:
    assert digest.safe_link("https://example.org/x?a=1&b=2") == "https://example.org/x?a=1&b=2"
    assert digest.safe_link("  HTTP://example.org/ ") == "HTTP://example.org/"
    for bad in ("javascript:alert(1)", "java\nscript:alert(1)", "ftp://example.org/",
                "//example.org/", "https://exa mple.org/", "https://x\x00y", "", None):
        assert digest.safe_link(bad) is None, bad


def test_the_subject_names_the_biggest_movement() -> None:
    d = one_scenario()
    steady = digest.ScenarioLine("economic-crisis", "Economic crisis", 20.0, 0.2, True, False,
                                 False, 65, (), (20.0,) * 8)
    assert digest.Digest(d.now, d.since, d.previous_at, (steady,), 1, ()).subject == \
        "no scenario moved"
    assert digest.Digest(d.now, d.since, d.previous_at, (steady, *d.scenarios), 1,
                         ()).subject == "elite-fracture 41 → 63, 1 alert"


def test_smtp_settings_come_from_the_environment_and_hide_the_password() -> None:
    env = {"MONITOR_SMTP_HOST": "mail.example.org", "MONITOR_SMTP_USER": "me@example.org",
           "MONITOR_SMTP_PASSWORD": PASSWORD}
    settings = digest.smtp_settings(env)
    assert (settings.host, settings.port, settings.security, settings.sender) == (
        "mail.example.org", 587, "starttls", "me@example.org")
    assert PASSWORD not in repr(settings)
    ssl_port = digest.smtp_settings({**env, "MONITOR_SMTP_SECURITY": "SSL"}).port
    assert ssl_port == 465
    problems = {
        "MONITOR_SMTP_SECURITY": ("tls", "MONITOR_SMTP_SECURITY is 'tls'; it must be one of "
                                         "starttls, ssl, none."),
        "MONITOR_SMTP_PORT": ("smtp", "MONITOR_SMTP_PORT is 'smtp', not a port number."),
        "MONITOR_SMTP_PASSWORD": ("", "MONITOR_SMTP_USER is set but MONITOR_SMTP_PASSWORD is "
                                      "not."),
    }
    for key, (value, sentence) in problems.items():
        with pytest.raises(MailError) as caught:
            digest.smtp_settings({**env, key: value})
        assert str(caught.value) == sentence
    with pytest.raises(MailError, match="MONITOR_SMTP_FROM is not set"):
        digest.smtp_settings({"MONITOR_SMTP_HOST": "mail.example.org"})


# --- golden files over the seeds corpus ---------------------------------------------------------

NOW = datetime(2025, 12, 7, 18, tzinfo=UTC)
"""The evening of the demo corpus's last day."""
PREVIOUS = datetime(2025, 12, 3, 6, tzinfo=UTC)
"""A digest delivered that morning, before the Kremlin's "no compromise"."""


@dataclass(frozen=True)
class Seeded:
    rules: Rules
    db: Path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """The seeds corpus polled once into a SQLite file, with the demo's graded feeds."""
    seeds = ROOT / "seeds"
    if not seeds.is_dir():
        pytest.skip("the seeds/ corpus is not in this checkout")
    folder = tmp_path_factory.mktemp("seeds")
    rules = load(demo.with_demo_feeds(ROOT / "indicators.yaml", seeds, folder),
                 examples=False).rules
    with Store.open(f"sqlite:///{folder / 'seeds.db'}") as store:
        demo.seed(store, rules, seeds)
    return Seeded(rules, folder / "seeds.db")


def seeded_digest(seeded: Seeded, folder: Path,
                  readings: list[tuple[str, float, datetime]] | None = None) -> digest.Digest:
    """The digest at NOW over a copy of the seeded store, after a digest delivered at PREVIOUS
    that reported everything then known (and with `readings` recorded as score snapshots)."""
    shutil.copy(seeded.db, folder / "seeds.db")
    config = seeded.rules.config
    with Store.open(f"sqlite:///{folder / 'seeds.db'}") as store:
        got = gather_scored(store, config, PREVIOUS)
        shown = views(config, got)
        known = [(ev.entry, ev.indicator) for ev in got.evidence if ev.when <= PREVIOUS]
        store.record_digest(PREVIOUS, PREVIOUS - timedelta(days=1), PREVIOUS, ["desk@example.org"],
                            "earlier", {s: (v.score.level, v.alert) for s, v in shown.items()},
                            known)
        for scenario, level, at in readings or []:
            store.save_snapshots([(scenario, level, 1.0, False)], at)
        return digest.prepare(store, config, NOW)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get(UPDATE):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"set {UPDATE}=1 to rewrite {path}"


def test_the_seeds_digest_matches_the_golden_files(seeded: Seeded, tmp_path: Path) -> None:
    d = seeded_digest(seeded, tmp_path)
    message = digest.render_digest(d, "monitor@example.org", ["desk@example.org"])
    text, html = parts(message)
    assert text == digest.render_text(d) and html == digest.render_html(d)
    check_golden("digest.txt", text)
    check_golden("digest.html", html)
    assert message["Subject"] == d.subject
    check_golden("digest.subject", d.subject + "\n")


def test_the_trend_takes_recorded_readings_where_there_are_some(seeded: Seeded,
                                                               tmp_path: Path) -> None:
    three_days = NOW - timedelta(days=3)
    d = seeded_digest(seeded, tmp_path, [
        ("elite-fracture", 12.34, three_days - timedelta(minutes=10)),  # stands for day -3
        ("elite-fracture", 99.0, three_days + timedelta(minutes=1)),  # after it: not used
        ("palace-coup", 77.0, NOW - timedelta(days=4, hours=2)),  # too old to stand for -4
    ])
    (tmp_path / "again").mkdir()
    computed = {s.id: s.trend for s in seeded_digest(seeded, tmp_path / "again").scenarios}
    trends = {s.id: s.trend for s in d.scenarios}
    assert trends["elite-fracture"] == (*computed["elite-fracture"][:4], 12.3,
                                        *computed["elite-fracture"][5:])
    assert trends["palace-coup"] == computed["palace-coup"]


# --- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed, so no test certificate can be made")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_verifies_the_server_certificate_and_then_delivers(
    security: str, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(free_port(), Inbox(), Login(), None)
    tls = ({"tls_context": context, "require_starttls": True} if security == "starttls"
           # aiosmtpd offers AUTH over implicit TLS only when told TLS is not required.
           else {"ssl_context": context, "auth_require_tls": False})
    server.controller = Controller(server.inbox, hostname="127.0.0.1", port=server.port,
                                   authenticator=server.login, **tls)
    server.controller.start()
    try:
        settings = digest.smtp_settings(server.env(MONITOR_SMTP_SECURITY=security))
        message = digest.render_digest(one_scenario(), settings.sender, ["desk@example.org"])
        with pytest.raises(MailError) as caught:
            digest.send(message, settings, ["desk@example.org"])
        assert str(caught.value) == (f"TLS with the mail server at 127.0.0.1:{server.port} "
                                     "failed (CERTIFICATE_VERIFY_FAILED).")
        assert server.inbox.received == []
        # Trusted (as a private CA is, through SSL_CERT_FILE), it logs in and delivers.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        digest.send(message, settings, ["desk@example.org"])
        (got,) = server.inbox.received
        assert got.message["Subject"] == message["Subject"]
        assert server.login.tried == ["PLAIN"]
    finally:
        server.stop()


def test_a_login_the_server_does_not_offer_is_named() -> None:
    server = SmtpServer(free_port(), Inbox(), Login(), None)
    server.controller = Controller(server.inbox, hostname="127.0.0.1", port=server.port)
    server.controller.start()
    try:
        settings = digest.smtp_settings(server.env())
        message = digest.render_digest(one_scenario(), settings.sender, ["desk@example.org"])
        with pytest.raises(MailError) as caught:
            digest.send(message, settings, ["desk@example.org"])
    finally:
        server.stop()
    assert str(caught.value) == (
        f"The mail server at 127.0.0.1:{server.port} does not offer a login (unset "
        "MONITOR_SMTP_USER, or use TLS if it offers one only over TLS).")
    assert server.inbox.received == []


def test_a_late_item_is_news_when_first_seen_in_the_window_unless_dated_past_the_late_margin(
        tmp_path: Path, db_url: str) -> None:
    # Feeds publish items days after their date (a weekly digest, a slow aggregator): an item
    # first seen in the window is news if it is dated up to LATE before the window opened.
    (tmp_path / "indicators.yaml").write_text(RULES, encoding="utf-8")
    config = load(tmp_path / "indicators.yaml", examples=False).rules.config
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    since = now - timedelta(days=1)
    resigns = [Hit("elite-resignation", ("resigns", "minister"))]
    items = {  # id: (dated, first seen)
        "seen-earlier": (since - timedelta(days=2), since - timedelta(hours=1)),
        "late": (since - timedelta(days=2), now - timedelta(hours=2)),
        "too-late": (since - LATE - timedelta(days=1), now - timedelta(hours=2)),
        "in-window": (now - timedelta(hours=3), now - timedelta(hours=3)),
    }
    with Store.open(db_url) as store:
        store.sync_sources(config.feeds)
        for n, (guid, (dated, seen)) in enumerate(items.items()):
            entry = Entry(id=guid, title=f"Minister {n} resigns", source="wire",
                          link=f"https://example.org/{guid}", published=dated)
            store.ingest("wire", [entry], {guid: resigns}, "fp", seen,
                         Polled(next_due_at=seen))
        made = digest.prepare(store, config, now, since=since)
        by_pk = {e.pk: e.entry.id for e in store.entries()}
    assert sorted(by_pk[pk] for pk, _ in made.reported) == ["in-window", "late"]
