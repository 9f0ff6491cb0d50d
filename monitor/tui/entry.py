"""One entry: its title with the matched words highlighted, source, time and link, its
summary, and every indicator it hit, each of which can be marked false (`x`) and restored
(`u`); the scores are re-computed at once and the change is announced.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from monitor.errors import MonitorError
from monitor.tui.board import Board
from monitor.tui.reading import EntryHit, EntryView, contributions, load_entry, mark
from monitor.tui.shapes import highlight, plain, plain_lines, shown, stamp
from monitor.tui.widgets import BoardScreen


class EntryLoaded(Message):
    def __init__(self, view: EntryView | None) -> None:
        super().__init__()
        self.view = view


class Marked(Message):
    """A verdict was recorded (`false`) or withdrawn; `changed` says whether anything did."""

    def __init__(self, indicator: str, false: bool, changed: bool) -> None:
        super().__init__()
        self.indicator = indicator
        self.false = false
        self.changed = changed


class WriteFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def head(view: EntryView) -> Text:
    e = view.stored.entry
    terms = [t for h in view.hits for t in h.terms]
    out = Text()
    out.append_text(highlight(e.title or "(no title)", terms))
    out.stylize("bold")
    out.append("\n")
    out.append_text(shown(view.source))
    out.append(f" ({view.grade})  ", style="dim")
    out.append(stamp(view.stored.when))
    out.append(f"  entry {view.stored.pk}, story {view.stored.cluster_id}", style="dim")
    out.append("\n")
    if e.link:
        out.append_text(shown(e.link, "underline"))
        out.append("  o opens it", style="dim")
    else:
        out.append("no link", style="dim")
    return out


def summary(view: EntryView) -> Text:
    terms = [t for h in view.hits for t in h.terms]
    text = plain_lines(view.stored.entry.summary)
    if not text:
        return Text("(no summary)", style="dim")
    lines = [highlight(line, terms) for line in text.splitlines()]
    for line in lines:
        line.no_wrap = False
    return Text("\n").join(lines)


class EntryScreen(BoardScreen):
    """Entry `pk` as the store has it now."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("o", "open_link", "Open article"),
        Binding("x", "mark_false", "Mark hit false"),
        Binding("u", "unmark", "Undo mark"),
    ]

    def __init__(self, pk: int, board: Board) -> None:
        super().__init__()
        self.pk = pk
        self.board = board
        self.view: EntryView | None = None
        self.sub_title = f"entry {pk}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Reading…"), id="entry-head")
        hits = DataTable[Text](id="hits", cursor_type="row", zebra_stripes=True)
        hits.border_title = "indicators hit"
        yield hits
        with VerticalScroll(id="entry"):
            yield Static(Text(""), id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#hits", DataTable).focus()
        self.load()

    def board_changed(self, board: Board) -> None:
        self.board = board
        self.load()

    @work(thread=True, exclusive=True, group="entry")
    def load(self) -> None:
        try:
            view = load_entry(self.dashboard.store_url,
                              self.board.config, self.pk)
        except MonitorError as exc:
            self.post_message(WriteFailed(str(exc)))
            return
        self.post_message(EntryLoaded(view))

    def on_entry_loaded(self, message: EntryLoaded) -> None:
        view = self.view = message.view
        if view is None:
            self.query_one("#entry-head", Static).update(
                Text(f"The store no longer has entry {self.pk}.", style="bold red"))
            return
        self.query_one("#entry-head", Static).update(head(view))
        self.query_one("#summary", Static).update(summary(view))
        self._draw_hits()

    def _draw_hits(self) -> None:
        view = self.view
        if view is None:
            return
        table = self.query_one("#hits", DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        width = table.size.width or self.app.size.width
        columns = [("indicator / matched words", 30), ("verdict", 12)]
        fixed = sum(w for _, w in columns) + 2 * (len(columns) + 1) + 2
        columns.append(("points now, else (weight)", max(20, width - fixed)))
        for label, w in columns:
            table.add_column(Text(label), width=w)
        for h in view.hits:
            cells = self._cells(h, contributions(self.board.views, self.pk, h.indicator))
            table.add_row(*cells, key=h.indicator, height=max(2, len(h.weights)))
        if view.hits:
            table.move_cursor(row=min(max(cursor, 0), len(view.hits) - 1), animate=False)
        n = len(view.hits)
        table.border_title = (f"indicators hit: {n}; x marks the selected hit false, "
                              "u undoes")

    def on_resize(self) -> None:
        self._draw_hits()

    @staticmethod
    def _cells(h: EntryHit, points: dict[str, float]) -> list[Text]:
        weighs = Text("\n".join(f"{s} {points[s]:+.1f}" if s in points else f"{s} ({w})"
                                 for s, w in h.weights) or "weighs on no scenario")
        matched = ", ".join(plain(t) for t in h.terms)
        if h.value is not None:
            matched += f"  value {h.value:g}"
        if h.label:
            matched += f"  {h.label}"
        if h.marked is not None:
            verdict = shown(f"false: {h.marked.who}", "bold red")
        else:
            verdict = Text("counts", style="green")
        style = "strike dim" if h.marked is not None else ""
        name = shown(h.indicator, style)
        name.append("\n")
        name.append(matched, style="dim")
        weighs.stylize(style)
        return [name, verdict, weighs]

    def selected(self) -> EntryHit | None:
        table = self.query_one("#hits", DataTable)
        if self.view is None or not 0 <= table.cursor_row < len(self.view.hits):
            return None
        return self.view.hits[table.cursor_row]

    def action_open_link(self) -> None:
        if self.view is not None:
            self.dashboard.open_link(self.view.stored.entry.link)

    def action_mark_false(self) -> None:
        hit = self.selected()
        if hit is not None:
            self.write(hit.indicator, True)

    def action_unmark(self) -> None:
        hit = self.selected()
        if hit is not None:
            self.write(hit.indicator, False)

    @work(thread=True, group="mark")
    def write(self, indicator: str, false: bool) -> None:
        try:
            changed = mark(self.dashboard.store_url, self.pk, indicator, false)
        except MonitorError as exc:
            self.post_message(WriteFailed(str(exc)))
            return
        self.post_message(Marked(indicator, false, changed))

    def on_write_failed(self, message: WriteFailed) -> None:
        self.notify(message.error, severity="error")

    def on_marked(self, message: Marked) -> None:
        if not message.changed:
            self.notify(f"The hit of {message.indicator} was not marked.")
            return
        what = "marked false" if message.false else "counts again"
        self.dashboard.rescore(f"{message.indicator} on entry {self.pk} {what}")
