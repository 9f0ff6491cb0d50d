"""Alert emails from the run cycle: a scenario crossing its alert level is mailed to
`alerts: {email: [...]}` once per crossing, recorded, and retried on later passes when the mail
server was not there, up to a day; the cycle is `Watch.score()` on a real store, the server a
real aiosmtpd on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtpserver import PASSWORD, SmtpServer, smtp  # noqa: F401 (fixture)
from test_scheduler import wait_for

from monitor.digest import AlertMailer, smtp_settings
from monitor.evidence import Crossing
from monitor.poll import Poller
from monitor.rules import load
from monitor.store import Store
from monitor.watch import Watch

RULES = """\
version: 1
feeds: [{id: wire, path: wire.xml, reliability: B, title: Wire}]
scenarios:
  - {id: elite-fracture, title: Elite fracture, question: Is the elite splitting?, alert: 30}
indicators:
  - id: elite-resignation
    title: Senior official resigns
    weight: {elite-fracture: 3}
    match: {all: [[resign*], [minister*]]}
alerts: {email: [desk@example.org, duty@example.org]}
"""
RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>W</title>
<link>https://example.org/</link><description>d</description>
<item><title>Deputy minister resigns</title><guid>r1</guid>
<link>https://example.org/r1</link><pubDate>Sun, 07 Dec 2025 09:00:00 +0000</pubDate></item>
</channel></rss>"""
AT = datetime(2025, 12, 7, 12, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Desk:
    """A polled store, a Watch over it and an AlertMailer listening to it."""

    def __init__(self, folder: Path, db_url: str, server: SmtpServer) -> None:
        (folder / "indicators.yaml").write_text(RULES, encoding="utf-8")
        (folder / "wire.xml").write_text(RSS, encoding="utf-8")
        self.rules = load(folder / "indicators.yaml", examples=False).rules
        self.store = Store.open(db_url)
        self.store.sync_sources(self.rules.config.feeds)
        self.clock = Clock(AT)
        self.poller = Poller(self.rules.config.feeds, self.rules, self.store, base_dir=folder,
                             default_every=3600, clock=self.clock)
        self.mailer = AlertMailer(self.store, smtp_settings(server.env()),
                                  lambda: self.poller.rules.config, clock=self.clock)
        self.watch = Watch(self.poller, self.store, folder / "indicators.yaml",
                           clock=self.clock, on_crossing=self.mailer.on_crossing,
                           on_reading=self.mailer.retry)

        async def poll() -> None:
            async with self.poller:
                await self.poller.poll_now(force=True)

        asyncio.run(poll())

    def score(self, at: datetime) -> list[Crossing]:
        self.clock.now = at
        return asyncio.run(self.watch.score()).crossings


@pytest.fixture
def desk(tmp_path: Path, db_url: str, smtp: SmtpServer) -> Iterator[Desk]:
    d = Desk(tmp_path, db_url, smtp)
    yield d
    d.store.close()


def test_a_crossing_is_mailed_once_to_every_recipient_and_recorded(
    desk: Desk, smtp: SmtpServer
) -> None:
    (crossing,) = desk.score(AT)
    assert crossing.on and crossing.scenario == "elite-fracture"
    (got,) = smtp.inbox.received
    assert got.recipients == ["desk@example.org", "duty@example.org"]
    level = round(crossing.level)
    assert got.message["Subject"] == f"Alert: elite-fracture {level} (alert at 30)"
    body = got.message.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    assert body.startswith(
        f"Elite fracture [elite-fracture] crossed its alert level at 2025-12-07 12:00 UTC: "
        f"{crossing.level:.1f} (alert at 30).\n\nIs the elite splitting?\n\nWeighing most:\n"
        "- Deputy minister resigns\n"
        "  Wire, grade B, 2025-12-07 09:00 UTC, elite-resignation, ")
    assert "\n  https://example.org/r1\n" in body
    (recorded,) = desk.store.alert_emails()
    assert (recorded.scenario, recorded.status, recorded.attempts, recorded.sent_at) == (
        "elite-fracture", "sent", 1, AT)

    # Still in alert an hour later: no new crossing, no second email.
    assert desk.score(AT + timedelta(hours=1)) == []
    assert len(smtp.inbox.received) == 1
    assert [a.status for a in desk.store.alert_emails()] == ["sent"]


def test_a_crossing_while_the_mail_server_is_down_is_sent_on_a_later_pass(
    desk: Desk, smtp: SmtpServer
) -> None:
    smtp.stop()
    desk.score(AT)
    (pending,) = desk.store.alert_emails()
    assert (pending.status, pending.attempts) == ("pending", 1)
    assert pending.last_error == (f"Cannot reach the mail server at 127.0.0.1:{smtp.port} "
                                  "(Connection refused).")
    desk.score(AT + timedelta(minutes=5))  # still down: tried again
    assert desk.store.alert_emails()[0].attempts == 2

    smtp.start()
    assert desk.score(AT + timedelta(minutes=10)) == []  # no crossing; the retry sends it
    (got,) = smtp.inbox.received
    assert got.message["Subject"].startswith("Alert: elite-fracture ")
    (sent,) = desk.store.alert_emails()
    assert (sent.status, sent.attempts, sent.sent_at) == ("sent", 3, AT + timedelta(minutes=10))
    desk.score(AT + timedelta(minutes=15))
    assert len(smtp.inbox.received) == 1


def test_an_alert_that_could_not_be_sent_for_a_day_is_given_up(
    desk: Desk, smtp: SmtpServer
) -> None:
    smtp.stop()
    desk.score(AT)
    smtp.start()
    desk.score(AT + timedelta(hours=25))
    assert smtp.inbox.received == []
    assert [a.status for a in desk.store.alert_emails()] == ["expired"]


def test_an_alert_switching_off_sends_nothing_and_a_new_crossing_mails_again(
    desk: Desk, smtp: SmtpServer
) -> None:
    desk.score(AT)
    (off,) = desk.score(AT + timedelta(days=60))  # the evidence has decayed
    assert not off.on
    assert len(smtp.inbox.received) == 1
    asyncio.run(desk.mailer.on_crossing(Crossing("elite-fracture", True, 41.0,
                                                 AT + timedelta(days=61))))
    assert len(smtp.inbox.received) == 2
    # The same crossing told twice (two listeners, a replay) is mailed once.
    asyncio.run(desk.mailer.on_crossing(Crossing("elite-fracture", True, 41.0,
                                                 AT + timedelta(days=61))))
    assert len(smtp.inbox.received) == 2
    assert [a.status for a in desk.store.alert_emails()] == ["sent", "sent"]


RUN_RULES = """version: 1
feeds: [{id: local, path: feed.xml, every: 1h}]
scenarios: [{id: s, title: S, question: Q, alert: 1}]
indicators:
  - {id: k, title: K, weight: {s: 1}, match: [Kremlin]}
alerts: {email: [desk@example.org]}
"""
RUN_RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<link>https://example.org/</link><description>d</description>
<item><title>Kremlin denies talks</title><guid>a</guid></item>
</channel></rss>"""


def run_monitor(folder: Path, env: dict[str, str], until: Callable[[], bool],
                linger: float = 0.0) -> str:
    """`monitor run` in a process until `until()` holds and `linger` seconds more; its log."""
    (folder / "feed.xml").write_text(RUN_RSS, encoding="utf-8")
    (folder / "indicators.yaml").write_text(RUN_RULES, encoding="utf-8")
    env = {**os.environ, **env, "MONITOR_INDICATORS": str(folder / "indicators.yaml"),
           "MONITOR_DB": f"sqlite:///{folder / 'm.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--tick", "0.2",
                             "--score-every", "0.3"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(until)
        time.sleep(linger)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    return err


def test_monitor_run_mails_the_alert(tmp_path: Path, smtp: SmtpServer) -> None:
    # A second of passes more after the first email: still one email.
    err = run_monitor(tmp_path, smtp.env(), lambda: bool(smtp.inbox.received), linger=1.0)
    assert [r.message["Subject"] for r in smtp.inbox.received] == ["Alert: s 10 (alert at 1)"]
    assert "alert email sent" in err and PASSWORD not in err


def test_monitor_run_says_once_why_alerts_are_not_mailed(tmp_path: Path) -> None:
    env = {k: "" for k in ("MONITOR_SMTP_HOST", "MONITOR_SMTP_FROM")}

    def alerted() -> bool:
        try:
            with sqlite3.connect(tmp_path / "m.db", timeout=10) as conn:
                return bool(conn.execute("select count(*) from score_snapshot where alert")
                            .fetchone()[0])
        except sqlite3.OperationalError:
            return False

    err = run_monitor(tmp_path, env, alerted)
    assert err.count("alert emails are off") == 1
    assert "MONITOR_SMTP_HOST is not set" in err
