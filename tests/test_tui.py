"""The dashboard driven with Textual's Pilot over stores polled from feed files: the scenarios
table, the detail screen and back, headlines shown literally, and quitting."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from monitor.indicators import Config
from monitor.rules import load
from monitor.store import Store
from monitor.tui import demo
from monitor.tui.app import DetailScreen, MonitorApp, ScoresLoaded
from monitor.tui.board import Board, arrow, level_bar, reading_board, shown_change

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


def rss(title: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
            "<link>https://example.org/</link><description>d</description>"
            f"<item><title>{title}</title><guid>g1</guid><link>https://example.org/g1</link>"
            "<pubDate>Fri, 25 Oct 2024 10:30:00 +0000</pubDate></item></channel></rss>")


def seeded(folder: Path, rules_path: Path, feeds: Path) -> tuple[str, demo.Seeded]:
    url = f"sqlite:///{folder / 'monitor.db'}"
    store = Store.open(url)
    try:
        return url, demo.seed(store, load(rules_path, examples=False).rules, feeds)
    finally:
        store.close()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, demo.Seeded]:
    """The demo corpus polled once with the shipped rules (read-only for the tests)."""
    return seeded(tmp_path_factory.mktemp("demo"), SHIPPED, ROOT / "seeds")


def load_config(folder: Path, text: str) -> Config:
    path = folder / "indicators.yaml"
    path.write_text(text, encoding="utf-8")
    return load(path, examples=False).rules.config


def drive(app: MonitorApp, steps: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            await steps(pilot)

    asyncio.run(go())


def test_the_scenarios_table_has_a_row_per_scenario(demo_store: tuple[str, demo.Seeded]
                                                    ) -> None:
    url, seeded_ = demo_store
    assert seeded_.newest is not None and seeded_.newest.date().isoformat() == "2025-12-07"
    scenarios = load(SHIPPED, examples=False).rules.config.scenarios
    app = MonitorApp(url, SHIPPED, now=seeded_.newest)

    async def steps(pilot: Pilot[None]) -> None:
        table = app.query_one("#scenarios", DataTable)
        assert [str(k.value) for k in table.rows] == [s.id for s in scenarios]
        first = table.get_row_at(0)
        assert str(first[0]) == scenarios[0].title
        assert str(app.query_one("#status", Static).render()).startswith(
            "Scores at 2025-12-07 13:00 UTC: 8 scenarios")

    drive(app, steps)


def test_enter_opens_the_detail_and_escape_returns(demo_store: tuple[str, demo.Seeded]) -> None:
    url, seeded_ = demo_store
    app = MonitorApp(url, SHIPPED, now=seeded_.newest)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("down", "enter")  # the second scenario: protracted war
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.scenario.id == "protracted-war"
        stories = screen.query_one("#stories", DataTable)
        assert stories.row_count == len(screen.view.score.stories) > 0
        points = [float(str(stories.get_row_at(i)[3])) for i in range(stories.row_count)]
        assert round(sum(points), 1) == round(screen.view.score.level, 1)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)
        assert app.query_one("#scenarios", DataTable).cursor_row == 1

    drive(app, steps)


def test_a_headline_with_markup_is_shown_as_written(tmp_path: Path) -> None:
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES, encoding="utf-8")
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    (feeds / "x.xml").write_text(rss(MARKUP_TITLE), encoding="utf-8")
    url, seeded_ = seeded(tmp_path, rules, feeds)
    app = MonitorApp(url, rules, now=seeded_.newest)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await pilot.pause()
        table = app.screen.query_one("#stories", DataTable)
        assert table.row_count == 1
        assert str(table.get_row_at(0)[4]) == MARKUP_TITLE
        # Line 0 is the header; line 1 the story, as drawn on the 80-column terminal.
        drawn = "".join(segment.text for segment in table.render_line(1))
        assert drawn.endswith("  [bold red]x[/] Bank of Russia rais")

    drive(app, steps)


def test_q_quits(demo_store: tuple[str, demo.Seeded]) -> None:
    url, seeded_ = demo_store
    app = MonitorApp(url, SHIPPED, now=seeded_.newest)

    async def steps(pilot: Pilot[None]) -> None:
        await pilot.press("q")
        await pilot.pause()
        assert app._exit  # noqa: SLF001 -- Textual's own flag that the app is exiting

    drive(app, steps)
    assert app.return_code == 0


def test_a_missing_store_file_reads_as_an_empty_board(tmp_path: Path) -> None:
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES, encoding="utf-8")
    app = MonitorApp(f"sqlite:///{tmp_path / 'empty.db'}", rules)

    async def steps(pilot: Pilot[None]) -> None:
        row = app.query_one("#scenarios", DataTable).get_row_at(0)
        assert [str(c) for c in row[1:]] == ["             0.0", "·  0.0", "·  0.0", "", "-"]

    drive(app, steps)


def test_level_bars_and_arrows() -> None:
    assert level_bar(0) == " " * 10
    assert level_bar(100) == "█" * 10
    assert level_bar(62.5) == "██████▎   "
    assert (arrow(3.2), arrow(-1.0), arrow(0.0)) == ("▲ +3.2", "▼ -1.0", "·  0.0")
    assert arrow(shown_change(50.0, math.nan)) == "-"  # no reading at that moment


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
            row = self.query_one("#scenarios", DataTable).get_row_at(0)
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
    assert status.startswith("As of 2026-03-01 14:05 UTC (the last stored reading), scoring…")
    assert row == ["Economic crisis", "████▏       41.2", "-", "-", "ALERT", "-"]
    # The store holds no hits: scored now, nothing counts, and the stored alert carries on
    # until the level falls below the hysteresis line.
    assert later.startswith("Scores at ")
    assert scored.views["economic-crisis"].score.level == 0.0
