"""Snapshots of the dashboard's main screens on the demo corpus, scored at its newest item, at
80x24 and 120x40, in the dark and the light theme. Review a changed snapshot in the report
pytest writes, then accept it with `pytest --snapshot-update`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from test_tui import Demo, demo_copy, settle
from textual.pilot import Pilot

from monitor.tui.app import MonitorApp

Snap = Callable[..., bool]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return demo_copy(tmp_path_factory.mktemp("snapdemo"))


def then(*keys: str, theme: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Wait for the scores, press `keys` one by one (waiting for what each starts)."""
    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MonitorApp)
        if theme:
            app.theme = theme
        await settle(app, pilot)
        for key in keys:
            await pilot.press(key)
            await settle(app, pilot)
    return run


def app_for(store: Demo) -> MonitorApp:
    url, rules, now = store
    return MonitorApp(url, Path(rules), now=now)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_scenarios(snap_compare: Snap, demo_store: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_store), terminal_size=size, run_before=then())


def test_scenarios_in_the_light_theme(snap_compare: Snap, demo_store: Demo) -> None:
    assert snap_compare(app_for(demo_store), terminal_size=(80, 24),
                        run_before=then(theme="textual-light"))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_scenario_detail(snap_compare: Snap, demo_store: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_store), terminal_size=size, run_before=then("enter"))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_entry(snap_compare: Snap, demo_store: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_store), terminal_size=size,
                        run_before=then("enter", "down", "enter"))


def test_help(snap_compare: Snap, demo_store: Demo) -> None:
    assert snap_compare(app_for(demo_store), terminal_size=(80, 24),
                        run_before=then("question_mark"))
