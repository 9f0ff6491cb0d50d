"""Widgets the screens share: the `/` filter bar, and the base of screens that follow the
board (re-drawn when the scores change)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input

if TYPE_CHECKING:
    from monitor.tui.board import Board


class FilterBar(Input):
    """A one-line filter under a table, hidden until `/`. Typing narrows the rows at once;
    enter keeps the filter and returns to the table; escape clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    class Filtered(Message):
        """The filter text changed (`text` is "" when cleared)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self) -> None:
        super().__init__(placeholder="filter: type words, enter keeps, escape clears",
                         classes="filter")
        self.display = False

    def open(self) -> None:
        self.display = True
        self.focus()

    def _leave(self) -> None:
        self.display = False
        # Back to the table the filter narrows.
        for table in self.screen.query(".filtered"):
            table.focus()
            break

    def action_clear(self) -> None:
        self.value = ""
        self._leave()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Filtered(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._leave()


def matches(needle: str, *haystack: str) -> bool:
    """Whether every word of `needle` occurs (case-insensitively) in one of `haystack`."""
    text = " ".join(haystack).casefold()
    return all(word in text for word in needle.casefold().split())


class Dashboard(Protocol):
    """What the screens use of the app (monitor.tui.app.MonitorApp), named here so the
    screens need not import the app that imports them."""

    store_url: str | None
    indicators_path: Path
    clock: Callable[[], datetime]

    def open_link(self, link: str | None) -> None: ...

    def rescore(self, reason: str) -> None: ...

    def poll_refused(self) -> str | None: ...

    def polls_live(self) -> bool: ...


class BoardScreen(Screen[None]):
    """A screen that is told when the board is re-scored (after a mark, a poll, a refresh)."""

    @property
    def dashboard(self) -> Dashboard:
        return cast(Dashboard, self.app)

    def board_changed(self, board: Board) -> None:
        """Re-draw from `board`; the default does nothing."""
