"""The dashboard's text shapes: feed text made safe, sparklines, highlighted words, changes
and relative times."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from monitor.tui.shapes import ago, change_text, highlight, plain, sparkline, until

NOW = datetime(2025, 12, 7, 13, 0, tzinfo=UTC)


def test_plain_removes_escapes_and_control_characters_and_keeps_brackets() -> None:
    assert plain("\x1b[1;31mred\x1b[0m [bold]x[/] \x1b]8;;https://e.example/\x07link\x1b]8;;\x07"
                 ) == "red [bold]x[/] link"
    assert plain("a\x00b\x07c\u202eevil\ttab\nline\x9b31m") == "a b c evil tab line"
    assert plain(None) == ""


def test_highlight_marks_every_matched_term_as_written_or_not() -> None:
    text = highlight("Bank of Russia keeps the KEY  RATE; bank of russia says", ["Bank of Russia",
                                                                              "key rate"])
    assert sorted(text.plain[s.start:s.end] for s in text.spans) == [
        "Bank of Russia", "KEY RATE", "bank of russia"]
    assert highlight("rate-setting", ["rate"]).spans[0].end == 4
    assert highlight("grates", ["rate"]).spans == []


def test_sparkline_takes_the_latest_level_of_each_cells_days() -> None:
    assert sparkline([0, 50, 100, 100], 4).plain == "▁▅██"
    assert sparkline([0.0, 10.0, 20.0, 40.0], 2).plain == "▃█"
    assert sparkline([1.0, 2.0], 4).plain == "▁▂  "  # never taller than a quarter below 25
    assert sparkline([None, 5.0], 2).plain == " ▂"
    assert sparkline([], 3).plain == "   "


def test_changes_say_their_direction_and_large_ones_are_bold() -> None:
    assert change_text(3.2).plain == "▲ +3.2" and "bold" not in str(change_text(3.2).style)
    assert change_text(-12.0).plain == "▼-12.0" and "bold" in str(change_text(-12.0).style)
    assert change_text(0.0).plain == "·  0.0"
    assert change_text(math.nan).plain == "-"  # a stored reading with none at that moment


def test_times_relative_to_now() -> None:
    assert ago(NOW - timedelta(seconds=30), NOW) == "just now"
    assert ago(NOW - timedelta(minutes=5), NOW) == "5 m ago"
    assert ago(NOW - timedelta(days=3, hours=5), NOW) == "3 d ago"
    assert ago(None, NOW) == "never"
    assert until(NOW + timedelta(minutes=12, seconds=30), NOW) == "in 12 m"
    assert until(NOW - timedelta(minutes=1), NOW) == "due"
