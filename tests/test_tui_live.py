"""The dashboard keeps itself current: it polls a real HTTP feed and shows new evidence and an
alert without a keypress, quits with no thread left and nothing half-done, takes in a saved
indicators.yaml (and shows a broken one's problems until it is fixed), re-matches the demo's
corpus on a save, and, attached, shows what another process writes to the store."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import FeedServer, Reply, Request
from smtpserver import SmtpServer, smtp  # noqa: F401 (fixture)
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from monitor.cli import main
from monitor.evidence import Crossing
from monitor.fetch import Fetcher, FetchPolicy
from monitor.poll import Poller
from monitor.rules import Rules, load
from monitor.store import Store
from monitor.tui import demo
from monitor.tui.app import MonitorApp
from monitor.tui.board import Board
from monitor.tui.detail import DetailScreen
from monitor.tui.entry import EntryScreen
from monitor.tui.feeds import FeedsScreen
from monitor.tui.live import Attached, Polling
from monitor.watch import Reload

RATE = "<item><title>Bank of Russia raises the key rate to a record</title><guid>a</guid></item>"
QUITS = ("<item><title>Governor resigns over budget dispute in Kremlin shake-up</title>"
         "<guid>b</guid></item>")

RULES = """\
version: 1
feeds: [{feed}]
scenarios: [{{id: crisis, title: Economic crisis, question: Is the economy breaking, alert: 25}}]
indicators:
  - {{id: rate, title: Key rate, weight: {{crisis: 1}}, match: [key rate]}}
  - {{id: quits, title: Resignations, weight: {{crisis: {quits}}}, match: [resigns]}}
"""


def rss(*items: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            "<link>https://example.org/</link><description>d</description>"
            + "".join(items) + "</channel></rss>")


SAVES = itertools.count(1)


def write(path: Path, text: str) -> None:
    """Save as an editor would, each save with a later mtime even on a coarse clock."""
    path.write_text(text, encoding="utf-8")
    later = time.time() + next(SAVES)
    os.utime(path, (later, later))


def make_poller(store: Store, rules: Rules) -> Poller:
    return Poller(rules.config.feeds, rules, store, base_dir=rules.config.path.parent,
                  default_every=rules.config.defaults.every, clock=lambda: datetime.now(UTC),
                  fetcher=Fetcher(FetchPolicy(per_host_interval=0)))


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (
            f"the dashboard did not get there in time; it shows level {level(pilot.app)!r}, "
            f"status {str(pilot.app.query_one('#status', Static).render())!r}, "
            f"banner {banner(pilot.app)!r}")
        await pilot.pause(0.05)


def cell(app: MonitorApp, column: str, scenario: str = "crisis") -> str:
    """What the scenarios table shows for `scenario` under the column headed `column` (the
    sort mark aside), or "" before that scenario is drawn."""
    table = app.query_one("#scenarios", DataTable)
    if scenario not in [k.value for k in table.rows]:
        return ""
    keys = [key for key, col in table.columns.items()
            if str(col.label).removesuffix(" ▼") == column]
    assert len(keys) == 1, f"no single column {column!r} in {list(table.columns.values())}"
    return str(table.get_cell(scenario, keys[0]))


def level(app: MonitorApp) -> str:
    """The level column of the one scenario, as drawn (without the bar)."""
    drawn = cell(app, "level").split()
    return drawn[-1] if drawn else ""


def marks(app: MonitorApp) -> str:
    return cell(app, "marks")


def banner(app: MonitorApp) -> str | None:
    widget = app.query_one("#problems", Static)
    return str(widget.render()) if widget.display else None


def notes(app: MonitorApp) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]  # noqa: SLF001


def test_the_dashboard_polls_and_alerts_without_a_keypress_and_quits_cleanly(
    tmp_path: Path, db_url: str
) -> None:
    served = [RATE]

    def answer(_request: Request) -> Reply:
        return Reply(200, {"Content-Type": "application/rss+xml"}, rss(*served).encode())

    url = db_url
    with FeedServer() as server:
        server.route("/feed.xml", answer)
        rules = tmp_path / "indicators.yaml"
        write(rules, RULES.format(feed=f"{{id: wire, url: '{server.url('/feed.xml')}', "
                                       "every: 1s}", quits=3))
        engine = Polling(url, rules, make_poller, tick=0.2, score_every=0.3)
        app = MonitorApp(url, rules, engine=engine)

        async def go() -> None:
            async with app.run_test(size=(100, 24)) as pilot:
                await until(pilot, lambda: level(app) == "9.5")
                assert marks(app) == "" and notes(app) == []
                served.append(QUITS)  # the next poll brings the evidence that crosses 25
                await until(pilot, lambda: marks(app) == "ALERT")
                await until(pilot, lambda: bool(notes(app)))
                assert notes(app) == [(f"Economic crisis: alert on, level {level(app)}",
                                       "error")]
                await pilot.press("q")

        asyncio.run(go())

    assert app.return_code == 0
    assert app.engine_thread is not None and not app.engine_thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "monitor-live"]
    with Store.open(url) as store:
        assert store.counts().entries == 2 and store.counts().hits == 2
        assert [s.lease_owner for s in store.source_states()] == [None]
        assert store.last_alerts() == {"crisis": True}


def test_the_dashboard_mails_an_alert_crossing_as_monitor_run_does(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    from monitor.digest import AlertMailer, smtp_settings

    served = [RATE, QUITS]

    def answer(_request: Request) -> Reply:
        return Reply(200, {"Content-Type": "application/rss+xml"}, rss(*served).encode())

    url = f"sqlite:///{tmp_path / 'm.db'}"
    settings = smtp_settings(smtp.env())
    with FeedServer() as server:
        server.route("/feed.xml", answer)
        rules = tmp_path / "indicators.yaml"
        write(rules, RULES.format(feed=f"{{id: wire, url: '{server.url('/feed.xml')}', "
                                       "every: 1s}", quits=3)
              + "alerts: {email: [desk@example.org]}\n")
        engine = Polling(url, rules, make_poller, tick=0.2, score_every=0.3,
                         mailer_from=lambda store, config: AlertMailer(store, settings, config))
        app = MonitorApp(url, rules, engine=engine)

        async def go() -> None:
            async with app.run_test(size=(100, 24)) as pilot:
                await until(pilot, lambda: bool(notes(app)))
                await until(pilot, lambda: bool(smtp.inbox.received))
                await pilot.pause(1.0)  # more passes and readings: still one email
                await pilot.press("q")

        asyncio.run(go())

    assert [r.recipients for r in smtp.inbox.received] == [["desk@example.org"]]
    assert smtp.inbox.received[0].message["Subject"] == "Alert: crisis 33 (alert at 25)"


def test_quitting_at_once_stops_the_engine_before_it_polls(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(rss(RATE), encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    write(rules, RULES.format(feed="{id: local, path: feed.xml, every: 1h}", quits=1))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    app = MonitorApp(url, rules, engine=Polling(url, rules, make_poller, tick=0.1))

    async def go() -> None:
        async with app.run_test() as pilot:
            await pilot.press("q")

    asyncio.run(go())
    assert app.engine_thread is not None and not app.engine_thread.is_alive()
    with Store.open(url) as store:
        assert [s.lease_owner for s in store.source_states()] in ([], [None])


def test_a_broken_save_shows_its_problems_and_a_fixed_one_rescores(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(rss(RATE, QUITS), encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    feed = "{id: local, path: feed.xml, every: 1h}"
    write(rules, RULES.format(feed=feed, quits=1))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    app = MonitorApp(url, rules, engine=Polling(url, rules, make_poller, tick=0.1,
                                                score_every=0.2))

    async def go() -> None:
        async with app.run_test(size=(100, 24)) as pilot:
            await until(pilot, lambda: level(app) == "18.1")
            assert banner(app) is None
            # Brackets in a problem are shown as written, never read as markup.
            write(rules, RULES.format(feed=feed, quits='"[b]heavy"'))
            await until(pilot, lambda: banner(app) is not None)
            assert banner(app) == (
                "indicators.yaml has 1 problem; the last good rules keep running until it is "
                f"fixed:\n{rules}:6:55: `crisis` must be a number, got '[b]heavy'")
            await pilot.pause(0.5)  # passes go on with the last good rules
            assert level(app) == "18.1"
            write(rules, RULES.format(feed=feed, quits=3))
            await until(pilot, lambda: banner(app) is None)
            await until(pilot, lambda: level(app) == "33.0")
            assert marks(app) == "ALERT"

    asyncio.run(go())


def test_an_attached_dashboard_shows_what_another_process_writes(tmp_path: Path, db_url: str
                                                                  ) -> None:
    (tmp_path / "feed.xml").write_text(rss(RATE, QUITS), encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    write(rules, RULES.format(feed="{id: local, path: feed.xml, every: 1h}", quits=1))
    url = db_url
    Store.open(url).close()
    app = MonitorApp(url, rules, engine=Attached(url, rules, every=0.1))

    async def go() -> None:
        async with app.run_test(size=(100, 24)) as pilot:
            await until(pilot, lambda: level(app) == "0.0")
            env = {**os.environ, "MONITOR_INDICATORS": str(rules), "MONITOR_DB": url}
            poll = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "monitor", "poll"], env=env,
                capture_output=True, text=True, timeout=60)
            assert poll.returncode == 0, poll.stderr
            await until(pilot, lambda: level(app) == "18.1")
            # A `monitor run` feeding the database records an alert: the dashboard says so.
            with Store.open(url) as store:
                store.save_snapshots([("crisis", 40.0, 1.0, True)], datetime.now(UTC))
            await until(pilot, lambda: bool(notes(app)))
            assert notes(app) == [("Economic crisis: alert on, level 18.1", "error")]

    asyncio.run(go())
    with Store.open(url) as store:  # attached, the dashboard wrote nothing of its own
        assert len(store.snapshots()) == 1


def test_the_demo_rematches_its_corpus_when_the_analysts_file_is_saved(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    dated = [item.replace("</guid>", "</guid><pubDate>Fri, 25 Oct 2024 10:30:00 +0000</pubDate>")
             for item in (RATE, QUITS)]
    (seeds / "wire.xml").write_text(rss(*dated), encoding="utf-8")
    (seeds / "feeds.yaml").write_text("feeds: [{id: wire, path: wire.xml, reliability: B}]\n",
                                      encoding="utf-8")
    analyst = tmp_path / "indicators.yaml"
    write(analyst, RULES.format(feed="{id: elsewhere, url: 'https://example.org/feed'}",
                                quits=1))
    work = tmp_path / "work"
    work.mkdir()
    rules_from = functools.partial(demo.demo_rules, folder=seeds, work=work)
    url = f"sqlite:///{work / 'demo.db'}"
    with Store.open(url) as store:
        newest = demo.seed(store, rules_from(analyst), seeds).newest
    engine = Attached(url, analyst, every=0.1, now=newest, rules_from=rules_from, rematch=True)
    app = MonitorApp(url, analyst, now=newest, engine=engine)

    async def go() -> None:
        async with app.run_test(size=(100, 24)) as pilot:
            await until(pilot, lambda: level(app) == "23.4")
            write(analyst, RULES.format(feed="{id: elsewhere, url: 'https://example.org/feed'}",
                                        quits="bad"))
            await until(pilot, lambda: banner(app) is not None)
            assert f"\n{analyst}:6:55: " in str(banner(app))  # the analyst's file, not the copy
            write(analyst, RULES.format(feed="{id: elsewhere, url: 'https://example.org/feed'}",
                                        quits=1).replace("[resigns]", "[abdicates]"))
            await until(pilot, lambda: level(app) == "12.5")
            assert banner(app) is None

    asyncio.run(go())
    with Store.open(url) as store:  # re-matched in the demo's own store; nothing was polled
        assert store.counts().hits == 1 and store.counts().entries == 2
        assert [s.last_polled_at is None for s in store.source_states()] == [False]


def test_a_dashboard_over_a_broken_file_says_why_before_opening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "indicators.yaml"
    write(rules, RULES.format(feed="{id: local, path: feed.xml}", quits="heavy"))
    for mode in ([], ["--attach"]):
        code = main(["--indicators", str(rules), "--db", f"sqlite:///{tmp_path / 'm.db'}",
                     "dashboard", *mode])
        assert code == 1
        assert capsys.readouterr().err.splitlines() == [
            f"{rules}:6:55: `crisis` must be a number, got 'heavy'",
            "monitor: 1 problem found; fix it and run `monitor check` again"]
    assert not (tmp_path / "m.db").exists()  # nothing opened, nothing written


def test_attached_a_mark_rescores_through_the_engine_and_every_open_screen_follows(
    tmp_path: Path,
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    dated = [item.replace("</guid>", "</guid><pubDate>Fri, 25 Oct 2024 10:30:00 +0000</pubDate>")
             for item in (RATE, QUITS)]
    (seeds / "wire.xml").write_text(rss(*dated), encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    write(rules, RULES.format(feed="{id: wire, path: seeds/wire.xml}", quits=1))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with Store.open(url) as store:
        newest = demo.seed(store, load(rules, examples=False).rules, seeds).newest
        polled = [s.last_polled_at for s in store.source_states()]
    # A minute between looks: only the engine's refresh, asked for by the mark, re-scores in
    # the time this test takes.
    engine = Attached(url, rules, every=60, now=newest)
    app = MonitorApp(url, rules, now=newest, engine=engine)

    async def go() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: level(app) == "18.1")
            await pilot.press("enter")  # the scenario's signposts and evidence
            await until(pilot, lambda: isinstance(app.screen, DetailScreen))
            await pilot.pause(0.3)
            await pilot.press("enter")  # its top story
            await until(pilot, lambda: isinstance(app.screen, EntryScreen))
            await until(pilot, lambda: app.screen.query_one("#hits", DataTable).row_count > 0)
            shown_before = app.board
            await pilot.press("x")
            await until(pilot, lambda: level(app) not in ("18.1", ""))
            assert app.board is not shown_before
            assert app.board is not None and app.board.now == newest
            screens = [s for s in app.screen_stack if isinstance(s, DetailScreen | EntryScreen)]
            assert len(screens) == 2 and all(s.board is app.board for s in screens)
            assert level(app) == "9.5"
            assert [m for m, _ in notes(app)] == [
                f"quits on entry {app.screen.pk} marked false: crisis 18.1 → 9.5 (-8.6)"]
            await pilot.press("escape", "escape", "f")
            await until(pilot, lambda: isinstance(app.screen, FeedsScreen))
            await pilot.press("p", "a")
            await pilot.pause(0.3)
            assert [m for m, s in notes(app) if s == "warning"] == [
                "This dashboard is attached and only reads the database; whoever feeds it "
                "polls (monitor run, monitor poll)."] * 2

    asyncio.run(go())
    with Store.open(url) as store:  # attached, nothing was polled
        assert [s.last_polled_at for s in store.source_states()] == polled


class Told:
    """An engine's events, kept in order (each from the engine's thread)."""

    def __init__(self) -> None:
        self.boards: list[Board] = []
        self.errors: list[str] = []

    def board(self, board: Board) -> None:
        self.boards.append(board)

    def reloaded(self, reload: Reload) -> None:
        pass

    def crossing(self, crossing: Crossing) -> None:
        pass

    def failed(self, error: str) -> None:
        self.errors.append(error)


def test_an_attached_engine_tells_the_stored_reading_before_the_scores(tmp_path: Path,
                                                                      db_url: str) -> None:
    rules = tmp_path / "indicators.yaml"
    write(rules, RULES.format(feed="{id: local, path: feed.xml, every: 1h}", quits=1))
    at = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    with Store.open(db_url) as store:
        store.save_snapshots([("crisis", 40.0, 1.0, True)], at)
    engine = Attached(db_url, rules, every=0.05)
    told = Told()
    thread = threading.Thread(target=engine.run, args=(told,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(told.boards) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        engine.stop()
        thread.join()
    reading, scored = told.boards[:2]
    assert told.errors == []
    assert reading.reading and reading.now == at
    assert reading.views["crisis"].score.level == 40.0 and reading.views["crisis"].alert
    assert not scored.reading and scored.views["crisis"].score.level == 0.0
