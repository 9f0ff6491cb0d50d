"""The value types every layer shares: news entries and the hits rules find in them.

Frozen dataclasses with no dependencies, so the pure core (rules, scoring) and the edges
(fetch, store, tui) speak the same language without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One news item, as the matcher and the store see it.

    `title` and `summary` are plain text: markup is stripped and entities are decoded before an
    Entry is built, so every consumer can trust them as text.
    """

    id: str
    """Stable identity within its source: the guid, else the link, else a content hash."""
    title: str
    summary: str = ""
    link: str | None = None
    published: datetime | None = None
    """When the source says it was published (timezone-aware UTC), if it says so credibly."""
    source: str = ""
    """The feed id the entry came from ("" when read from a file outside any feed)."""
    language: str | None = None
    guid: str | None = None
    first_seen: datetime | None = None
    """When the monitor first stored it; set by the store, None before."""

    @property
    def when(self) -> datetime | None:
        """The time the entry counts from: published, else first seen."""
        return self.published or self.first_seen


@dataclass(frozen=True, slots=True)
class Hit:
    """Evidence that one entry matches one indicator."""

    indicator: str
    terms: tuple[str, ...] = ()
    """The words of the entry that satisfied the rule, as written in the entry."""
    value: float | None = None
    """A number the indicator extracts (e.g. the new key rate in percent), if any."""
    label: str | None = None
    """The first `labels:` class of the indicator the entry fits (e.g. hike, cut, hold)."""


def storable(value: str) -> str:
    """`value` as both databases can keep it: without NUL (PostgreSQL refuses it in text) and
    with lone surrogates replaced. The store keeps text in this form, and near-duplicate keys
    are computed on it wherever they are computed."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the clock every layer's `now` defaults to."""
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    """A moment as every screen, log line and email writes it: UTC, to the minute."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
