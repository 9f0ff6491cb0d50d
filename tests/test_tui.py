"""The dashboard driven through its keys with Textual's Pilot over stores polled from feed files
and from a real HTTP server: the scenarios table (sorting, filtering, trends), a scenario's
signpost board and evidence, an entry marked false and restored, the feeds screen polling,
the help, hostile headlines drawn as text, and quitting."""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, feed
from rich.segment import Segment
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from monitor.cli import main
from monitor.indicators import Config
from monitor.ledger import StoryTable
from monitor.rules import load
from monitor.scoring import ScenarioView, Score, round_points
from monitor.store import Store
from monitor.tui import demo
from monitor.tui.app import DetailScreen, MonitorApp, ScoresLoaded
from monitor.tui.board import (
    Board,
    Latest,
    arrow,
    latest,
    level_bar,
    load_board,
    reading_board,
    shown_change,
)
from monitor.tui.entry import EntryScreen
from monitor.tui.feeds import FeedsScreen
from monitor.tui.help import HelpScreen
from monitor.tui.reading import load_detail, load_trends, trend_days
from monitor.tui.scenarios import sort_key

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "indicators.yaml"

RULES = """\
version: 1
defaults: {half_life: 14d}
scenarios:
  - {id: economic-crisis, title: Economic crisis, question: Is the economy breaking}
indicators:
  - id: rate
    title: Bank of Russia key-rate decision
    weight: {economic-crisis: 1}
    match: {all: [["Bank of Russia"], ["key rate"]]}
"""

MARKUP_TITLE = "[bold red]x[/] Bank of Russia raises key rate"
HOSTILE_TITLE = ("[bold red]x[/] [link=https://evil.example/]click[/link] \x1b[31mred\x1b[0m "
                 "nul\x00 Bank of Russia raises key rate")


def rss(title: str, link: str = "https://example.org/g1",
        published: str = "Fri, 25 Oct 2024 10:30:00 +0000") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            "<link>https://example.org/</link><description>d</description>"
            f"<item><title>{title}</title><guid>g1</guid><link>{link}</link>"
            "<description>The Bank of Russia held its key rate at 21%.</description>"
            f"<pubDate>{published}</pubDate></item></channel></rss>")


def seeded(folder: Path, rules_path: Path, feeds: Path) -> tuple[str, demo.Seeded]:
    url = f"sqlite:///{folder / 'monitor.db'}"
    store = Store.open(url)
    try:
        return url, demo.seed(store, load(rules_path, examples=False).rules, feeds)
    finally:
        store.close()


def small_store(tmp_path: Path, feed_file: str, text: str) -> tuple[str, Path, demo.Seeded]:
    """One feed file with one item polled with RULES."""
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES, encoding="utf-8")
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / feed_file).write_text(text, encoding="utf-8")
    url, got = seeded(tmp_path, rules, feeds)
    return url, rules, got


Demo = tuple[str, Path, datetime]


def demo_copy(folder: Path) -> Demo:
    """The demo as `monitor demo` runs it: the shipped rules with the graded demo outlets,
    the corpus polled into a store; its url, rules and `now` (the newest item)."""
    rules = demo.with_demo_feeds(SHIPPED, ROOT / "seeds", folder)
    url, got = seeded(folder, rules, ROOT / "seeds")
    assert got.newest is not None
    return url, rules, got.newest


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo, read-only for the tests."""
    return demo_copy(tmp_path_factory.mktemp("demo"))


def load_config(folder: Path, text: str) -> Config:
    path = folder / "indicators.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path, examples=False).rules.config


async def settle(app: MonitorApp, pilot: Pilot[None]) -> None:
    """Wait until no worker runs and every message they posted is handled (a handler may start
    the next worker: scores, then trends and the open screens)."""
    for _ in range(10):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


def drive(app: MonitorApp, steps: Callable[[Pilot[None]], Awaitable[None]],
          size: tuple[int, int] = (80, 24)) -> None:
    async def go() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await steps(pilot)

    asyncio.run(go())


def column(table: DataTable[object], index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def drawn(table: DataTable[object], line: int) -> list[Segment]:
    return list(table.render_line(line))


def explain(url: str, rules: Path, scenario: str, at: str) -> dict[str, object]:
    out = io.StringIO()
    assert main(["--db", url, "--indicators", str(rules), "explain", scenario, "--json",
                 "--at", at], out) == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


# --- the scenarios table ---------------------------------------------------------------------


def test_the_scenarios_table_has_a_row_per_scenario_by_level(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    assert now.date().isoformat() == "2025-12-07"
    app = MonitorApp(url, rules, now=now)
    board = load_board(url, rules, now)
    by_level = sorted(board.config.scenarios, key=lambda s: -board.views[s.id].score.level)

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#scenarios", DataTable)
        assert [str(k.value) for k in table.rows] == [s.id for s in by_level]
        assert str(table.get_row_at(0)[0]) == "Protracted war"
        assert str(table.get_row_at(0)[1]) == "█████▊    71.9"
        assert str(table.get_row_at(0)[5]) == "ALERT"
        assert str(app.query_one("#status", Static).render()).startswith(
            "Scores at 2025-12-07 13:00 UTC: 8 scenarios, 1 in alert.")

    drive(app, steps)


def test_s_sorts_by_the_24_hour_move_then_7_days_then_as_written(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)
    written = [s.id for s in load(rules, examples=False).rules.config.scenarios]

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#scenarios", DataTable)
        await pilot.press("s")
        moves = [abs(float(c.lstrip("▲▼· "))) for c in column(table, 2)]
        assert moves == sorted(moves, reverse=True)
        assert column(table, 0)[0] == "Negotiated settlement"
        assert str(table.columns[next(iter(list(table.columns)[2:3]))].label) == "24 h ▼"
        await pilot.press("s", "s")
        assert [str(k.value) for k in table.rows] == written
        await pilot.press("s")
        assert column(table, 0)[0] == "Protracted war"

    drive(app, steps)


def test_the_trend_is_thirty_days_ending_at_the_level_now(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    board = load_board(url, rules, now)
    current = {sid: v.score.level for sid, v in board.views.items()}
    trends = load_trends(url, board.config, board.now, current)
    war = trends["protracted-war"]
    assert len(war) == 30 and war[-1] == current["protracted-war"]
    # The past days end at midnight, scored from the stored evidence as `monitor scores` does.
    moments = trend_days(now)
    assert moments[-2].isoformat() == "2025-12-07T00:00:00+00:00"
    assert moments[0].isoformat() == "2025-11-09T00:00:00+00:00"
    for d in (-2, -9):
        out = io.StringIO()
        assert main(["--db", url, "--indicators", str(rules), "scores", "--json", "--at",
                     moments[d].isoformat()], out) == 0
        levels = {r["scenario"]: r["level"] for r in map(json.loads, out.getvalue().splitlines())}
        assert {sid: round(t[d] or 0.0, 1) for sid, t in trends.items()} == levels
    # Levels scored before are taken as they are.
    again = load_trends(url, board.config, board.now, current,
                        known={("protracted-war", moments[3]): 42.0})
    assert again["protracted-war"][3] == 42.0 and again["protracted-war"][4] == war[4]
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#scenarios", DataTable)
        # The same levels, to rounding: the app's kept ledger may sum a day it scored before
        # from kept sums (an ulp or two apart).
        assert app.trends.keys() == trends.keys()
        for sid, levels in trends.items():
            assert app.trends[sid] == pytest.approx(levels, rel=1e-9, abs=1e-9)
        # 15 cells at 80 columns: two days a cell; the last cell is today's level, the top.
        assert column(table, 4)[0] == "▅▅▅▅▄▆▆▆▇▇▇▇█▇█"

    drive(app, steps)


def every_latest(board: Board, limit: int) -> list[Latest]:
    """The latest evidence the plain way: every story built and sorted, grouped by lead."""
    found: dict[int, tuple[datetime, Any, list[tuple[str, float]]]] = {}
    for sid, view in board.views.items():
        stories = list(view.score.stories)
        points = round_points(stories, view.score.level)
        order = sorted(range(len(stories)), key=lambda i: stories[i].latest, reverse=True)
        for i in order[:limit]:
            lead = stories[i].reports[0]
            when, _, counts = found.setdefault(lead.entry, (stories[i].latest, lead, []))
            counts.append((sid, points[i]))
            if stories[i].latest > when:
                found[lead.entry] = (stories[i].latest, lead, counts)
    rows = [Latest(when, r.entry, r.source, r.grade, r.title,
                   tuple(sorted(p, key=lambda x: (-abs(x[1]), x[0]))))
            for when, r, p in found.values()]
    rows.sort(key=lambda x: (x.when, x.entry), reverse=True)
    return rows[:limit]


def test_the_latest_evidence_builds_no_story_and_shows_what_building_all_would(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    for limit in (1, 2, 5, 17, 100):
        board = load_board(url, rules, now)
        assert latest(board.views, limit) == every_latest(load_board(url, rules, now), limit)
    assert list(board.latest) == every_latest(board, 100)  # found with the scores
    board = load_board(url, rules, now)
    tables = [v.score.stories for v in board.views.values()]
    assert all(isinstance(t, StoryTable) for t in tables)
    assert sum(len(t._built) for t in tables) == 0  # type: ignore[attr-defined]


def test_a_stored_snapshot_stands_for_its_day_in_the_trend(tmp_path: Path) -> None:
    url, rules, got = small_store(tmp_path, "x.xml", rss("Bank of Russia raises key rate"))
    assert got.newest is not None
    config = load(rules, examples=False).rules.config
    now = got.newest + timedelta(days=3)
    store = Store.open(url)
    try:
        store.save_snapshots([("economic-crisis", 99.0, 9.0, True)], now - timedelta(days=5))
    finally:
        store.close()
    trend = load_trends(url, config, now, {"economic-crisis": 12.0})["economic-crisis"]
    assert trend[-6] == 99.0 and trend[-1] == 12.0
    assert trend[0] == 0.0  # before the item was published
    assert trend[-4] > 0.0  # scored from the stored hit on the day it appeared


def test_the_columns_fit_80_and_grow_at_120_columns(demo_store: Demo) -> None:
    url, rules, now = demo_store

    def labels(size: tuple[int, int]) -> list[str]:
        app = MonitorApp(url, rules, now=now)
        seen: list[str] = []

        async def steps(pilot: Pilot[None]) -> None:
            table = app.query_one("#scenarios", DataTable)
            seen.extend(str(c.label) for c in table.columns.values())
            assert table.virtual_size.width <= size[0]

        drive(app, steps, size)
        return seen

    assert labels((80, 24)) == ["scenario", "level ▼", "24 h", "7 d", "30 days", "marks"]
    assert labels((120, 40)) == ["scenario", "level ▼", "24 h", "7 d", "30 days", "marks"]
    assert labels((160, 40))[-1] == "top indicator"


def test_slash_filters_the_scenarios_and_escape_clears(demo_store: Demo
                                                       ) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#scenarios", DataTable)
        await pilot.press("slash", *"econ")
        assert [str(k.value) for k in table.rows] == ["economic-crisis"]
        assert "1 shown for “econ”" in str(app.query_one("#status", Static).render())
        latest = app.query_one("#latest", DataTable)
        assert 0 < latest.row_count < 39
        assert all("econ" in (str(row[1]) + str(row[2])).lower()
                   for row in map(latest.get_row_at, range(latest.row_count)))
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.focused is table and table.row_count == 1
        await pilot.press("slash", "escape")
        assert table.row_count == 8 and app.focused is table and latest.row_count == 39
        await pilot.press("slash", *"qs")  # typed into the filter: neither quits nor sorts
        assert not app._exit and table.order == "level"  # noqa: SLF001
        assert table.needle == "qs" and table.row_count == 0

    drive(app, steps)


def test_a_missing_store_file_reads_as_an_empty_board(tmp_path: Path) -> None:
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES, encoding="utf-8")
    app = MonitorApp(f"sqlite:///{tmp_path / 'empty.db'}", rules)

    async def steps(pilot: Pilot[None]) -> None:
        row = app.query_one("#scenarios", DataTable).get_row_at(0)
        assert [str(c) for c in row[1:]] == [
            " " * 8 + "   0.0", "·  0.0", "·  0.0", "▁" * 15, ""]

    drive(app, steps)


# --- a scenario's detail ---------------------------------------------------------------------


def test_enter_opens_the_signpost_board_with_the_numbers_of_explain(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)
    explained = explain(url, rules, "protracted-war", now.isoformat())
    per_indicator: dict[str, float] = {}
    for story in explained["stories"]:  # type: ignore[attr-defined]
        per_indicator[story["indicator"]] = per_indicator.get(story["indicator"], 0.0) \
            + story["points"]
    config = load(rules, examples=False).rules.config
    touching = {i.id for i in config.indicators if "protracted-war" in i.weight
                or any("protracted-war" in c.weight for c in i.conditions)}

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")  # the top row: protracted war
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.scenario.id == "protracted-war"
        signs = screen.query_one("#signposts", DataTable)
        rows = {str(signs.get_row_at(i)[1]): signs.get_row_at(i) for i in range(signs.row_count)}
        assert set(rows) == touching
        lit = {k: float(str(r[3])) for k, r in rows.items() if str(r[0]) == "●"}
        assert lit == {k: round(v, 1) for k, v in per_indicator.items()}
        assert round(sum(lit.values()), 1) == explained["level"] == 71.9
        quiet = [k for k, r in rows.items() if str(r[0]) == "○"]
        assert quiet == ["battlefield-setback"] and str(rows[quiet[0]][3]) == "-"
        assert str(rows["kremlin-rejects-terms"][4]) == "just now"
        assert signs.border_title == "signposts: 5 of 6 lit"
        stories = screen.query_one("#stories", DataTable)
        assert stories.row_count == len(explained["stories"])  # type: ignore[arg-type]
        points = [float(str(stories.get_row_at(i)[3])) for i in range(stories.row_count)]
        assert points == [s["points"] for s in explained["stories"]]  # type: ignore[attr-defined]
        assert column(stories, 1)[0] == "demo-analysis-desk" and column(stories, 2)[0] == "A"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        assert app.query_one("#scenarios", DataTable).cursor_row == 0

    drive(app, steps)


def test_matched_words_are_highlighted_in_the_evidence(tmp_path: Path) -> None:
    url, rules, got = small_store(tmp_path, "x.xml", rss("Bank of Russia raises key rate"))
    app = MonitorApp(url, rules, now=got.newest)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        title = app.screen.query_one("#stories", DataTable).get_row_at(0)[5]
        spans = {title.plain[s.start:s.end] for s in title.spans}
        assert spans == {"Bank of Russia", "key rate"}

    drive(app, steps)


def test_enter_on_a_signpost_narrows_the_evidence_to_it(demo_store: Demo
                                                       ) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        stories = app.screen.query_one("#stories", DataTable)
        assert stories.row_count == 19
        await pilot.press("tab", "down", "enter")  # the second signpost: mass-strikes
        assert app.focused is stories
        assert stories.border_title == "evidence: 19 stories, 2 shown for “mass-strikes”"

    drive(app, steps, size=(120, 40))


# --- an entry ------------------------------------------------------------------------------


def test_marking_a_hit_false_drops_the_level_by_its_points_and_undo_restores_it(
        tmp_path: Path) -> None:
    url, rules, got = small_store(tmp_path, "x.xml", rss("Bank of Russia raises key rate"))
    app = MonitorApp(url, rules, now=got.newest)

    def level() -> str:
        return str(app.query_one("#scenarios", DataTable).get_row_at(0)[1]).split()[-1]

    async def steps(pilot: Pilot[None]) -> None:
        before = level()
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EntryScreen)
        hits = screen.query_one("#hits", DataTable)
        assert str(hits.get_row_at(0)[1]) == "counts"
        points = float(str(hits.get_row_at(0)[2]).split()[-1])
        await pilot.press("x")
        await settle(app, pilot)
        assert str(hits.get_row_at(0)[1]).startswith("false: ")
        assert float(before) - points == float(level()) == 0.0
        assert app.board is not None
        assert app.board.views["economic-crisis"].score.level == 0.0
        await pilot.press("u")
        await settle(app, pilot)
        assert str(hits.get_row_at(0)[1]) == "counts"
        assert level() == before != "0.0"

    drive(app, steps)
    store = Store.open(url)
    try:
        assert store.false_hits() == frozenset()
    finally:
        store.close()


def test_marking_false_in_a_busy_scenario_gives_the_level_explain_gives(
        tmp_path: Path) -> None:
    url, rules, now = demo_copy(tmp_path)
    at = now.isoformat()
    app = MonitorApp(url, rules, now=now)
    levels: list[float] = []

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter", "enter")  # protracted war, its top story
        await settle(app, pilot)
        assert isinstance(app.screen, EntryScreen)
        await pilot.press("x")
        await settle(app, pilot)
        assert app.board is not None
        levels.append(round(app.board.views["protracted-war"].score.level, 1))
        detail = app.screen_stack[-2]
        assert isinstance(detail, DetailScreen)
        assert detail.view.score.level == app.board.views["protracted-war"].score.level

    drive(app, steps)
    assert levels == [explain(url, rules, "protracted-war", at)["level"]]
    assert levels[0] < 71.9


def test_o_opens_web_links_only(tmp_path: Path) -> None:
    url, rules, got = small_store(tmp_path, "x.xml", rss("Bank of Russia raises key rate"))
    app = MonitorApp(url, rules, now=got.newest)
    opened: list[str] = []
    app.opener = opened.append

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("o")  # from the evidence list: two keys from the scenarios
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
        app.open_link("file:///etc/passwd")
        app.open_link("javascript:alert(1)")
        await settle(app, pilot)

    drive(app, steps)
    assert opened == ["https://example.org/g1", "https://example.org/g1"]


# --- text from feeds -----------------------------------------------------------------------


def test_a_hostile_headline_is_drawn_as_text(tmp_path: Path) -> None:
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [
        {"id": "h1", "url": "https://example.org/h1", "title": HOSTILE_TITLE,
         "content_text": "Summary with [italic]markup[/italic] and \x1b]8;;https://x/\x07link",
         "date_published": "2024-10-25T10:30:00Z"}]}
    url, rules, got = small_store(tmp_path, "x.json", json.dumps(document))
    app = MonitorApp(url, rules, now=got.newest)

    def check(segments: list[Segment]) -> str:
        text = "".join(s.text for s in segments)
        assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
        for s in segments:
            if s.style is not None:
                assert not s.style.link
                assert not (s.style.color and s.style.color.name == "red" and s.style.bold)
        return text

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.screen.query_one("#stories", DataTable)
        line = check(drawn(table, 1))
        assert "[bold red]x[/] [link=https://evil.example/]cl" in line
        await pilot.press("enter")
        await settle(app, pilot)
        head = app.screen.query_one("#entry-head", Static)
        text = check(list(head.render_line(0)))
        assert text.startswith("[bold red]x[/] [link=https://evil.example/]click[/link] "
                               "[31mred[0m nul Bank of Russia raises key rate")
        summary = check(list(app.screen.query_one("#summary", Static).render_line(0)))
        assert summary.startswith("Summary with [italic]markup[/italic] and ")

    drive(app, steps, size=(120, 40))


def test_a_headline_with_markup_is_shown_as_written(tmp_path: Path) -> None:
    url, rules, got = small_store(tmp_path, "x.xml", rss(MARKUP_TITLE))
    app = MonitorApp(url, rules, now=got.newest)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await settle(app, pilot)
        table = app.screen.query_one("#stories", DataTable)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[5]) == MARKUP_TITLE

    drive(app, steps)


# --- feeds ---------------------------------------------------------------------------------


def test_the_feeds_screen_polls_one_feed_and_the_scores_follow(tmp_path: Path) -> None:
    with FeedServer() as server:
        an_hour_ago = format_datetime(datetime.now(UTC) - timedelta(hours=1))
        server.route("/rates.xml",
                     feed(rss("Bank of Russia raises key rate", published=an_hour_ago).encode()))
        server.route("/broken.xml", lambda _request: __import__("feedserver").Reply(status=500))
        rules = tmp_path / "indicators.yaml"
        rules.write_text(RULES + "feeds:\n"
                         f"  - {{id: rates, url: '{server.url('/rates.xml')}', reliability: A}}\n"
                         f"  - {{id: broken, url: '{server.url('/broken.xml')}'}}\n",
                         encoding="utf-8")
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        store = Store.open(url)
        store.sync_sources(load(rules, examples=False).rules.config.feeds)
        store.close()
        app = MonitorApp(url, rules, now=None)

        async def steps(pilot: Pilot[None]) -> None:
            await pilot.press("f")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, FeedsScreen)
            table = screen.query_one("#feeds", DataTable)
            assert column(table, 0) == ["rates", "broken"]
            assert column(table, 2) == ["not yet", "not yet"]
            assert column(table, 5) == ["0", "0"]
            assert column(table, 4) == ["due", "due"]
            await pilot.press("p")  # the selected feed: rates
            await settle(app, pilot)
            assert column(table, 2) == ["ok", "not yet"]
            assert column(table, 3)[0] == "just now"
            assert column(table, 5) == ["1", "0"]
            assert column(table, 4)[0].startswith("in ")
            assert app.board is not None
            assert app.board.views["economic-crisis"].score.level > 0
            await pilot.press("a")
            await settle(app, pilot)
            assert column(table, 2) == ["ok", "error ×1"]
            assert "500" in column(table, 6)[1]
            assert server.requests_to("/rates.xml") and len(server.requests_to("/broken.xml")) == 1
            await pilot.press("escape")
            assert not isinstance(app.screen, FeedsScreen)

        drive(app, steps, size=(120, 40))


# --- keys ----------------------------------------------------------------------------------


def test_question_mark_shows_the_keys_and_escape_closes_them(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(app, steps)


def test_the_command_palette_opens_the_feeds(demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Feeds", "Poll every feed now", "Sort scenarios by 24 h", "Keys",
                "Open Protracted war"} <= set(titles)
        await pilot.press("ctrl+p", *"Feeds")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, FeedsScreen)

    drive(app, steps)


def test_q_quits(demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("q")
        await pilot.pause()
        assert app._exit  # noqa: SLF001 -- Textual's own flag that the app is exiting

    drive(app, steps)
    assert app.return_code == 0


def test_level_bars_and_arrows() -> None:
    assert level_bar(0) == " " * 10
    assert level_bar(100) == "█" * 10
    assert level_bar(62.5) == "██████▎   "
    assert (arrow(3.2), arrow(-1.0), arrow(0.0)) == ("▲ +3.2", "▼ -1.0", "·  0.0")
    assert arrow(shown_change(50.0, math.nan)) == "-"  # no reading at that moment


def test_an_unknown_change_sorts_as_no_move() -> None:
    def view(level: float, change: float) -> ScenarioView:
        return ScenarioView(Score("x", level, 0.0), change, change, (), False, True)

    keys = [sort_key(order, view(50.0, math.nan)) for order in ("24 h", "7 d")]
    assert keys == [0.0, 0.0] and sort_key("24 h", view(50.0, -3.0)) == -3.0


def test_the_latest_evidence_is_newest_first_and_enter_opens_its_entry(
        demo_store: Demo) -> None:
    url, rules, now = demo_store
    app = MonitorApp(url, rules, now=now)

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#latest", DataTable)
        times = column(table, 0)
        assert times == sorted(times, reverse=True) and times[0] == "12-07 13:00"
        assert column(table, 1)[0] == " -23.5 +1 negotiated-settlement"
        await pilot.press("tab", "down", "enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EntryScreen)
        assert screen.view is not None
        assert screen.view.stored.entry.title == str(table.get_row_at(1)[2])

    drive(app, steps, size=(120, 40))


# --- the first screen from the stored reading ------------------------------------------------


TWO = """\
version: 1
scenarios:
  - {id: economic-crisis, title: Economic crisis, question: Is the economy breaking}
  - {id: palace-coup, title: Palace coup, question: Will the elite remove the leader}
indicators:
  - id: rate
    title: Bank of Russia key-rate decision
    weight: {economic-crisis: 1, palace-coup: 1}
    match: {any: [["key rate"]]}
"""
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_reading_board_is_the_latest_stored_reading_with_changes_from_earlier_ones(
    tmp_path: Path,
) -> None:
    config = load_config(tmp_path, TWO)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        assert reading_board(store, config) is None  # a fresh store: scoring it is
        store.save_snapshots([("economic-crisis", 20.0, 1.3, False),
                              ("palace-coup", 70.0, 7.2, True)], NOW - timedelta(days=7))
        store.save_snapshots([("economic-crisis", 30.0, 2.1, False)],
                             NOW - timedelta(days=1, minutes=3))
        store.save_snapshots([("economic-crisis", 41.2, 3.2, True),
                              ("palace-coup", 60.5, 5.6, False)], NOW)
        board = reading_board(store, config)
    assert board is not None and board.reading and board.now == NOW
    crisis, coup = board.views["economic-crisis"], board.views["palace-coup"]
    assert (crisis.score.level, crisis.alert, crisis.score.stories) == (41.2, True, ())
    assert crisis.change_24h == pytest.approx(11.2) and crisis.change_7d == pytest.approx(21.2)
    # No reading of the coup within the hour before a day ago: its 24 h change is unknown.
    assert (coup.score.level, coup.alert) == (60.5, False)
    assert math.isnan(coup.change_24h) and coup.change_7d == pytest.approx(-9.5)


def test_a_scenario_without_a_recent_reading_means_no_reading_board(tmp_path: Path) -> None:
    config = load_config(tmp_path, TWO)
    with Store.open(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.save_snapshots([("economic-crisis", 41.2, 3.2, False)], NOW)
        assert reading_board(store, config) is None  # palace-coup was never read
        store.save_snapshots([("palace-coup", 1.0, 0.1, False)], NOW - timedelta(hours=2))
        assert reading_board(store, config) is None  # nor with the others


def test_the_first_screen_is_the_stored_reading_then_the_scores(tmp_path: Path) -> None:
    rules = tmp_path / "indicators.yaml"
    rules.write_text(TWO, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    at = datetime(2026, 3, 1, 14, 5, tzinfo=UTC)
    with Store.open(url) as store:
        store.save_snapshots([("economic-crisis", 41.2, 3.2, True),
                              ("palace-coup", 60.5, 5.6, False)], at)
    seen: list[tuple[Board, str, list[str]]] = []

    class Watched(MonitorApp):
        CSS_PATH = ROOT / "monitor" / "tui" / "monitor.tcss"  # a subclass looks beside itself

        def on_scores_loaded(self, message: ScoresLoaded) -> None:
            super().on_scores_loaded(message)
            row = self.query_one("#scenarios", DataTable).get_row("economic-crisis")
            seen.append((message.board, str(self.query_one("#status", Static).render()),
                         [str(c) for c in row]))

    app = Watched(url, rules)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")  # scored: the detail opens
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("escape")
        app.post_message(ScoresLoaded(seen[0][0]))  # the reading again
        await pilot.pause()
        await pilot.press("enter")  # a reading has no stories: no detail
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)

    drive(app, steps)
    (reading, status, row), (scored, later, _) = seen[:2]
    assert reading.reading and not scored.reading
    # No key hint: enter waits for the scores.
    assert status == ("As of 2026-03-01 14:05 UTC (the last stored reading), scoring…: "
                      "2 scenarios, 1 in alert")
    # Its 24 h and 7 d changes have no earlier reading, and no trend is scored for it yet.
    assert row == ["Economic crisis", "███▎      41.2", "-", "-", " " * 15, "ALERT"]
    # The store holds no hits: scored now, nothing counts, and the stored alert carries on
    # until the level falls below the hysteresis line.
    assert later.startswith("Scores at ")
    assert scored.views["economic-crisis"].score.level == 0.0


def test_a_detail_lists_the_largest_stories_and_counts_them_all(demo_store: Demo) -> None:
    url, rules, now = demo_store
    board = load_board(url, rules, now)
    sid, view = max(board.views.items(), key=lambda kv: len(kv[1].score.stories))
    every = load_detail(url, board.config, sid, view, now)
    some = load_detail(url, board.config, sid, view, now, limit=3)
    assert len(every.evidence) == every.stories == len(view.score.stories) > 3
    assert some.evidence == every.evidence[:3] and some.stories == every.stories
    assert some.signposts == every.signposts
