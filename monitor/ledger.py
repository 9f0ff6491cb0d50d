"""Scoring many hits at once: the model of `monitor.scoring`, computed over columns of hits
with numpy, so that every scenario's view over a million stored hits takes a fraction of a
second and a daily backtest does not rescore every story in Python every day.

`scoring.score` stays the reference: it states the model one hit at a time, and the tests
check that a `Ledger` gives the same levels, changes, surges, alerts and stories.

What makes the columns enough. Inside a story (one indicator, one cluster) the reports that
count at a moment `T` are, for each source, its latest *version-first* hit up to `T`:

- the first published hit of each wording stands for its copies, and which hit is first does
  not depend on `T` (a later `T` only adds later hits);
- of one source's reports the strongest is the latest, since the reliability is the source's
  and decay falls with age (equal times: the smaller entry, as the reference breaks ties).

So the version-first hits are found once, sorted by (story, source, time), and each moment
takes the last of each (story, source) run up to `T`: one pass of array operations. A story
cut by the horizon (a wording's first hit older than ten half-lives, a later copy not) has
the copy stand in for it: the reference code picks those few stories' reports, and they join
the arrays.

What a refresh keeps. Which hits count for a track at `T` depends only on which of its hit
times are up to `T` and which fall before the horizon, so the latest time of each kind names
the selection (`_Chosen`), and the next times of each bound the moments it serves: a refresh
seconds later usually finds it made, and only the reports' decays move. Decays are taken at
the hour `T` falls in and moved on by one factor, as `scoring.decay` defines them. Moments
whose stories no one reads (a view's day and week before, a trend's past days) are only
summed; a large selection made for that keeps just a polynomial in the decay factor.

Hits added to a prepared ledger (a refresh after a poll) do not make it sort everything
again: the stories they touch move to a small ledger of their own (`_recent`), masked out
of the kept stories and, in sums, swapped for what the tracks counted of them
(`_recent_old`), folded back in once they pass a tenth of the rows. A moment before the
earliest hit added needs neither: the tracks hold the same hits there.

Numbers: decays are `scoring.decay`'s, with ages in exact microseconds, and a story's
strength is the same product taken in the same order (strongest first), so stories and their
order are the reference's (stories whose evidence is equal in exact arithmetic may come in
either order, as rounding has them); sums over stories are pairwise rather than exact, and
kept polynomials add an ulp or two, so levels agree to about 1e-12, far below the tenth of
a point shown. Wording keys read from the store are kept as 62-bit hashes: only whether two
reports of one story share a wording matters.

Memory (a dashboard holds a ledger of a million hits all day): a hit is its entry row,
indicator and extra (8 bytes); what an entry's hits share (key, source, story, time,
wording) is kept once, in the entry's row, and tracks, what counted and the kept stories
hold positions and read the rest through them. Codes, keys and positions are as narrow as
their values allow, a hit's value and label one code of the pairs that occur, titles one
buffer; a score's stories stay in the arrays what counted was made of, shared between the
scenarios that count the same track, rather than copied into a table.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from monitor import scoring
from monitor.indicators import Config, Indicator
from monitor.scoring import Evidence, ScenarioView, Score, Story, Surge

EPOCH = scoring.EPOCH
_REBASE = scoring.REBASE // timedelta(microseconds=1)
_SMALL = 6
"""Stories of up to this many reports are summed as one polynomial in the decay factor:
their coefficients stay small enough that the sum is exact to about 1e-14."""
_POSITIVE = (1 << 62) - 1
_MOVED_AT_MOST = 20_000
"""The most hits the stories touched since the tracks were made may hold before the ledger
is prepared afresh (else a tenth of its hits). The small ledger they move to is made again
after each poll, at about 0.7 us a hit: with a tenth of a million hits as the only bound, a
dashboard left running for a day or two saw its refresh after a poll climb from 50 ms to
115-145 ms (bench/dashboard.py's store, outside the app) before preparing afresh, which
takes about a second, once in many polls."""
_NEVER = np.iinfo(np.int64).max
_EARLIEST = np.iinfo(np.int64).min
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Ints = npt.NDArray[np.signedinteger[Any]]
"""Codes, keys and positions: kept as narrow as their values allow, so arithmetic that
could overflow widens them first (`_wide`)."""


# Runs of equal values, found without `np.r_` (tens of microseconds a call: it weighed on a
# refresh after a poll, which makes a few hundred small arrays).

def _changes(keys: tuple[npt.NDArray[Any], ...]) -> npt.NDArray[np.bool_]:
    """Whether each value but the first differs from the one before, in any of `keys`."""
    out = keys[0][1:] != keys[0][:-1]
    for key in keys[1:]:
        out |= key[1:] != key[:-1]
    return out


def _run_starts(*keys: npt.NDArray[Any]) -> I64:
    """Where each run of equal values (of all `keys` at once) begins."""
    if not len(keys[0]):
        return np.zeros(0, np.int64)
    mark = np.empty(len(keys[0]), bool)
    mark[0] = True
    mark[1:] = _changes(keys)
    return np.flatnonzero(mark)


def _run_ends(*keys: npt.NDArray[Any]) -> I64:
    """Where each run of equal values (of all `keys` at once) ends (its last position)."""
    if not len(keys[0]):
        return np.zeros(0, np.int64)
    mark = np.empty(len(keys[0]), bool)
    mark[-1] = True
    mark[:-1] = _changes(keys)
    return np.flatnonzero(mark)


def _run_lens(starts: Ints, total: int) -> I64:
    """The length of each run beginning at `starts`, of `total` positions in all."""
    out = np.empty(len(starts), np.int64)
    if len(starts):
        out[:-1] = np.diff(starts)
        out[-1] = total - int(starts[-1])
    return out


def _run_firsts(lens: Ints) -> I64:
    """Where each of runs of `lens`, end to end, begins."""
    out = np.zeros(len(lens), np.int64)
    if len(lens) > 1:
        np.cumsum(lens[:-1], out=out[1:])
    return out


def _ranks(lens: I64) -> I64:
    """0, 1, ... len - 1 for each of `lens`, end to end."""
    if not len(lens):
        return np.zeros(0, np.int64)
    return np.arange(int(lens.sum())) - np.repeat(_run_firsts(lens), lens)


def _wide_enough(dtype: np.dtype[Any], values: npt.NDArray[Any]) -> np.dtype[Any]:
    """`dtype`, or the narrowest wider integer type that holds `values` too."""
    if dtype.kind != "i" or not len(values):
        return dtype
    lo, hi = int(values.min()), int(values.max())
    for candidate in (np.int16, np.int32, np.int64):
        info = np.iinfo(candidate)
        if info.bits >= dtype.itemsize * 8 and info.min <= lo and hi <= info.max:
            return np.dtype(candidate)
    raise OverflowError(f"values from {lo} to {hi} do not fit in 64 bits")


def _member_table(members: Ints, among: Ints) -> npt.NDArray[np.bool_] | None:
    """A table that `table[x]` tells whether x is one of `members`, for every x of `among`
    (cluster numbers: entry keys, not negative and about as many as the hits); None where
    they are negative or so sparse that the table would outweigh the hits."""
    if len(among) and int(among.min()) < 0 or len(members) and int(members.min()) < 0:
        return None
    top = max(int(among.max()) if len(among) else 0, int(members.max()) if len(members) else 0)
    if top > max(1 << 20, 8 * len(among)):
        return None
    table = np.zeros(top + 1, bool)
    table[members] = True
    return table


def _membership(values: Ints, members: Ints,
                table: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.bool_]:
    """Whether each of `values` is one of `members`, read from `table` (`_member_table` of
    them) where there is one."""
    return table[values] if table is not None else np.isin(values, members)


def _positions_in(idx: Ints, values: Ints) -> Ints:
    """The positions in `idx` (sorted) of those of `values` it holds, in their order."""
    at = np.minimum(np.searchsorted(idx, values), len(idx) - 1)
    return at[idx[at] == values]


def _joined(values: Ints, more: list[int]) -> Ints:
    """`values` and then `more`, as narrow as both allow."""
    tail = np.array(more, np.int64)
    return np.concatenate([values, tail.astype(_wide_enough(values.dtype, tail))])


def _like(column: Ints, values: I64) -> Ints:
    """`values` as `column`'s integers where they fit: numpy searches a narrow column for
    wider values by copying the whole column first."""
    return values.astype(_wide_enough(column.dtype, values))


def _wide(values: Ints) -> I64:
    """`values` as 64-bit integers, for keys computed from them."""
    return values.astype(np.int64, copy=False)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch, exactly (timedelta arithmetic, no float)."""
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


class _Titles:
    """Entry key -> title, the titles held as one UTF-8 buffer with their keys sorted beside
    it: a dict of 200,000 titles costs more than twice their text. Titles come in batches
    (`update`), kept apart in a dict until enough have come to pack."""

    PACK = 20_000

    def __init__(self) -> None:
        # Offsets and lengths as 32-bit integers: 16 bytes a title, not 24. (The keys stay
        # 64-bit: a search of narrower ones for a Python int copies them all first.)
        self._keys = np.zeros(0, np.int64)
        self._starts = np.zeros(0, np.uint32)
        self._lens = np.zeros(0, np.uint32)
        self._text = bytearray()
        self._recent: dict[int, str] = {}

    def get(self, key: int, default: str = "") -> str:
        found = self._recent.get(key)
        if found is not None:
            return found
        i = self._packed(key)
        if i is None:
            return default
        start = int(self._starts[i])
        return self._text[start:start + int(self._lens[i])].decode()

    def __contains__(self, key: int) -> bool:
        return key in self._recent or self._packed(key) is not None

    def _packed(self, key: int) -> int | None:
        """Where `key` is among the packed titles (None: not packed)."""
        i = int(np.searchsorted(self._keys, key))
        return i if i < len(self._keys) and int(self._keys[i]) == key else None

    def setdefault(self, key: int, title: str) -> None:
        if key not in self:
            self.update([(key, title)])

    def update(self, pairs: Iterable[tuple[int, str]]) -> None:
        self._recent.update(pairs)
        if len(self._recent) >= self.PACK:
            self._pack()

    def _pack(self) -> None:
        recent, self._recent = self._recent, {}
        encoded = [title.encode() for title in recent.values()]
        lens = np.fromiter(map(len, encoded), np.int64, len(encoded))
        starts = len(self._text) + _run_firsts(lens)
        if len(lens) and int(starts[-1] + lens[-1]) > 0xFFFFFFFF:
            raise OverflowError("titles past 4 GB")
        self._text += b"".join(encoded)
        new = np.fromiter(recent, np.int64, len(recent))
        keys = np.concatenate([self._keys, new])
        all_starts = np.concatenate([self._starts, starts.astype(np.uint32)])
        all_lens = np.concatenate([self._lens, lens.astype(np.uint32)])
        # A key given again takes its latest title (its old text stays, unread, in the
        # buffer: titles change only when an entry is edited).
        order = np.argsort(keys, kind="stable")
        latest = order[_run_ends(keys[order])]
        self._keys, self._starts, self._lens = keys[latest], all_starts[latest], \
            all_lens[latest]


class _Crowds:
    """Which stories have two entries or more: where wording keys matter. Kept as sorted
    arrays of the stories seen and of each one's only entry (-1: more than one), a few bytes
    a story; a dict and a set of them cost 7 MB at 200,000 entries."""

    def __init__(self) -> None:
        self._stories = np.zeros(0, np.int64)
        self._lone = np.zeros(0, np.int64)

    def add(self, pks: I64, clusters: I64) -> tuple[npt.NDArray[np.bool_], I64]:
        """Take in entries `pks` of stories `clusters`: whether each is in a story of two
        entries or more now, and the earlier entries that were alone in their story until
        these came."""
        if not len(pks):
            return np.zeros(0, bool), np.zeros(0, np.int64)
        order = np.lexsort((pks, clusters))
        cl, pk = clusters[order], pks[order]
        starts = _run_starts(cl)
        story = cl[starts]
        first = pk[starts]
        distinct = np.ones(len(cl), np.int64)
        distinct[1:] = _changes((cl, pk))
        count = np.add.reduceat(distinct, starts)
        at = np.searchsorted(self._stories, story)
        seen = at < len(self._stories)
        seen[seen] = self._stories[at[seen]] == story[seen]
        was = np.full(len(story), -2, np.int64)  # -2: a story not seen before
        was[seen] = self._lone[at[seen]]
        crowded = (was == -1) | (count > 1) | ((was >= 0) & (first != was))
        retro = was[(was >= 0) & crowded]
        retro = retro[~np.isin(retro, pks)]
        self._lone[at[seen]] = np.where(crowded[seen], -1, was[seen])
        fresh = ~seen
        self._stories = np.insert(self._stories, at[fresh], story[fresh])
        self._lone = np.insert(self._lone, at[fresh], np.where(crowded[fresh], -1, first[fresh]))
        in_crowd = np.empty(len(pks), bool)
        in_crowd[order] = np.repeat(crowded, _run_lens(starts, len(cl)))
        return in_crowd, retro


class _Columns(NamedTuple):
    """The ledger's columns as they were when a track was made (adding hits makes new
    arrays), so a score's stories can still be built after later hits came in. A hit is
    its entry row, indicator and extra; what it shares with the entry's other hits (key,
    source, story, time, wording) is kept once, in the entry's row."""

    row: Ints
    """Each hit's entry row."""
    ind: Ints
    extra: Ints
    """Each hit's (value, label) as a code of `Ledger._extras` (-1: neither)."""
    entry: Ints
    """Each entry row's key; then its source code, story, time and wording key."""
    src: Ints
    cluster: Ints
    when: I64
    version: Ints

    def hit(self, name: str, rows: Ints | slice) -> npt.NDArray[Any]:
        """Field `name` of the entry row of each hit of `rows`."""
        column: npt.NDArray[Any] = getattr(self, name)
        return column[self.row[rows]]


@dataclass(frozen=True)
class _Track:
    """The hits of one indicator that can count for some scenarios, prepared for any moment.

    `weights` is None when every hit weighs the indicator's plain weight; for an indicator
    with conditions it is one scenario's weight of each hit (hits weighing 0 left out)."""

    indicator: int
    scenario: str | None
    rows: Ints
    """Every counting hit of the track (row numbers of the ledger), sorted by cluster."""
    heads: Ints
    """The entry row of each version-first hit, sorted by (cluster, source, time, -entry):
    their story, source, time and entry are read from the rows (`of`), not kept again."""
    rel: F64
    """The reliability of each source code (`rel[src]`: of each version-first hit)."""
    weights: F64 | None
    cols: _Columns
    final: Ints
    """The last version-first hit of each (cluster, source) run: what counts at any moment
    after the track's latest hit (before the horizon)."""
    newest: int
    """The track's latest hit time."""
    copied: Ints
    """Version-first hits whose wording has later copies (the horizon may cut between)."""
    copied_last: I64
    """The latest copy's time of each of `copied`."""

    def __len__(self) -> int:
        return len(self.heads)

    def of(self, name: str, idx: Ints | None = None) -> npt.NDArray[Any]:
        """Field `name` (entry, src, cluster, when) of the version-first hits at `idx`
        (None: all of them)."""
        column: npt.NDArray[Any] = getattr(self.cols, name)
        return column[self.heads if idx is None else self.heads[idx]]


@dataclass(frozen=True)
class _Stories:
    """One track's stories at one moment and half-life (kept with what counted without
    their strengths, which move with time: `with_strength` gives them)."""

    cluster: Ints
    strength: F64
    weight: F64 | None
    latest: I64
    lead: Ints
    """The entry of each story's strongest report (the one a story is shown by)."""
    lead_src: Ints
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)
    """What is worked out from the columns but the strengths, shared by every `_Stories`
    made of the same columns (kept with what counted, so refreshes find it)."""

    def __len__(self) -> int:
        return len(self.cluster)

    def field(self, name: str, pos: Ints | int | None = None) -> Any:
        """Field `name` of the stories at `pos` (None: all of them)."""
        column = np.asarray(getattr(self, name))
        return column if pos is None else column[pos]

    def with_strength(self, strength: F64) -> _Stories:
        """These stories at the given strengths (the memo shared)."""
        return replace(self, strength=strength)

    def taken(self, keep: npt.NDArray[np.bool_]) -> _Kept:
        """The stories `keep` marks, without strengths, with a memo of their own."""
        return _Kept(self, np.flatnonzero(keep).astype(np.int32), np.zeros(0))


class _Kept:
    """Some of a track's stories (those no hit added since touched): their positions among
    the stories they were taken from, whose fields are read through them. After a poll the
    kept stories are nearly all of them, and copying five fields of half a million stories
    would hold 10 MB more until the next poll."""

    def __init__(self, base: _Stories, idx: Ints, strength: F64,
                 memo: dict[Any, Any] | None = None) -> None:
        self.base = base
        self.idx = idx
        self.strength = strength
        self.memo: dict[Any, Any] = {} if memo is None else memo

    def __len__(self) -> int:
        return len(self.idx)

    def field(self, name: str, pos: Ints | int | None = None) -> Any:
        """Field `name` of the stories at `pos` (None: all of them), read through their
        positions among the stories they were taken from."""
        if name == "strength":
            return self.strength if pos is None else self.strength[pos]
        return np.asarray(getattr(self.base, name))[self.idx if pos is None else self.idx[pos]]

    @property
    def latest(self) -> I64:
        return self.field("latest")

    @property
    def weight(self) -> F64 | None:
        return None if self.base.weight is None else self.field("weight")

    def with_strength(self, strength: F64) -> _Kept:
        """These stories at the given strengths (the memo shared)."""
        return _Kept(self.base, self.idx, strength, self.memo)


def _newest(stories: _Stories | _Kept, limit: int) -> Ints:
    """The positions of the `limit` stories with the latest reports, and of every story tied
    with the last of them, in position order (found once for the stories' columns)."""
    found = stories.memo.get(("newest", limit))
    if found is None:
        n = len(stories)
        if limit >= n:
            found = np.arange(n)
        elif isinstance(stories, _Kept):
            found = _newest_kept(stories, limit)
        else:
            latest = stories.latest
            found = np.flatnonzero(latest >= np.partition(latest, n - limit)[n - limit])
        stories.memo[("newest", limit)] = found
    return found


def _newest_kept(stories: _Kept, limit: int) -> Ints:
    """`_newest` of stories kept after a poll, read from the newest of all the stories they
    were taken from (kept with those across polls): each poll's kept stories are new, and
    partitioning each one's times again took a tenth of a refresh after a poll."""
    base, idx = stories.base, stories.idx
    # Of the `limit + left out` newest of all (fewer than all, as `limit` is fewer than the
    # kept), at least `limit` are kept, and the limit-th latest of those is the kept
    # stories' edge.
    m = limit + len(base) - len(stories)
    kept = idx[_positions_in(idx, _latest_first(base, m)[:m])]
    latest = np.asarray(base.latest)
    edge = latest[kept[limit - 1]]
    # Every kept story at or after the edge, ties included, as positions among the kept.
    return _positions_in(idx, np.flatnonzero(latest >= edge))


def _latest_first(stories: _Stories, m: int) -> Ints:
    """The positions of at least the `m` stories with the latest reports, latest first
    (kept in the stories' memo, and taken again, twice as many, when more are asked)."""
    found = stories.memo.get("latest first")
    if found is None or len(found) < m:
        latest = np.asarray(stories.latest)
        n = len(latest)
        size = min(n, max(2 * m, 256))
        found = np.argpartition(latest, n - size)[n - size:] if size < n else np.arange(n)
        found = found[np.argsort(-latest[found], kind="stable")]
        stories.memo["latest first"] = found
    return found


class _Chosen:
    """The reports of one track that count at some moments (the same hits are up to them and
    inside the horizon), with all of their stories but the strengths, which move with time."""

    def __init__(self, rows: Ints, times: I64, sources: Ints, reliability: F64, starts: Ints,
                 stories: _Stories) -> None:
        self.rows = rows
        """Each report's entry row: its time is `times[rows]` and its source code
        `sources[rows]`, read when the decays are taken (hourly), not kept (four bytes a
        report where a million are kept, not ten)."""
        self.times = times
        self.sources = sources
        self.reliability = reliability
        self.starts = starts
        """Where each story's reports begin."""
        self.stories = stories
        """The stories, without their strengths."""
        self.at: int | None = None
        self._poly: list[float] | None = None
        """Once compacted: the small stories' sum, as coefficients of powers of the decay
        factor (`total`)."""
        self.fresh: tuple[int, npt.NDArray[np.bool_], _Kept] | None = None
        """The stories no hit added since touched, all but their strengths (`_fresh`), with
        the generation of the touched stories they were found for and their mask."""
        self.strength = np.zeros(0)
        """Each report's strength at `at` (`scoring.decay`'s hour): its reliability times
        its decay, kept so a refresh only moves it on by one factor."""
        self.compacted = False
        """Only sums are kept (`compact`): no stories."""

    @property
    def weight(self) -> F64 | None:
        """Each story's weight (None: the track's plain weight)."""
        return self.stories.weight

    @property
    def when(self) -> I64:
        """Each report's time."""
        return self.times[self.rows]

    @property
    def rel(self) -> F64:
        """Each report's reliability."""
        return self.reliability[self.sources[self.rows]]

    def rebase(self, at: int, half_life: float) -> None:
        if self.compacted and self._poly is not None and self.at is not None:
            # The kept sums move on: f**j of the polynomial's term j by g**j.
            g = 0.5 ** ((at - self.at) / 1e6 / half_life)
            self._poly = [c * g ** (j + 1) for j, c in enumerate(self._poly)]
        # As the reference takes them: ages in exact microseconds, then the power.
        self.strength = self.rel * np.power(0.5, (at - self.when) / 1e6 / half_life)
        self.at = at

    def compact(self) -> None:
        """Keep only what `total` needs: the polynomial of the small stories and the large
        stories' reports. A moment whose stories no one reads (a day or a week before) then
        holds a few numbers instead of a million reports."""
        if self.compacted:
            return
        coefficients, big = self._polynomial()
        lens = _run_lens(self.starts, len(self.rows))[big]
        rows = np.repeat(self.starts[big], lens) + _ranks(lens)
        self.rows, self.strength = self.rows[rows], self.strength[rows]
        self.starts = _run_firsts(lens)
        # Only the large stories' weights are left: no story is read from here again.
        empty = np.zeros(0, np.int64)
        self.stories = _Stories(empty, np.zeros(0), None if self.weight is None
                                else self.weight[big], empty, empty, empty)
        self._poly = coefficients
        self.fresh = None
        self.compacted = True

    def total(self, factor: float | None) -> float:
        """The sum over the stories of weight x strength, with the reports' decays at `at`
        times `factor`. Once compacted, a story of reports a_i being `1 - prod(1 - a_i f)`,
        a polynomial in f, the stories of up to `_SMALL` reports are one polynomial, and
        only the larger ones are multiplied out each time."""
        f = 1.0 if factor is None else factor
        if not self.compacted:
            return self._direct(f)
        assert self._poly is not None
        out = 0.0
        for c in reversed(self._poly):  # Horner, highest power first
            out = out * f + c
        out *= f
        # The large stories, the only ones whose reports are left.
        return out + self._direct(f)

    def _direct(self, f: float) -> float:
        """The sum of weight x strength of the stories whose reports are kept, each
        multiplied out."""
        if not len(self.rows):
            return 0.0
        a = self.strength * f
        strength = 1.0 - np.multiply.reduceat(1.0 - a, self.starts)
        w = self.weight if self.weight is not None else 1.0
        return float(np.sum(w * strength))

    def _polynomial(self) -> tuple[list[float], I64]:
        lens = _run_lens(self.starts, len(self.rows))
        a = self.strength
        coefficients = [0.0] * _SMALL
        # Stories of one length at a time, their reports side by side: e[j] are the
        # elementary symmetric sums of a story's a_i, built one report at a time, and
        # 1 - prod(1 - a_i f) = sum over j >= 1 of (-1)**(j+1) e_j f**j.
        for length in range(1, _SMALL + 1):
            stories = np.flatnonzero(lens == length)
            if not len(stories):
                continue
            first = self.starts[stories]
            e = [np.ones(len(stories))] + [np.zeros(len(stories))] * length
            for r in range(length):
                ar = a[first + r]
                for j in range(r + 1, 0, -1):
                    e[j] = e[j] + ar * e[j - 1]
            w = self.weight[stories] if self.weight is not None else None
            for j in range(1, length + 1):
                total = float(np.sum(e[j] if w is None else w * e[j]))
                coefficients[j - 1] += total if j % 2 else -total
        return coefficients, np.flatnonzero(lens > _SMALL)


_FLOATS = frozenset({"evidence", "weight", "strength"})


@dataclass(frozen=True)
class _Part:
    """One track's stories as they count for one scenario."""

    indicator: int
    stories: _Stories | _Kept
    weight: F64 | float
    """Each story's weight, or the one weight of them all (an indicator without
    conditions)."""
    track: _Track

    @property
    def evidence(self) -> F64:
        """Each story's weight x strength."""
        return self.weight * self.stories.strength

    def column(self, name: str, pos: Ints | int | None = None, out: F64 | None = None) -> Any:
        """The stories' `name` (evidence, weight, or a field of the stories) at positions
        `pos` (None: all of them; one position: its value), without the rest of the column;
        evidence into `out` if given."""
        if name not in ("evidence", "weight"):
            return self.stories.field(name, pos)
        w: F64 | float = self.weight
        if isinstance(w, np.ndarray) and pos is not None:
            w = w[pos]
        if name == "evidence":
            return np.multiply(w, self.stories.field("strength", pos), out=out)
        if isinstance(w, np.ndarray) or isinstance(pos, int):
            return w
        return np.full(len(self.stories) if pos is None else len(pos), w)


class Ledger:
    """Stored hits in columns, for one set of rules; add hits, set the false ones, score."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = scoring.settings_for(config)
        self._ind_ids = [i.id for i in config.indicators]
        self._ind_code = {iid: n for n, iid in enumerate(self._ind_ids)}
        self._sources: list[str] = []
        self._src_code: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._titles = _Titles()
        self._pending: list[tuple[int, int, int]] = []
        self._pending_rows: list[tuple[int, int, int, int, int]] = []
        # A hit is its entry row, indicator and extra (8 bytes); what the hits of one entry
        # share is kept once, in the entry's row (a million hits come from 200,000 entries).
        # Codes and keys start as narrow integers and widen only when a value needs it
        # (`_append`).
        self.row: Ints = np.zeros(0, np.int32)
        """Each hit's entry row."""
        self.ind: Ints = np.zeros(0, np.int16)
        self.extra: Ints = np.zeros(0, np.int16)
        """A hit's value and label, as one code of `_extras` (-1: neither): few hits have
        them, and few pairs occur (two bytes a hit instead of ten)."""
        self.entry: Ints = np.zeros(0, np.int32)
        """Each entry row's key; then its source code, story, time and wording key."""
        self.src: Ints = np.zeros(0, np.int16)
        self.cluster: Ints = np.zeros(0, np.int32)
        self.when: I64 = np.zeros(0, np.int64)
        self.version: Ints = np.zeros(0, np.int64)
        self._extras: list[tuple[float | None, str | None]] = []
        self._extra_code: dict[tuple[float | None, str | None], int] = {}
        self._room: dict[str, npt.NDArray[Any]] = {}
        """Each column's array with room after it (`_append`)."""
        self._crowds = _Crowds()
        self._false: frozenset[tuple[int, str]] = frozenset()
        self._tracks: dict[tuple[int, str | None], _Track] | None = None
        self._cache: dict[tuple[int, str | None, float, int], _Stories | _Kept] = {}
        self._orders: dict[tuple[int, str | None, float], I64] = {}
        self._recent: Ledger | None = None
        self._recent_old: Ledger | None = None
        """The same stories as they were when the tracks were made (what the tracks count
        of them), so sums can swap one for the other."""
        self._prepared_len = 0
        self._sub_ledger = False
        """A ledger of some stories (`_recent`, `_recent_old`), made anew after each poll."""
        """The stories new hits touched since the tracks were made, scored apart."""
        self._touched = np.zeros(0, np.int64)
        """Their clusters, left out of this ledger's own tracks."""
        self._touched_rows = np.zeros(0, np.int64)
        """The hits of those stories (what `_recent` is made of)."""
        self._chosen: dict[tuple[Any, ...], _Chosen] = {}
        """What counts of a track, by the latest of its hit times up to a moment and the
        latest before its horizon (`_chosen_at`); `_used`: those scored since the last
        `forget`, the ones it keeps."""
        self._spans: dict[tuple[Any, ...], dict[tuple[Any, ...], tuple[int, int, int, int]]] = {}
        """Track and half-life -> each selection's key -> the moments and horizons it serves:
        (lo, hi, cut_lo, cut_hi) for `lo <= T < hi` and `cut_lo < horizon <= cut_hi`."""
        self._used: set[tuple[Any, ...]] = set()
        self._touched_gen = 0
        self._added_from = _NEVER
        """The earliest time of the hits added since the tracks were made."""
        self._touched_table: npt.NDArray[np.bool_] | None = None
        """Whether each cluster number up to the ledger's largest is one of `_touched` (None:
        look them up instead): a poll's every kept story is checked with a gather."""
        self._counted = np.zeros(0, bool)
        self._by_time: tuple[int, I64, I64] | None = None
        """The prepared hits' times and (cluster, indicator) keys in time order, those that
        count after a moment (the first item): the surges' windows are slices of it."""
        self._surge_keys: tuple[tuple[int, ...], list[I64], list[I64]] | None = None
        """Rows not marked false (as of the last `_prepare`)."""
        self._wcache: dict[tuple[int, str, int], float] = {}
        self._edge_hints: dict[tuple[str, int, bool], tuple[float, float, int]] = {}
        """Per (scenario, places, direction): values just below and above where the last
        rounding found its edge, and how many stories away they were (`StoryTable._kth`);
        the next refresh, whose remainders have barely moved, looks for its edge between
        them instead of among every story."""

    # --- filling ------------------------------------------------------------------------

    def __len__(self) -> int:
        self._flush()
        return len(self.ind)

    def _cols(self) -> _Columns:
        return _Columns(self.row, self.ind, self.extra, self.entry, self.src, self.cluster,
                        self.when, self.version)

    def _of(self, name: str, rows: Ints | slice) -> npt.NDArray[Any]:
        """Field `name` of the entry row of each hit of `rows`."""
        return self._cols().hit(name, rows)

    def add_evidence(self, evidence: Iterable[Evidence]) -> None:
        """Add hits given as `scoring.Evidence` (the wording key as given)."""
        self._flush()
        start = len(self.ind)
        base = len(self.entry)
        # One entry row for each entry as its hits describe it (the same key, source,
        # story, time and wording).
        rows: dict[tuple[int, int, int, int, int], int] = {}
        for ev in evidence:
            ind = self._ind_code.get(ev.indicator)
            if ind is None:
                continue
            version = self._version_code(ev.version, ev.entry)
            self._titles.setdefault(ev.entry, ev.title)
            key = (ev.entry, self._source(ev.source), ev.cluster, to_us(ev.when), version)
            row = rows.get(key)
            if row is None:
                row = rows[key] = base + len(rows)
            self._pending.append((row, ind, self._extra(ev.value, ev.label)))
        self._pending_rows = list(rows)
        self._flush()
        self._absorb(start, base)

    def add_rows(self, entries: Sequence[tuple[int, str, int, int, str]],
                 grouped: Iterable[tuple[int, str]],
                 valued: Iterable[tuple[int, str, float | None, str | None]],
                 version_of: Callable[[str], str], sep: str = " ") -> None:
        """Add hits read in bulk: `entries` as (pk, source, cluster, microseconds, title);
        hits without value or label as (entry pk, indicator ids joined by `sep`), the others
        as (entry pk, indicator, value, label). `version_of(title)` gives the wording key;
        it is asked only for entries that share a story with another entry."""
        self._flush()
        if not entries:
            return
        start = len(self.ind)
        keys, sources, clusters, micros, titles = zip(*entries, strict=True)
        pk_list = list(keys)
        e_pk = np.array(pk_list, np.int64)
        for source in dict.fromkeys(sources):  # coded in the order they come
            self._source(source)
        code_of_source = self._src_code
        e_src = np.array([code_of_source[s] for s in sources], np.int64)
        e_cl = np.array(clusters, np.int64)
        e_us = np.array(micros, np.int64)
        self._titles.update(zip(keys, titles, strict=True))
        # Wording keys matter only where a story has two entries or more.
        in_crowd, retro = self._crowds.add(e_pk, e_cl)

        def code_of(pk: int) -> int:
            # The key's hash stands for it: wordings only need to differ inside one story,
            # and keeping 200,000 keys as strings would cost more memory than the hits.
            key = version_of(self._titles.get(pk, ""))
            return hash(key) & _POSITIVE if key else -(pk + 1)

        e_ver = np.array([code_of(pk) if crowd else -(pk + 1)
                          for pk, crowd in zip(pk_list, in_crowd.tolist(), strict=True)],
                         np.int64)
        if len(retro):
            rows = np.flatnonzero(np.isin(self.entry, retro))
            # In place: tracks made before saw these entries alone in their story, where any
            # key is one wording, so they read the same stories with the new keys.
            self.version[rows] = [code_of(pk) for pk in self.entry[rows].tolist()]
        base = len(self.entry)
        for name, column in (("entry", e_pk), ("src", e_src), ("cluster", e_cl),
                             ("when", e_us), ("version", e_ver)):
            self._append(name, column)
        # Machine integers as they come (a million hits as Python objects would double the
        # peak memory of a first read).
        h_pk = array("q")
        h_ind = array("q")
        code = self._ind_code
        for pk, joined in grouped:
            codes = [code.get(i, -1) for i in joined.split(sep)]
            h_pk.extend([pk] * len(codes))
            h_ind.extend(codes)
        n_plain = len(h_pk)
        h_extra: list[int] = []
        for pk, indicator, value, label in valued:
            h_pk.append(pk)
            h_ind.append(code.get(indicator, -1))
            h_extra.append(self._extra(value, label))
        ind = np.frombuffer(h_ind, np.int64) if len(h_ind) else np.zeros(0, np.int64)
        pks = np.frombuffer(h_pk, np.int64) if len(h_pk) else np.zeros(0, np.int64)
        order = np.argsort(e_pk)
        found = np.minimum(np.searchsorted(e_pk, pks, sorter=order), len(e_pk) - 1)
        at = order[found]
        known = (ind >= 0) & (e_pk[at] == pks)
        extras = np.concatenate([np.full(n_plain, -1, np.int64), np.array(h_extra, np.int64)])
        for name, column in (("row", base + at[known]), ("ind", ind[known]),
                             ("extra", extras[known])):
            self._append(name, column)
        self._absorb(start, base)

    def _absorb(self, start: int, base: int) -> None:
        """Take in the rows from `start` on, whose entry rows are those from `base` on. A
        prepared ledger keeps its tracks and moves the stories the new rows touch into a
        small ledger of their own (`_recent`): a refresh after a poll then costs about what
        one without new hits does."""
        if self._tracks is None or start == 0:
            self._tracks = None
            return
        stories = np.unique(self._of("cluster", slice(start, None)))
        touched = np.union1d(self._touched, stories)
        table = _member_table(touched, self.cluster)
        # The hits of the stories touched before are known. Earlier hits of the stories
        # touched now for the first time are looked for only when such a story has entries
        # from before `base`: a poll's stories are mostly new or touched by the poll before,
        # and a gather over every hit took more than a millisecond of each refresh after a
        # poll.
        first = stories[~np.isin(stories, self._touched)]
        before = self.cluster[:base]
        earlier_entries = _membership(before, first, _member_table(first, before))
        earlier = (np.flatnonzero(earlier_entries[self.row[:start]])
                   if earlier_entries.any() else np.zeros(0, np.int64))
        rows = np.concatenate([self._touched_rows, earlier,
                               np.arange(start, len(self.ind), dtype=np.int64)])
        rows.sort()
        if len(rows) > min(len(self.ind) // 10, _MOVED_AT_MOST):
            # Too much has moved: prepare all afresh.
            self._tracks = None
            return
        self._append("_counted", ~self._false_mask(start))
        self._touched = touched
        self._touched_rows = rows
        self._touched_table = table
        self._touched_gen += 1
        added = self._of("when", slice(start, None))
        if len(added):
            self._added_from = min(self._added_from, int(added.min()))
        self._recent = self._sub(rows)
        self._recent_old = self._sub(rows[rows < self._prepared_len])

    def _sub(self, rows: I64) -> Ledger:
        """A ledger of some of these rows, sharing the entry rows, codes and titles."""
        sub = Ledger.__new__(Ledger)
        sub.__dict__.update(self.__dict__)
        for name in ("row", "ind", "extra", "_counted"):
            setattr(sub, name, getattr(self, name)[rows])
        sub._pending = []
        sub._pending_rows = []
        sub._room = {}
        sub._tracks = None
        sub._cache, sub._orders, sub._chosen, sub._spans = {}, {}, {}, {}
        sub._used = set()
        sub._sub_ledger = True
        sub._recent = sub._recent_old = None
        sub._touched = np.zeros(0, np.int64)
        sub._touched_table = None
        return sub

    def _append(self, name: str, values: npt.NDArray[Any]) -> None:
        """Add `values` at the end of the column `name`, in room kept after it: a poll's few
        thousand hits do not copy a million-row column. The column before stays a valid
        view (tracks made before keep it), as only the room after it is written."""
        column = getattr(self, name)
        n, k = len(column), len(values)
        dtype = _wide_enough(column.dtype, values)
        room = self._room.get(name)
        if (room is None or len(room) < n + k or room.dtype != dtype or n and
                room[:1].__array_interface__["data"][0] != column.__array_interface__["data"][0]):
            room = np.empty(n + k + max(65536, (n + k) // 10), dtype)
            room[:n] = column
            self._room[name] = room
        room[n:n + k] = values
        setattr(self, name, room[:n + k])

    def _source(self, source: str) -> int:
        code = self._src_code.get(source)
        if code is None:
            code = self._src_code[source] = len(self._sources)
            self._sources.append(source)
        return code

    def _version_code(self, version: str, entry: int) -> int:
        if not version:
            return -(entry + 1)
        code = self._versions.get(version)
        if code is None:
            code = self._versions[version] = len(self._versions)
        return code

    def _flush(self) -> None:
        if self._pending_rows:
            entries: list[tuple[Any, ...]] = list(zip(*self._pending_rows, strict=True))
            self._pending_rows = []
            for name, values in zip(("entry", "src", "cluster", "when", "version"), entries,
                                    strict=True):
                self._append(name, np.array(values, np.int64))
        if self._pending:
            hits: list[tuple[Any, ...]] = list(zip(*self._pending, strict=True))
            self._pending = []
            for name, values in zip(("row", "ind", "extra"), hits, strict=True):
                self._append(name, np.array(values, np.int64))

    def _extra(self, value: float | None, label: str | None) -> int:
        """The code of a hit's (value, label) in `_extras`; -1 for neither."""
        if value is None and label is None:
            return -1
        key = (None if value is None else float(value), label)
        code = self._extra_code.get(key)
        if code is None:
            code = self._extra_code[key] = len(self._extras)
            self._extras.append(key)
        return code

    def set_false(self, false_hits: frozenset[tuple[int, str]]) -> None:
        """The hits analysts marked false, left out from now on."""
        if false_hits != self._false:
            self._false = false_hits
            self._tracks = None

    # --- preparing ----------------------------------------------------------------------

    def _false_mask(self, start: int = 0) -> npt.NDArray[np.bool_]:
        if not self._false or len(self.ind) <= start:
            return np.zeros(len(self.ind) - start, bool)
        n = len(self._ind_ids)
        keys = [pk * n + self._ind_code[ind] for pk, ind in self._false
                if ind in self._ind_code]
        return np.isin(_wide(self._of("entry", slice(start, None))) * n + self.ind[start:],
                       np.array(keys, np.int64))

    def _prepare(self) -> dict[tuple[int, str | None], _Track]:
        self._flush()
        if self._tracks is not None:
            return self._tracks
        self._cache.clear()
        self._orders.clear()
        self._chosen.clear()
        self._spans.clear()
        self._used.clear()
        self._recent, self._touched = None, np.zeros(0, np.int64)
        self._touched_rows = np.zeros(0, np.int64)
        self._added_from = _NEVER
        self._touched_table = None
        self._recent_old = None
        self._prepared_len = len(self.ind)
        if not self._sub_ledger:  # a small ledger has its rows' marks from its maker
            self._counted = ~self._false_mask()
        counted = self._counted
        self._by_time = self._surge_keys = None
        order = np.argsort(self.ind, kind="stable")
        ind_sorted = self.ind[order]
        bounds = np.searchsorted(ind_sorted, _like(ind_sorted, np.arange(len(self._ind_ids) + 1)))
        rel = np.array([scoring.RELIABILITY.get(self.settings.grades.get(s, "C"), 0.6)
                        for s in self._sources] or [0.0], np.float64)
        tracks: dict[tuple[int, str | None], _Track] = {}
        cols = self._cols()
        for code, indicator in enumerate(self.config.indicators):
            rows = order[bounds[code]:bounds[code + 1]]
            rows = rows[counted[rows]]
            if not indicator.conditions:
                tracks[(code, None)] = self._track(code, None, rows, None, rel, cols)
                continue
            for s in self.config.scenarios:
                if not scoring.touches(indicator, s.id):
                    continue
                w = self._weights(indicator, s.id, rows)
                keep = w != 0
                tracks[(code, s.id)] = self._track(code, s.id, rows[keep], w[keep], rel, cols)
        self._tracks = tracks
        return tracks

    def _weights(self, indicator: Indicator, scenario: str, rows: I64) -> F64:
        out = np.empty(len(rows), np.float64)
        ind = self._ind_code[indicator.id]
        for n, extra in enumerate(self.extra[rows].tolist()):
            key = (ind, scenario, extra)
            w = self._wcache.get(key)
            if w is None:
                value, label = self._extras[extra] if extra >= 0 else (None, None)
                w = self._wcache[key] = scoring.weight_of(indicator, scenario, value, label)
            out[n] = w
        return out

    def _track(self, code: int, scenario: str | None, rows: I64, weights: F64 | None,
               rel: F64, cols: _Columns) -> _Track:
        e = self.row[rows]
        cl, ver, wh, en = self.cluster[e], self.version[e], self.when[e], self.entry[e]
        order = np.lexsort((en, wh, ver, cl))
        rows, e, cl, ver, wh = rows[order], e[order], cl[order], ver[order], wh[order]
        if weights is not None:
            weights = weights[order]
        # Copies of one wording: the first published stands for them all.
        head = np.ones(len(rows), bool)
        head[1:] = (cl[1:] != cl[:-1]) | (ver[1:] != ver[:-1])
        # The latest copy of each wording, for the horizon's edge.
        wording_last = np.maximum.reduceat(wh, np.flatnonzero(head)) if len(rows) else wh
        heads = e[head]
        vw = weights[head] if weights is not None else None
        vcl, vsrc, vwhen, ventry = (self.cluster[heads], self.src[heads], self.when[heads],
                                    self.entry[heads])
        order2 = np.lexsort((-ventry, vwhen, vsrc, vcl))
        heads, vcl, vsrc, vwhen = heads[order2], vcl[order2], vsrc[order2], vwhen[order2]
        wording_last = wording_last[order2]
        if vw is not None:
            vw = vw[order2]
        final = _run_ends(vcl, vsrc)
        copied = np.flatnonzero(wording_last > vwhen)
        # Positions as 32-bit integers (a ledger never holds 2**31 hits): the tracks hold
        # a few of them per hit.
        return _Track(code, scenario, rows.astype(np.int32), heads.astype(np.int32), rel, vw,
                      cols, final.astype(np.int32),
                      int(vwhen.max()) if len(heads) else 0,
                      copied.astype(np.int32), wording_last[copied])

    # --- one track at one moment -------------------------------------------------------------

    def _stories(self, key: tuple[int, str | None], half_life: float, at: int
                 ) -> _Stories | _Kept:
        cached = self._cache.get((*key, half_life, at))
        if cached is not None:
            return cached
        chosen, factor = self._chosen_at(key, half_life, at, stories=True)
        # Each story's strength is 1 - prod(1 - a_i), made in place: a million reports'
        # temporaries are fresh pages to fault in at every refresh.
        missing = chosen.strength * (1.0 if factor is None else factor)
        np.subtract(1.0, missing, out=missing)
        missing = np.multiply.reduceat(missing, chosen.starts) if len(missing) else np.zeros(0)
        strength = np.subtract(1.0, missing, out=missing)
        fresh = self._fresh(chosen)
        stories: _Stories | _Kept
        if fresh is None:
            stories = chosen.stories.with_strength(strength)
        else:  # stories new hits touched are scored in `_recent`
            keep, kept = fresh
            stories = kept.with_strength(strength[keep])
        self._cache[(*key, half_life, at)] = stories
        return stories

    def _chosen_at(self, key: tuple[int, str | None], half_life: float, at: int,
                   stories: bool = False) -> tuple[_Chosen, float | None]:
        """The reports of the track `key` that count at `at`, with their decays at the hour
        `at` falls in, and the factor from there to `at` (None: `at` is on the hour)."""
        t = self._prepare()[key]
        cutoff_dt = from_us(at) - timedelta(seconds=half_life * scoring.HORIZON_HALF_LIVES)
        cutoff = to_us(cutoff_dt)
        since_key = self._selection_key(key, t, half_life, at, cutoff)
        chosen = self._chosen.get(since_key)
        fresh = chosen is None or (stories and chosen.compacted)
        if fresh:
            last, edge = self._selection(key, t, half_life, at, cutoff)
            chosen = self._chosen[since_key] = self._chosen_of(t, last, edge, at, cutoff,
                                                               half_life)
        assert chosen is not None
        self._used.add(since_key)
        # Decays as `scoring.decay` takes them: at the hour `at` falls in (kept, so a refresh
        # in the same hour does not raise a million powers again), times one factor since.
        ref = at - at % _REBASE
        if ref != chosen.at:
            chosen.rebase(ref, half_life)
        if fresh and not stories and not self._sub_ledger:
            # Made to be summed (a day or a week before, a trend's day): only its sums are
            # kept, from the start, so a million reports never stand three times over. (A
            # poll's small ledgers are made anew each time: theirs would not be used again.)
            chosen.compact()
        return chosen, (None if at == ref else 0.5 ** ((at - ref) / 1e6 / half_life))

    def _selection_key(self, key: tuple[int, str | None], t: _Track, half_life: float, at: int,
                       cutoff: int) -> tuple[Any, ...]:
        """What names the selection of track `key` at `at` with the horizon at `cutoff`: the
        latest of its hit times up to `at` and the latest before `cutoff`. A selection made
        before tells the moments it serves, so a refresh a few seconds later finds its key
        without reading the track's times (kept, they would cost 8 bytes a hit)."""
        spans = self._spans.setdefault((*key, half_life), {})
        for name, (lo, hi, cut_lo, cut_hi) in list(spans.items()):
            if name not in self._chosen:  # let go (`forget`)
                del spans[name]
            elif lo <= at < hi and cut_lo < cutoff <= cut_hi:
                return name
        times = t.cols.hit("when", t.rows)
        up_to, before = times <= at, times < cutoff
        lo = int(np.max(times, initial=_EARLIEST, where=up_to))
        hi = int(np.min(times, initial=_NEVER, where=~up_to))
        cut_lo = int(np.max(times, initial=_EARLIEST, where=before))
        cut_hi = int(np.min(times, initial=_NEVER, where=~before))
        name = (*key, half_life, lo, cut_lo)
        spans[name] = (lo, hi, cut_lo, cut_hi)
        return name

    def _fresh(self, chosen: _Chosen) -> tuple[npt.NDArray[np.bool_], _Kept] | None:
        """Which of `chosen`'s stories no hit added since the tracks were made touches, and
        those stories but their strengths (None: no story was touched); the touched ones
        count in `_recent` instead. Kept with `chosen` until more hits come, so a refresh
        after a poll does not copy every story again."""
        if not len(self._touched):
            return None
        if chosen.fresh is None or chosen.fresh[0] != self._touched_gen:
            keep = ~_membership(chosen.stories.cluster, self._touched, self._touched_table)
            chosen.fresh = (self._touched_gen, keep, chosen.stories.taken(keep))
        return chosen.fresh[1], chosen.fresh[2]

    def _selection(self, key: tuple[int, str | None], t: _Track, half_life: float, at: int,
                   cutoff: int) -> tuple[I64, I64 | None]:
        """The version-first hits that count at `at` (each story's strongest first), before
        the stories new hits touched are taken out, and the clusters the horizon cuts."""
        # The last of each (cluster, source) run up to `at`, then only those inside the
        # horizon: a run's last hit before it means the whole run is.
        # Each story's reports strongest first (then by entry), as the reference multiplies
        # them: the order of two reports' strengths does not change with the moment.
        order = self._strongest_first(key, t, half_life)
        ordered = at >= t.newest
        if ordered:  # after the latest hit: every run's last, kept in strength order
            # Not kept: made again only when what counts changes (5 MB a million hits).
            mark = np.zeros(len(t), bool)
            mark[t.final] = True
            last = order[mark[order]]
        else:
            # The last of each (cluster, source) run up to `at`: the runs are read from the
            # rows, not kept (4 bytes a hit for moments in the past, scored a few times).
            idx = np.flatnonzero(t.of("when") <= at)
            cl, src = t.of("cluster", idx), t.of("src", idx)
            last = idx[_run_ends(cl, src)]
        last = last[t.of("when", last) >= cutoff]
        # A wording whose first hit is past the horizon while a later copy is not: the copy
        # stands in for it. Few stories are cut so; the reference scores them.
        c = t.copied
        cut = c[(t.of("when", c) < cutoff) & (t.copied_last >= cutoff)]
        edge = np.unique(t.of("cluster", cut)) if len(cut) else None
        if edge is not None:
            last = last[~np.isin(t.of("cluster", last), edge)]
        if not ordered:
            mask = np.zeros(len(t), bool)
            mask[last] = True
            last = order[mask[order]]
        return last, edge

    def _chosen_of(self, t: _Track, last: I64, edge: I64 | None, at: int, cutoff: int,
                   half_life: float) -> _Chosen:
        cl = t.of("cluster", last)
        when = t.of("when", last)
        starts = _run_starts(cl)
        latest = np.maximum.reduceat(when, starts) if len(cl) else np.zeros(0, np.int64)
        weight = None
        if t.weights is not None:
            wl = t.weights[last]
            size = np.abs(wl)
            top = np.maximum.reduceat(size, starts) if len(cl) else size
            lens = _run_lens(starts, len(cl))
            weight = np.maximum.reduceat(np.where(size == np.repeat(top, lens), wl, -np.inf),
                                         starts) if len(cl) else wl
        firsts = last[starts]
        chosen = _Chosen(t.heads[last], t.cols.when, t.cols.src, t.rel, starts.astype(np.int32),
                         _Stories(cl[starts], np.zeros(0), weight, latest.astype(np.int64),
                                  t.of("entry", firsts), t.of("src", firsts)))
        if edge is not None and len(edge):
            chosen = self._with_edge(chosen, t, edge, at, cutoff, half_life)
        return chosen

    def _strongest_first(self, key: tuple[int, str | None], t: _Track, half_life: float
                         ) -> I64:
        """The track's version-first hits by cluster, then strongest first, then entry: the
        strength `rel * 0.5 ** (age / half_life)` ranks as log2(rel) + time / half_life at
        any moment."""
        found = self._orders.get((*key, half_life))
        if found is None:
            when = t.of("when")
            rank = np.log2(t.rel[t.of("src")]) + (when - (when.min() if len(when) else 0)) \
                / 1e6 / half_life
            # Half the memory of the sort's own indices; a track never holds 2**31 hits.
            found = self._orders[(*key, half_life)] = np.lexsort(
                (t.of("entry"), -rank, t.of("cluster"))).astype(np.int32)
        return found

    def _story_hits(self, t: _Track, cluster: int, at: int, cutoff: int,
                    rows: dict[tuple[int, str, datetime], int] | None = None
                    ) -> list[tuple[float, Evidence]]:
        """The hits of story `cluster` of track `t` that can count at `at`, with their
        weights; `rows` is given each one's entry row, by (entry, source, time)."""
        # The track's rows are sorted by cluster: found by bisecting them (a few stories are
        # built at a time; a cluster kept for each row would cost 4 bytes a hit).
        c = t.cols

        def cluster_of(row: int) -> int:
            return int(c.cluster[c.row[row]])

        lo = bisect.bisect_left(t.rows, cluster, key=cluster_of)
        hi = bisect.bisect_right(t.rows, cluster, lo=lo, key=cluster_of)
        out = []
        indicator = self.config.indicators[t.indicator]
        for row in t.rows[lo:hi].tolist():
            us = int(t.cols.hit("when", row))
            if us > at or us < cutoff:
                continue
            ev = self._evidence(t.cols, row)
            if rows is not None:
                rows[(ev.entry, ev.source, ev.when)] = int(c.row[row])
            w = (scoring.weight_of(indicator, t.scenario, ev.value, ev.label)
                 if t.scenario is not None else 1.0)
            out.append((w, ev))
        return out

    def _evidence(self, c: _Columns, row: int) -> Evidence:
        extra = int(c.extra[row])
        value, label = self._extras[extra] if extra >= 0 else (None, None)
        e = int(c.row[row])
        entry = int(c.entry[e])
        version = int(c.version[e])
        return Evidence(entry, self._ind_ids[int(c.ind[row])],
                        self._sources[int(c.src[e])], int(c.cluster[e]),
                        from_us(int(c.when[e])), f"v{version}",
                        value, label, self._titles.get(entry, ""))

    def _with_edge(self, chosen: _Chosen, t: _Track, edge: I64, at: int, cutoff: int,
                   half_life: float) -> _Chosen:
        """`chosen` and the stories the horizon cuts (a copy stands in for a wording's first
        hit): which of their reports count is the reference's, found once for the moments
        that share these hits; their strengths are then computed as the others'."""
        now = from_us(at)
        reports, sizes, clusters, weights, latest, lead, lead_src = [], [], [], [], [], [], []
        for cluster in edge.tolist():
            row_of: dict[tuple[int, str, datetime], int] = {}
            hits = self._story_hits(t, cluster, at, cutoff, row_of)
            if not hits:
                continue
            story = scoring._story((self._ind_ids[t.indicator], cluster), hits, now, half_life,
                                   self.settings)
            # Each report's entry row: its time and source (its reliability, as the track's
            # table has it) are read from there, as the other reports'.
            reports += [row_of[(r.entry, r.source, r.when)] for r in story.reports]
            sizes.append(len(story.reports))
            clusters.append(cluster)
            weights.append(story.weight)
            latest.append(to_us(story.latest))
            lead.append(story.reports[0].entry)
            lead_src.append(self._src_code[story.reports[0].source])
        if not sizes:
            return chosen
        starts = len(chosen.rows) + _run_firsts(np.array(sizes, np.int64))
        weight = None if chosen.weight is None else \
            np.concatenate([chosen.weight, np.array(weights, np.float64)])
        had = chosen.stories
        return _Chosen(_joined(chosen.rows, reports), chosen.times, chosen.sources,
                       chosen.reliability, _joined(chosen.starts, starts.tolist()),
                       _Stories(_joined(had.cluster, clusters), np.zeros(0), weight,
                                np.concatenate([had.latest, np.array(latest, np.int64)]),
                                _joined(had.lead, lead), _joined(had.lead_src, lead_src)))

    # --- scores -------------------------------------------------------------------------

    def forget(self) -> None:
        """Drop the stories kept for the moments scored so far (scores at one moment share
        them; a caller moving on to other moments frees them). What counted at them is kept
        for the next moments nearby (a refresh), the rest let go."""
        self._cache.clear()
        if self._used:
            used = self._used
            self._chosen = {k: v for k, v in self._chosen.items() if k in used}
            self._used = set()
        for sub in (self._recent, self._recent_old):
            if sub is not None:
                sub.forget()

    def _tracks_of(self, scenario: str) -> Iterator[tuple[int, tuple[int, str | None],
                                                          float | None]]:
        """(indicator, track key, plain weight) of every track touching `scenario`; the
        weight is None where the track weighs each hit (conditions)."""
        tracks = self._prepare()
        for code, indicator in enumerate(self.config.indicators):
            if indicator.conditions:
                if (code, scenario) in tracks:
                    yield code, (code, scenario), None
            elif w := indicator.weight.get(scenario, 0.0):
                yield code, (code, None), w

    def _parts(self, scenario: str, at: int) -> list[_Part]:
        """(indicator, stories, evidence of each story) of every track touching `scenario`."""
        tracks = self._prepare()
        half_life = scoring.half_life_seconds(self.config, scenario)
        out = []
        for code, key, w in self._tracks_of(scenario):
            st = self._stories(key, half_life, at)
            if w is None:
                assert st.weight is not None
                out.append(_Part(code, st, st.weight, tracks[key]))
            else:
                out.append(_Part(code, st, w, tracks[key]))
        if self._recent is not None:
            out += self._recent._parts(scenario, at)
        return out

    def _total(self, scenario: str, at: int) -> float:
        """The evidence of `scenario` at `at`, as `score` sums it, without its stories: each
        track's sum is a polynomial in the decay factor since the hour (`_Chosen.total`);
        the stories hits added since touched count as `_recent` has them, less what they
        counted in the tracks (`_recent_old`)."""
        half_life = scoring.half_life_seconds(self.config, scenario)
        sums = []
        for _, key, w in self._tracks_of(scenario):
            chosen, factor = self._chosen_at(key, half_life, at)
            sums.append((1.0 if w is None else w) * chosen.total(factor))
        total = math.fsum(sums)
        if self._recent is not None and self._recent_old is not None and \
                at >= self._added_from:
            # The stories new hits touched, as they are now, in place of how this ledger's
            # tracks have them. (Before the earliest hit added, the two are the same hits:
            # a poll's hits are recent, so a day or a week before costs nothing more.)
            total += self._recent._total(scenario, at) - self._recent_old._total(scenario, at)
        return total

    def level(self, scenario: str, now: datetime) -> float:
        """`score(scenario, now).level`, from sums alone: the moments whose stories no one
        reads (a view's day and week before)."""
        return scoring.level_of(self._total(scenario, to_us(now)), self.settings.scale)

    def score(self, scenario: str, now: datetime) -> Score:
        """What `scoring.score(scenario, hits, config, now, settings, false_hits)` gives."""
        at = to_us(now)
        parts = self._parts(scenario, at)
        total = math.fsum(float(np.sum(p.evidence)) for p in parts)
        level = scoring.level_of(total, self.settings.scale)
        return Score(scenario, level, total, StoryTable(self, scenario, now, parts, total,
                                                         level))

    def levels(self, now: datetime) -> dict[str, float]:
        """Every scenario's level at `now` (what `level` gives), keeping nothing of that
        moment afterwards: a trend scores many past moments, each once."""
        at = to_us(now)
        kept = self._kept_keys()
        out = {s.id: scoring.level_of(self._total(s.id, at), self.settings.scale)
               for s in self.config.scenarios}
        self._forget_moment(at, kept)
        return out

    def _subs(self) -> tuple[Ledger | None, Ledger | None]:
        return self._recent, self._recent_old

    def _kept_keys(self) -> tuple[set[Any], set[Any], list[Any]]:
        return (set(self._chosen), set(self._used),
                [sub._kept_keys() if sub is not None else None for sub in self._subs()])

    def _forget_moment(self, at: int, kept: tuple[set[Any], set[Any], list[Any]]) -> None:
        for key in [k for k in self._cache if k[-1] == at]:
            del self._cache[key]
        chosen, used, subs = kept
        for k in set(self._chosen) - chosen:
            del self._chosen[k]
        self._used &= used
        for sub, sub_kept in zip(self._subs(), subs, strict=True):
            if sub is not None:
                sub._forget_moment(at, sub_kept or (set(), set(), [None, None]))

    def converged(self, scenario: str, score: Score, now: datetime) -> bool:
        """`scoring.converged`, from the table behind `score` without building its stories."""
        s = self.config.scenario(scenario)
        if s is None or s.convergence is None:
            return True
        table = score.stories
        if not isinstance(table, StoryTable):
            return scoring.converged(scenario, self.config, score, now)
        fired = table.fired_since(to_us(now - timedelta(seconds=s.convergence.within)))
        return len(fired) >= s.convergence.indicators

    def surges(self, now: datetime) -> dict[str, Surge]:
        """`scoring.surges` of every indicator at `now`."""
        self._flush()
        settings = self.settings
        at = to_us(now)
        window = to_us(now - settings.surge_window)
        base = to_us(now - settings.surge_window - settings.surge_baseline)
        self._prepare()
        n = len(self._ind_ids)
        prepared = self._prepared_len
        if self._by_time is None or base < self._by_time[0]:
            # The prepared hits that count, by time, once per preparing: those after the
            # baseline's start, which only moves on as the clock does (an earlier moment
            # asked for takes them again).
            when = self._of("when", slice(0, prepared))
            rows = np.flatnonzero(self._counted[:prepared] & (when > base))
            rows = rows[np.argsort(when[rows], kind="stable")]
            self._by_time = (base, when[rows],
                             _wide(self._of("cluster", rows)) * n + self.ind[rows])
            self._surge_keys = None
        _, times, keys = self._by_time
        lo, mid, hi = np.searchsorted(times, [base, window, at], "right").tolist()
        # Hits added since (a poll's few), looked at directly.
        added = self._of("when", slice(prepared, None))
        extra = prepared + np.flatnonzero(self._counted[prepared:] & (added <= at)
                                          & (added > base))
        # The prepared hits' distinct (story, indicator) keys in each window, kept while the
        # windows hold the same hits; a poll's hits are merged in each time.
        if self._surge_keys is None or self._surge_keys[0] != (lo, mid, hi):
            windows_keys = [np.unique(keys[mid:hi]), np.unique(keys[lo:mid])]
            self._surge_keys = ((lo, mid, hi), windows_keys,
                                [np.bincount(k % n, minlength=n) for k in windows_keys])
        _, windows_keys, kept = self._surge_keys
        counts = list(kept)
        if len(extra):
            late = self._of("when", extra) > window
            fresh = _wide(self._of("cluster", extra)) * n + self.ind[extra]
            for w, (known, mine) in enumerate(zip(windows_keys, (late, ~late), strict=True)):
                new = np.unique(fresh[mine])
                where = np.minimum(np.searchsorted(known, new), max(len(known) - 1, 0))
                if len(known):
                    new = new[known[where] != new]
                counts[w] = counts[w] + np.bincount(new % n, minlength=n)
        windows = settings.surge_baseline / settings.surge_window
        out = {}
        for code, iid in enumerate(self._ind_ids):
            k = int(counts[0][code])
            if k < settings.surge_min:
                continue
            mean = max(int(counts[1][code]), 1) / windows
            p = scoring.poisson_tail(k, mean)
            if p < settings.surge_p:
                out[iid] = Surge(iid, k, mean, p)
        return out

    def views(self, now: datetime, was_alert: Mapping[str, bool] | None = None
              ) -> dict[str, ScenarioView]:
        """Every scenario's `scoring.view` at `now`."""
        self.forget()
        was = was_alert or {}
        surging = self.surges(now)
        out = {}
        for s in self.config.scenarios:
            current = self.score(s.id, now)
            day = self.level(s.id, now - timedelta(days=1))
            week = self.level(s.id, now - timedelta(days=7))
            related = [i.id for i in self.config.indicators if scoring.touches(i, s.id)]
            ok = self.converged(s.id, current, now)
            alert_at = s.alert if s.alert is not None else self.config.defaults.alert
            out[s.id] = ScenarioView(
                current, current.level - day, current.level - week,
                tuple(surging[i] for i in related if i in surging),
                scoring.alert_state(was.get(s.id, False), current.level, alert_at,
                                    self.settings.hysteresis, ok),
                ok)
        self.forget()
        return out


class StoryTable(Sequence[Story]):
    """A score's stories, largest evidence first, built one by one when read (with their
    reports, by the reference code): a view of a million hits need not build them all.

    What a board asks of a scenario (points by indicator, the newest stories) is answered
    from the stories as the tracks left them, without sorting them all; the order of
    the reference (evidence in size, then indicator, then cluster) is computed only when
    stories are read by position, and among the few stories a tie concerns."""

    def __init__(self, ledger: Ledger, scenario: str, now: datetime,
                 parts: list[_Part], total: float, level: float) -> None:
        self.ledger = ledger
        self.scenario = scenario
        self.now = now
        # The parts' stories stay where the ledger made them (shared with the other
        # scenarios that count the same track): a board holds no copy of its columns.
        # Positions run over the parts, one after another.
        self.parts = parts
        self.level = level
        self.total = total
        ends = np.cumsum([len(p.stories) for p in parts], dtype=np.int64)
        self._ends = ends
        self._ends_list = ends.tolist()
        self._bounds = list(zip([0, *self._ends_list[:-1]], self._ends_list, strict=True))
        self._codes = np.array([p.indicator for p in parts], np.int64)
        self._rounded: dict[int, F64] = {}
        self._perm: Ints | None = None
        self._seen: list[int] | None = None
        self._built: dict[int, Story] = {}

    def _all(self, name: str) -> npt.NDArray[Any]:
        """Column `name` (see `_Part.column`) of every story, made for the asking."""
        if not self.parts:
            return np.zeros(0, np.float64 if name in _FLOATS else np.int64)
        if name == "evidence":  # made in place: no part's column made, then copied
            out = np.empty(len(self), np.float64)
            for (lo, hi), p in zip(self._bounds, self.parts, strict=True):
                p.column("evidence", out=out[lo:hi])
            return out
        return np.concatenate([p.column(name) for p in self.parts])

    def _at(self, name: str, idx: Ints) -> npt.NDArray[Any]:
        """Column `name` of the stories at positions `idx`."""
        part_of = np.searchsorted(self._ends, idx, "right")
        out = np.empty(len(idx), np.float64 if name in _FLOATS else np.int64)
        for k in np.unique(part_of).tolist():
            mask = part_of == k
            out[mask] = self.parts[k].column(name, idx[mask] - self._bounds[k][0])
        return out

    def _one(self, j: int) -> tuple[int, int]:
        """(part, position in it) of the story at position `j`."""
        k = bisect.bisect_right(self._ends_list, j)
        return k, j - self._bounds[k][0]

    def _value(self, name: str, j: int) -> Any:
        k, i = self._one(j)
        return self.parts[k].column(name, i)

    def _code(self, idx: Ints) -> I64:
        """The indicator code of the story at each position in `idx`."""
        return self._codes[np.searchsorted(self._ends, idx, "right")]

    def _rank(self) -> I64:
        ids = self.ledger._ind_ids
        return np.argsort(np.argsort(np.array(ids, dtype=object), kind="stable"))

    def _in_story_order(self, idx: I64) -> I64:
        """`idx` (positions in the table) in the reference's order of stories: evidence in
        size, then indicator id, then cluster."""
        if len(idx) < 2:
            return idx
        # Many positions: taken from whole columns (one pass a part); a few: gathered.
        many = len(idx) > len(self) // 8
        cluster = self._all("cluster")[idx] if many else self._at("cluster", idx)
        evidence = self._all("evidence")[idx] if many else self._at("evidence", idx)
        # Indicator rank and cluster in one key (cluster ids are entry keys, far below
        # 2**40): two sort keys instead of three.
        ties = (self._rank()[self._code(idx)] << 40) + cluster
        return idx[np.lexsort((ties, -np.abs(evidence)))]

    def _order(self) -> Ints:
        if self._perm is None:
            self._perm = self._in_story_order(np.arange(len(self), dtype=np.int32))
        return self._perm

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    @overload
    def __getitem__(self, i: int) -> Story: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Story]: ...

    def __getitem__(self, i: int | slice) -> Story | Sequence[Story]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self.story_at(int(self._order()[i]))

    def story_at(self, j: int) -> Story:
        """The story at position `j` of the table (as `newest_at` gives them)."""
        story = self._built.get(j)
        if story is None:
            story = self._built[j] = self._build(j)
        return story

    def latest_at(self, j: int) -> datetime:
        """When the latest report of the story at position `j` of the table came."""
        return from_us(int(self._value("latest", j)))

    def values_at(self, name: str, positions: Sequence[int]) -> list[int]:
        """Field `name` (latest, in microseconds; cluster; lead, the entry a story is shown
        by) of the stories at `positions` of the table, read at once."""
        return [int(v) for v in self._at(name, np.asarray(positions, np.int64)).tolist()]

    def lead_at(self, j: int) -> tuple[int, str, str, str]:
        """(entry, source, grade, title) of the strongest report of the story at position `j`
        of the table: what the story is shown by, without building it."""
        entry = int(self._value("lead", j))
        source = self.ledger._sources[int(self._value("lead_src", j))]
        return (entry, source, self.ledger.settings.grades.get(source, "C"),
                self.ledger._titles.get(entry, ""))

    def __iter__(self) -> Iterator[Story]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def _build(self, j: int) -> Story:
        part, _ = self._one(j)
        c, cl = int(self._codes[part]), int(self._value("cluster", j))
        ledger = self.ledger
        track = self.parts[part].track
        half_life = scoring.half_life_seconds(ledger.config, self.scenario)
        at = to_us(self.now)
        cutoff = to_us(self.now - timedelta(seconds=half_life * scoring.HORIZON_HALF_LIVES))
        hits = ledger._story_hits(track, cl, at, cutoff)
        ref = scoring._story((ledger._ind_ids[c], cl), hits, self.now, half_life,
                             ledger.settings)
        evidence = float(self._value("evidence", j))
        points = evidence * (self.level / self.total) if self.total > 0 else 0.0
        return Story(ref.indicator, cl, float(self._value("weight", j)),
                     float(self._value("strength", j)), ref.reports, ref.copies, points)

    def _points(self) -> F64:
        ev = self._all("evidence")  # a new array: scaled in place
        if self.total <= 0:
            return np.zeros(len(ev))
        return np.multiply(ev, self.level / self.total, out=ev)

    def rounded_at(self, places: int = 1) -> F64:
        """Every story's points as `scoring.round_points` rounds them, by position in the
        table."""
        found = self._rounded.get(places)
        if found is None:
            found = self._rounded[places] = self._round(places)
        return found

    def _round(self, places: int) -> F64:
        unit = 10 ** places
        target = round(self.level * unit)
        # In place where it can be (a story's points at each step, for every scenario, at
        # every refresh): the same operations in the same order.
        raw = self._points()
        raw *= unit
        floors = np.floor(raw)
        spare = target - int(np.sum(floors))
        k = abs(spare)
        if k:
            # The k largest remainders (smallest when taking units back), ties to the
            # earlier story: what the reference's stable sort picks, found in linear time.
            key = np.subtract(raw, floors, out=raw)
            if spare > 0:
                np.negative(key, out=key)
            k = min(k, len(key))
            edge = self._kth(key, k, (places, spare > 0))
            take = np.flatnonzero(key < edge)
            ties = self._in_story_order(np.flatnonzero(key == edge))[:k - len(take)]
            floors[np.concatenate([take, ties])] += 1 if spare > 0 else -1
        floors /= unit
        return floors

    def _kth(self, key: F64, k: int, kind: tuple[int, bool]) -> float:
        """The `k`-th smallest of `key` (from 1). Partitioning every story's remainder took
        a tenth of a refresh; the stories below the last refresh's band around its edge are
        counted instead, and only those inside the band partitioned, when the edge is still
        among them (else all are, and the band is taken afresh)."""
        hints = self.ledger._edge_hints
        name = (self.scenario, *kind)
        n = len(key)
        lo, hi, reach = hints.get(name, (0.0, -1.0, n // 64))
        if lo <= hi:
            below = int(np.count_nonzero(key < lo))
            if below < k:
                band = key[(key >= lo) & (key <= hi)]
                if below + len(band) >= k:
                    return float(np.partition(band, k - 1 - below)[k - 1 - below])
            reach *= 2  # the edge moved out of the band: a wider one next time
        reach = min(max(32, reach), n)
        kth = [max(k - 1 - reach, 0), k - 1, min(k - 1 + reach, n - 1)]
        parted = np.partition(key, kth)
        hints[name] = (float(parted[kth[0]]), float(parted[kth[2]]), reach)
        return float(parted[k - 1])

    def newest_at(self, limit: int) -> list[int]:
        """The positions in the table of the `limit` stories with the latest reports,
        latest first (ties in story order), without sorting or building the others."""
        if limit <= 0 or not len(self):
            return []
        # Each part's newest (found once for its columns) hold the table's: a story outside
        # them has `limit` newer ones in its own part.
        idx = np.concatenate([lo + _newest(part.stories, limit)
                              for (lo, _), part in zip(self._bounds, self.parts, strict=True)])
        latest = self._at("latest", idx)
        if limit < len(idx):
            keep = latest >= np.partition(latest, len(idx) - limit)[len(idx) - limit]
            idx = idx[keep]
        idx = self._in_story_order(idx)
        idx = idx[np.argsort(-self._at("latest", idx), kind="stable")]
        return [int(j) for j in idx[:limit]]

    def round_points(self, places: int = 1) -> list[float]:
        """`scoring.round_points` of these stories, without building them."""
        return self.rounded_at(places)[self._order()].tolist()

    def _per_indicator(self, values: F64 | None) -> dict[str, float]:
        """The sum of `values` (by position; None: the evidence) by indicator."""
        # A part holds one indicator's stories, side by side: one slice sum each.
        sums: dict[int, float] = {}
        for (lo, hi), c, part in zip(self._bounds, self._codes.tolist(), self.parts,
                                     strict=True):
            if hi > lo:
                got = part.evidence if values is None else values[lo:hi]
                sums[c] = sums.get(c, 0.0) + float(got.sum())
        ids = self.ledger._ind_ids
        return {ids[c]: sums[c] for c in self._first_seen()}

    def _first_seen(self) -> list[int]:
        """The indicators of the stories, in the order they first appear in story order: by
        each one's largest story (a part holds one indicator's stories, so one pass each)."""
        if self._seen is None:
            best: dict[int, tuple[float, int]] = {}
            for (lo, hi), c, part in zip(self._bounds, self._codes.tolist(), self.parts,
                                         strict=True):
                if hi == lo:
                    continue
                size = np.abs(part.evidence)
                top = float(size.max())
                first = int(np.min(part.stories.field("cluster", np.flatnonzero(size == top))))
                was = best.get(c)
                if was is None or (-top, first) < (-was[0], was[1]):
                    best[c] = (top, first)
            rank = self._rank()
            self._seen = sorted(best, key=lambda c: (-best[c][0], int(rank[c]), best[c][1]))
        return self._seen

    def by_indicator(self) -> dict[str, tuple[float, float, int]]:
        """`Score.by_indicator` without building the stories."""
        counts: dict[int, int] = {}
        for (lo, hi), c in zip(self._bounds, self._codes.tolist(), strict=True):
            if hi > lo:
                counts[c] = counts.get(c, 0) + hi - lo
        share = self.level / self.total if self.total > 0 else 0.0
        ids = self.ledger._ind_ids
        code_of = {iid: n for n, iid in enumerate(ids)}
        return {iid: (e, e * share, counts[code_of[iid]])
                for iid, e in self._per_indicator(None).items()}

    def indicator_points(self, places: int = 1) -> dict[str, float]:
        """Indicator -> the sum of its stories' rounded points (`round_points`)."""
        return self._per_indicator(self.rounded_at(places))

    def fired_since(self, since: int) -> set[int]:
        """The indicator codes with a story for the scenario whose latest report is at or
        after `since` (microseconds)."""
        return {c for c, part in zip(self._codes.tolist(), self.parts, strict=True)
                if np.any((part.evidence > 0) & (part.stories.latest >= since))}


def ledger_of(config: Config, evidence: Iterable[Evidence],
              false_hits: frozenset[tuple[int, str]] = frozenset()) -> Ledger:
    ledger = Ledger(config)
    ledger.add_evidence(evidence)
    ledger.set_false(false_hits)
    return ledger
