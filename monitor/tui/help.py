"""The `?` help: every key of every screen, and how to read the marks and shapes."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Everywhere", [
        ("?", "this help"), ("/", "filter the table (enter keeps, escape clears)"),
        ("f", "feeds screen"), ("r", "re-score now"), ("ctrl+p", "command palette"),
        ("escape", "back"), ("q", "quit"),
    ]),
    ("Scenarios", [
        ("up/down", "move"), ("enter", "open the scenario"),
        ("s", "sort: level, 24 h move, 7 d move, as written"),
    ]),
    ("Scenario", [
        ("enter", "open the story's entry"), ("o", "open the story's article in the browser"),
        ("tab", "switch between signposts and evidence"),
        ("enter on a signpost", "show only its evidence"),
    ]),
    ("Entry", [
        ("o", "open the article in the browser"), ("x", "mark the selected hit false"),
        ("u", "undo the mark"),
    ]),
    ("Feeds", [("p", "poll the selected feed now"), ("a", "poll every feed now")]),
]

LEGEND = [
    ("█▌ 42.5", "level 0-100: red at the alert level, yellow within 10 below it"),
    ("▲ +3.2", "change of the level over 24 h / 7 d (bold: 10 points or more)"),
    ("▁▃▅█", "the last 30 days, each drawn from 0 to its own high (at least 25)"),
    ("ALERT", "the scenario is in alert"),
    ("↑2 / surge 2", "indicators firing well above their usual rate"),
    ("● / ○", "signpost lit (it has evidence now) / quiet"),
    ("n", "entries of the story that matched"),
]


def help_text() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for section, keys in KEYS:
        grid.add_row(Text(section, style="bold underline"), "")
        for key, what in keys:
            grid.add_row(Text(key), Text(what))
    grid.add_row("", "")
    grid.add_row(Text("Reading it", style="bold underline"), "")
    for shape, what in LEGEND:
        grid.add_row(Text(shape), Text(what))
    return grid


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Close"),
        Binding("question_mark", "app.pop_screen", "Close"),
    ]

    def compose(self) -> ComposeResult:
        box = Static(help_text(), id="help")
        box.border_title = "keys"
        box.border_subtitle = "escape closes"
        yield box
