"""From stored hits to scoring's evidence: which hits to read for a moment, and how a stored
hit and its entry become one `scoring.Evidence`.

Pure apart from the `EvidenceSource` it is handed (the store fits); it never imports the
database layer itself, so scoring and its callers stay free of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from monitor import scoring
from monitor.indicators import Config
from monitor.text import word_string

if TYPE_CHECKING:
    from monitor.store import StoredEntry, StoredHit

CHANGE_SPAN = timedelta(days=7)
"""The longest look back of a scenario view (its 7-day change)."""


class EvidenceSource(Protocol):
    """What `gather` reads (monitor.store.Store fits)."""

    def hits_since(self, since: datetime) -> list[StoredHit]: ...

    def entries_by_pk(self, pks: Iterable[int]) -> dict[int, StoredEntry]: ...

    def false_hits(self) -> frozenset[tuple[int, str]]: ...


@dataclass(frozen=True)
class Gathered:
    """Everything scoring needs at `now`: the evidence, and the hits analysts marked false."""

    now: datetime
    evidence: tuple[scoring.Evidence, ...]
    false_hits: frozenset[tuple[int, str]]


def since(config: Config, now: datetime) -> datetime:
    """The oldest time evidence can matter for a view at `now`: the scoring horizon before the
    view's 7-day-ago score, or the surge baseline, whichever reaches further back."""
    settings = scoring.settings_for(config)
    reach = max(scoring.horizon(config) + CHANGE_SPAN,
                settings.surge_baseline + settings.surge_window)
    return now - reach


def to_evidence(hits: Iterable[StoredHit],
                entries: Mapping[int, StoredEntry]) -> list[scoring.Evidence]:
    """One Evidence per hit whose entry is known; the wording key is the entry's folded title,
    so copies of one headline in one story count once."""
    out = []
    for h in hits:
        stored = entries.get(h.entry_pk)
        if stored is None:
            continue
        title = stored.entry.title
        out.append(scoring.Evidence(
            entry=h.entry_pk, indicator=h.hit.indicator, source=h.source, cluster=h.cluster_id,
            when=h.when, version=word_string(title), value=h.hit.value, label=h.hit.label,
            title=title,
        ))
    return out


def gather(store: EvidenceSource, config: Config, now: datetime) -> Gathered:
    """The evidence and false hits for views of `config`'s scenarios at `now`."""
    hits: Sequence[StoredHit] = store.hits_since(since(config, now))
    entries = store.entries_by_pk({h.entry_pk for h in hits})
    return Gathered(now, tuple(to_evidence(hits, entries)), store.false_hits())
