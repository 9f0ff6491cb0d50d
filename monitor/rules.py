"""The rule engine: indicators.yaml clauses compiled once into one matcher. Pure.

How a match runs, and why it is fast at a thousand indicators:
1. The entry's title and summary are folded (`monitor.text.word_string`) and reduced to their
   words, separated by single spaces, title and summary joined by a ` | ` marker no pattern
   contains. No list of words is built unless a rule asks for one.
2. One Aho-Corasick automaton holds every word, prefix and phrase of every indicator as
   ` word `, ` prefix` or ` word word `, so a single scan of that string finds every term
   occurrence at word boundaries, whatever the number of indicators.
3. Each indicator has necessary conditions derived from its clause tree: alternatives, one of
   which holds whenever the rule does, each a few term sets that must all have an occurring
   term. Each alternative is triggered by its smallest set and checks the others with one
   C-level set test each. Only indicators with a satisfied alternative — plus the few that
   cannot be pruned, such as pure regular expressions — evaluate their boolean tree.

Everything here is a function of the config and the entry: no I/O, no clock.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick_rs

from monitor.errors import ConfigError, Problem
from monitor.indicators import Config, Indicator, Path_, did_you_mean, parse
from monitor.model import Entry, Hit
from monitor.regex_literals import required_literals
from monitor.text import (
    WORD,
    decoded,
    fold,
    joined_word_source,
    joined_written_run,
    joined_written_tokens,
    joined_written_words,
    on_one_line,
)

ENGINE_VERSION = 2
"""Bumped whenever matching semantics change, so stored hits are re-matched."""

_SEP = "|"
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_CLAUSE_KEYS = ("any", "all", "not", "near", "in")
_SCOPES = ("title", "summary", "text")

TITLE, SUMMARY, TEXT = 0, 1, 2


# --- terms ---------------------------------------------------------------------------------

TermId = str
"""A term's id. A term the automaton finds by a key of its own (a word, a prefix, a phrase
without a gap) has that key as its id, so the keys a scan hands back are the ids of the terms
that occur, without a lookup that would read a thousand indicators' cold ids at every match.
Any other term (a regex, a phrase with a gap) has an id no key can be: keys start with a space.
"""


@dataclass(frozen=True, slots=True)
class _Term:
    id: TermId
    written: str
    kind: str  # word | prefix | phrase | regex
    parts: tuple[tuple[str, str], ...] = ()  # phrase: ("word"|"prefix"|"gap", text)
    pattern: re.Pattern[str] | None = None
    literals: frozenset[str] | None = None
    """For `re:` terms: strings one of which every match contains (a prefilter), if known."""

    @property
    def width(self) -> int:
        return len(self.parts) if self.kind == "phrase" else 1


class _Doc:
    """One entry prepared for matching; costly views are computed only when a rule asks."""

    __slots__ = ("title", "summary", "norm", "sep", "title_count", "found", "_tokens", "_orig",
                 "_source", "_written", "_rx", "_fields", "_folded", "_both", "_keys",
                 "_positions")

    def __init__(self, title: str, summary: str, keys: Mapping[TermId, str]) -> None:
        self.title = title
        self.summary = summary
        words, self._source = joined_word_source(title, _SEP, summary)
        self.norm = f" {words} "
        self.sep = sep = words.index(_SEP)
        self.title_count = words.count(" ", 0, sep)
        self.found: set[TermId] = set()
        """Ids of the terms that occur."""
        self._positions: dict[TermId, list[int]] = {}
        """Term id -> positions in `norm` of its occurrences, filled when a rule asks."""
        self._keys = keys
        self._tokens: list[str] | None = None
        self._orig: list[str] | None = None
        self._written: list[bytes] | None = None
        self._rx: dict[TermId, list[int]] = {}
        self._fields: tuple[tuple[int, str, list[int]], ...] | None = None
        self._folded: tuple[str, str] | None = None
        self._both: str | None = None

    @property
    def tokens(self) -> list[str]:
        """The folded words, title then `|` then summary."""
        if self._tokens is None:
            self._tokens = self.norm[1:-1].split(" ")
        return self._tokens

    def find_all(self, key: str) -> list[int]:
        """Every position of `key` in `norm` (overlapping ones too)."""
        out = []
        at = self.norm.find(key)
        while at >= 0:
            out.append(at)
            at = self.norm.find(key, at + 1)
        return out

    def positions(self, tid: TermId) -> list[int]:
        """Where in `norm` term `tid` occurs (the leading space of its first word)."""
        found = self._positions.get(tid)
        if found is None:
            if tid not in self.found:
                return []
            found = self._positions[tid] = self.find_all(self._keys.get(tid, tid))
        return found

    def in_part(self, tid: TermId, in_title: bool) -> bool:
        """Whether term `tid` occurs in the title (or the summary): one search of that part
        for its key, unless its positions are known already."""
        found = self._positions.get(tid)
        if found is None:
            if tid not in self.found:
                return False
            key = self._keys.get(tid, tid)
            # A key stands inside the part its leading space is in: no key holds the `|`.
            if in_title:
                return self.norm.find(key, 0, self.sep + 1) >= 0
            return self.norm.find(key, self.sep + 1) >= 0
        sep = self.sep
        for at in found:  # noqa: SIM110 - as in _any, the hot path avoids generators
            if (at < sep) == in_title:
                return True
        return False

    def indices(self, tid: TermId) -> list[int]:
        """The token indices of term `tid`'s occurrences, as `positions` in order."""
        count = self.norm.count
        return [count(" ", 0, pos) for pos in self.positions(tid)]

    def token_at(self, pos: int) -> int:
        """The index of the token whose leading space is at `pos` of `norm`."""
        return self.norm.count(" ", 0, pos)

    def back(self, pos: int, tokens: int) -> int:
        """The position of the leading space of the token `tokens` before the one at `pos`."""
        for _ in range(tokens):
            pos = self.norm.rindex(" ", 0, pos)
        return pos

    def original_words(self, index: int, width: int) -> str:
        """The words of the entry as written, for token `index` and the `width` after it; a run
        of words with what stands between them ("U.S.", "anti-war")."""
        if self._orig is None:
            orig = joined_written_words(self.title, _SEP, self.summary)
            # norm has a space before every token and one after the last.
            self._orig = orig if len(orig) == self.norm.count(" ") - 1 else self.tokens
        orig = self._orig
        if width == 1:
            return orig[index]
        if orig is self._tokens:  # the written words did not align: the folded ones
            return " ".join(orig[index: index + width])
        # The written words are the fields' own: cut the run out of the field it is in (a
        # phrase never crosses the title/summary mark).
        title = [m.span() for m in WORD.finditer(self.title)]
        if index < len(title):
            text, spans = self.title, title
        else:
            text, index = self.summary, index - len(title) - 1
            spans = [m.span() for m in WORD.finditer(text)]
        return on_one_line(text[spans[index][0]:spans[index + width - 1][1]])

    def written(self, index: int, width: int) -> str:
        """What `original_words` gives, read from the written text still encoded (see
        `text.joined_written_tokens` and `text.joined_written_run`) when it aligns with the
        tokens."""
        source = self._source
        if width == 1:
            tokens = self._written
            if tokens is None:
                tokens = self._written = (
                    source is not None and joined_written_tokens(source, _SEP)) or []
            if tokens:
                return decoded(tokens[index])
            return self.original_words(index, width)
        run = None if source is None else joined_written_run(source, index, width)
        if run is None:
            return self.original_words(index, width)
        return on_one_line(decoded(run))

    def folded(self) -> tuple[str, str]:
        """The folded title and summary, with their punctuation (what `re:` terms read)."""
        if self._folded is None:
            self._folded = (fold(self.title), fold(self.summary))
        return self._folded

    def field_matches(self, pattern: re.Pattern[str]) -> Iterator[tuple[int, re.Match[str]]]:
        """Matches of `pattern` in the folded title, then summary, each with the index of the
        token it starts at (a match inside a word counts from that word)."""
        if self._fields is None:
            title_f, summary_f = self.folded()
            title_starts = [m.start() for m in WORD.finditer(title_f)]
            summary_starts = [m.start() for m in WORD.finditer(summary_f)]
            self._fields = ((0, title_f, title_starts),
                            (len(title_starts) + 1, summary_f, summary_starts))
        for offset, text, starts in self._fields:
            for m in pattern.finditer(text):
                yield offset + bisect.bisect_left(starts, m.start()), m

    def regex_positions(self, term: _Term) -> list[int]:
        """Token indices where a `re:` term matches (in folded text, field by field)."""
        found = self._rx.get(term.id)
        if found is None:
            assert term.pattern is not None
            if term.literals is not None:
                if self._both is None:
                    self._both = "\n".join(self.folded())
                both = self._both
                for literal in term.literals:
                    # A literal found across the two fields only makes the regex run.
                    if literal in both:
                        break
                else:
                    self._rx[term.id] = found = []
                    return found
            found = [index for index, _ in self.field_matches(term.pattern)]
            self._rx[term.id] = found
        return found


# --- compiled clauses ----------------------------------------------------------------------

Pred = Callable[[_Doc], bool]
_Anchored = tuple[TermId, int, tuple[tuple[str, str], ...]]
"""A phrase found through one of its words: term id, that word's offset, the phrase's parts."""


Routes = tuple[tuple[frozenset[TermId], ...], ...] | None
"""Necessary conditions of a clause: alternatives, one of which holds whenever the clause
does, each a tuple of term sets that must all have an occurring term. None when that cannot
be told (regexes)."""
_MAX_ROUTES = 8
"""More alternatives than this are merged into one looser condition."""
Places = tuple[tuple[frozenset[TermId], bool], ...]
"""Term sets that must each have a term in the title (True) or the summary (False)."""
Condition = tuple[frozenset[TermId], Places]
"""A veto and places: what a satisfied alternative still needs for its clause to hold."""
Sure = dict[tuple[frozenset[TermId], ...], Condition]
"""The alternatives of a clause's routes that are sufficient as well as necessary, each with
its condition: when each set of the alternative has an occurring term, no term of the veto
occurs (the terms of `not:` clauses, the veto of a part) and each set of the places has a
term in its part (`in: title` clauses), the clause holds, and its tree need not run. When
the condition fails, the tree decides, unless the clause is exact."""


def _placed(doc: _Doc, places: Places) -> bool:
    """Whether each set of `places` has a term that occurs in its part of `doc`."""
    found = doc.found
    for terms, in_title in places:
        for tid in terms.intersection(found):
            if doc.in_part(tid, in_title):
                break
        else:
            return False
    return True


def _merged_condition(conditions: list[Condition | None], single: frozenset[TermId],
                      sets: list[frozenset[TermId]]) -> tuple[Condition | None, bool]:
    """The condition of alternatives of one set each merged into `single` (from `sets`), if
    each has one, and whether it is exact: a term of `single` occurring and the condition
    holding say exactly that one of the alternatives holds with its own condition."""
    if any(c is None for c in conditions):
        return None, False
    known = [c for c in conditions if c is not None]
    if all(not places for _, places in known):
        veto = frozenset().union(*(v for v, _ in known))
        return (veto, ()), all(not v for v, _ in known)
    scopes = {places[0][1] for _, places in known if len(places) == 1}
    if len(scopes) == 1 and all(not v and len(p) == 1 and p[0][0] == s
                                for (v, p), s in zip(known, sets, strict=True)):
        return (frozenset(), ((single, scopes.pop()),)), True
    return None, False


@dataclass
class _Node:
    pred: Pred
    routes: Routes
    positive: list[tuple[_Term, int]] = field(default_factory=list)
    """Terms (with their scope) that count as evidence when the clause holds."""
    plain: bool = False
    """The clause is one non-regex term looked for anywhere in the item."""
    in_title: bool | None = None
    """The clause is one non-regex term looked for in the title (True) or summary (False)."""
    sure: Sure = field(default_factory=dict)
    exact: bool = False
    """The clause holds exactly when one of its alternatives holds with its condition (each
    alternative is sure, and each condition exact: its veto only of `not:` clauses)."""
    either: frozenset[TermId] | None = None
    """The clause holds exactly when one of these terms occurs anywhere (plain terms and `any`
    of them): what a `not:` of it adds to a veto."""


class _TermSet:
    """Terms with their scopes, asked where they occur in a document.

    Looks up only the terms the scan actually found, so a rule with a long list of names costs
    nothing for the names that are absent.
    """

    __slots__ = ("by_id", "regexes", "ids", "shapes")

    def __init__(self, terms: Iterable[tuple[_Term, int]]) -> None:
        self.by_id: dict[TermId, list[tuple[_Term, int]]] = {}
        regexes = []
        for term, scope in dict.fromkeys(terms):
            if term.kind == "regex":
                regexes.append((term, scope))
            else:
                self.by_id.setdefault(term.id, []).append((term, scope))
        self.regexes = tuple(regexes)
        self.ids = frozenset(self.by_id)
        self.shapes = {tid: tuple((term.width, scope) for term, scope in variants)
                       for tid, variants in self.by_id.items()}
        """Term id -> (width in words, scope) of each way the set holds it: flat, for the
        loops that build evidence."""

    def indices(self, doc: _Doc) -> list[int]:
        """The token index of every occurrence in `doc`, within each term's scope (those of
        `occurrences`, without the terms)."""
        out: list[int] = []
        shapes = self.shapes
        for tid in self.ids.intersection(doc.found):
            variants = shapes[tid]
            if len(variants) == 1 and variants[0][1] == TEXT:
                out += doc.indices(tid)
                continue
            at = doc.indices(tid)
            title_count = doc.title_count
            for _, scope in variants:
                if scope == TEXT:
                    out += at
                elif scope == TITLE:
                    out += [i for i in at if i < title_count]
                else:
                    out += [i for i in at if i > title_count]
        for term, scope in self.regexes:
            out += _positions(doc, term, scope)
        return out

    def occurrences(self, doc: _Doc) -> list[tuple[int, _Term]]:
        """(token index, term) of every occurrence in `doc`, within each term's scope."""
        out: list[tuple[int, _Term]] = []
        by_id = self.by_id
        for tid in self.ids.intersection(doc.found):
            for term, scope in by_id[tid]:
                for i in _positions(doc, term, scope):
                    out.append((i, term))
        for term, scope in self.regexes:
            for i in _positions(doc, term, scope):
                out.append((i, term))
        return out


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    """One compiled indicator."""

    id: str
    title: str
    pred: Pred
    positive: _TermSet
    value: _ValueRule | None
    labels: tuple[tuple[str, Pred], ...]


@dataclass(frozen=True, slots=True)
class _ValueRule:
    near: _TermSet
    within: int
    percent: bool


_PERCENT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:[.,]\d{1,2})?)\s*(?:%|-?\s*percent\b|per\s*cent\b|"
    r"процент\w*|проц\.|п\.\s*п\.|pp\b|percentage points?\b)"
)
_NUMBER = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)(?![\d])")
_LEVEL_WORDS = frozenset({"to", "at", "до", "уровне", "уровень", "of"})
_DELTA_WORDS = frozenset({"by", "на"})


class _Compiler:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.problems: list[Problem] = []
        self.terms: dict[tuple[str, ...], _Term] = {}
        self.keys: dict[str, tuple[list[TermId], list[_Anchored]]] = {}
        self.list_cache: dict[str, list[tuple[str, Path_]]] = {}

    def problem(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.problems.append(self.config.source.at(path, message, key=key))

    # terms

    def term(self, written: str, path: Path_) -> _Term | None:
        text = written.strip()
        if not text:
            self.problem(path, "empty term; write a word, a phrase, `word*` or `re:...`")
            return None
        if text.startswith("re:"):
            return self._regex(text, path)
        raw_words = text.split()
        parts: list[tuple[str, str]] = []
        for raw in raw_words:
            if raw == "*":
                parts.append(("gap", "*"))
                continue
            star = raw.endswith("*")
            body = raw.rstrip("*")
            if "*" in body:
                self.problem(path, f"term `{written}`: a `*` may only end a word (like resign*) "
                             "or stand alone for one word in a phrase "
                             "(like \"relieved of * post\")")
                return None
            folded = WORD.findall(fold(body))
            if not folded:
                self.problem(path, f"term `{written}` has no letters or digits to match")
                return None
            parts.extend(("word", w) for w in folded[:-1])
            if star:
                if len(folded[-1]) < 2:
                    self.problem(path, f"prefix `{raw}` is too short and would match almost "
                                 "anything; give it at least 2 letters")
                    return None
                parts.append(("prefix", folded[-1]))
            else:
                parts.append(("word", folded[-1]))
        if parts[0][0] == "gap" or parts[-1][0] == "gap":
            self.problem(path, f"phrase `{written}` cannot start or end with `*`; a `*` stands "
                         "for one word between two others")
            return None
        if len(parts) == 1:
            kind, word = parts[0]
            return self._intern((kind, word), written, kind, ())
        return self._intern(("phrase", *(f"{k}:{w}" for k, w in parts)), written, "phrase",
                            tuple(parts))

    def _regex(self, text: str, path: Path_) -> _Term | None:
        written = text[3:]
        # The text a regex reads is folded, so fold the letters the analyst wrote too (й, ё,
        # accents); ASCII is left alone, where case can be part of the syntax (\\D, \\W).
        source = _NON_ASCII.sub(lambda m: fold(m.group()), written)
        try:
            pattern = re.compile(source, re.IGNORECASE)
        except re.error as exc:
            self.problem(path, f"invalid regular expression `{written}`: {exc}; check brackets "
                         "and escape special characters with \\")
            return None
        if pattern.match(""):
            self.problem(path, f"regular expression `{written}` matches empty text, so it "
                         "would match every item; make it require at least one character")
            return None
        key = ("regex", source)
        if key not in self.terms:
            self.terms[key] = _Term(self._own_id(), text, "regex", pattern=pattern,
                                    literals=required_literals(source, re.IGNORECASE))
        return self.terms[key]

    def _intern(self, key: tuple[str, ...], written: str, kind: str,
                parts: tuple[tuple[str, str], ...]) -> _Term:
        term = self.terms.get(key)
        if term is not None:
            return term
        if kind == "word":
            own: str | None = f" {key[1]} "
        elif kind == "prefix":
            own = f" {key[1]}"
        elif all(k == "word" for k, _ in parts[:-1]) and parts[-1][0] != "gap":
            # A phrase of plain words (optionally ending in a prefix) is one automaton key.
            words = " ".join(w for _, w in parts)
            own = f" {words} " if parts[-1][0] == "word" else f" {words}"
        else:
            own = None
        if own is None:
            term = _Term(self._own_id(), written, kind, parts)
            self._phrase_key(term)
        else:
            # Interned, so that the id is the very string the automaton hands back, and set
            # tests compare by identity.
            own = sys.intern(own)
            simple = self.keys.setdefault(own, ([], []))[0]
            # The key is the term's id, unless another term has it already (no two kinds of
            # term make the same key, but nothing here needs that to hold).
            term = _Term(self._own_id() if simple else own, written, kind, parts)
            simple.append(term.id)
        self.terms[key] = term
        return term

    def _own_id(self) -> TermId:
        """An id for a term that is not its own key."""
        return f"\0{len(self.terms)}"

    def _phrase_key(self, term: _Term) -> None:
        """Anchor a phrase with a gap on its longest plain word, to check the rest around it."""
        parts = term.parts
        anchor = max(
            (i for i, (k, _) in enumerate(parts) if k != "gap"),
            key=lambda i: (parts[i][0] == "word", len(parts[i][1])),
        )
        kind, word = parts[anchor]
        key = sys.intern(f" {word} " if kind == "word" else f" {word}")
        self.keys.setdefault(key, ([], []))[1].append((term.id, anchor, parts))

    # lists

    def expand(self, name: str, path: Path_, seen: tuple[str, ...] = ()) -> list[tuple[str, Path_]]:
        """The terms of `$name`, lists inside lists expanded, with where each is written."""
        if name in self.list_cache:
            return self.list_cache[name]
        if name in seen:
            self.problem(path, f"list `${name}` includes itself (through "
                         f"{' -> '.join('$' + s for s in (*seen, name))}); break the cycle")
            return []
        terms = self.config.lists.get(name)
        if terms is None:
            return []  # reported by indicators.parse, with a suggestion
        out: list[tuple[str, Path_]] = []
        for i, t in enumerate(terms):
            tpath: Path_ = ("lists", name, i)
            if not isinstance(t, str):
                self.problem(tpath, f"list `{name}` holds {t!r}; a list holds terms (text)")
            elif t.startswith("$"):
                out.extend(self.expand(t[1:], tpath, (*seen, name)))
            else:
                out.append((t, tpath))
        self.list_cache[name] = out
        return out

    def term_group(self, value: Any, path: Path_) -> list[_Term]:
        """A term, `$list` or list of them: the alternatives of one `near`/`value` slot."""
        if isinstance(value, list):
            return [t for i, v in enumerate(value) for t in self.term_group(v, (*path, i))]
        if isinstance(value, str):
            if value.startswith("$"):
                return [t for w, p in self.expand(value[1:], path)
                        if (t := self.term(w, p)) is not None]
            term = self.term(value, path)
            return [term] if term else []
        self.problem(path, f"expected a term (text), got {value!r}")
        return []

    # clauses

    def clause(self, data: Any, path: Path_, scope: int) -> _Node | None:
        if isinstance(data, str):
            if data.startswith("$"):
                items = self.expand(data[1:], path)
                if not items:
                    return None
                return self._any([self._term_node(t, scope) for w, p in items
                                  if (t := self.term(w, p)) is not None])
            term = self.term(data, path)
            return self._term_node(term, scope) if term else None
        if isinstance(data, list):
            if not data:
                self.problem(path, "empty list of terms matches nothing; add terms or remove it")
                return None
            children = [self.clause(v, (*path, i), scope) for i, v in enumerate(data)]
            if any(c is None for c in children):
                return None
            return self._any([c for c in children if c])
        if isinstance(data, dict):
            return self._mapping(data, path, scope)
        self.problem(path, f"expected a term, a list of terms or a clause (any/all/not/near), "
                     f"got {data!r}")
        return None

    def _mapping(self, data: dict[str, Any], path: Path_, scope: int) -> _Node | None:
        ok = True
        for key in data:
            if key not in _CLAUSE_KEYS:
                hint = did_you_mean(key, _CLAUSE_KEYS).removeprefix("; ")
                self.problem((*path, key), f"unknown key `{key}` in a clause; "
                             f"{hint + ' ' if hint else ''}a clause takes any, all, not, near "
                             "and in", key=True)
                ok = False
        if "in" in data:
            where = data["in"]
            if where not in _SCOPES:
                self.problem((*path, "in"), f"`in: {where}` is not a part of an item; use "
                             "`in: title` or `in: summary`")
                ok = False
            else:
                scope = _SCOPES.index(where)
        parts: list[_Node] = []
        negative: list[_Node] = []
        for key in ("any", "all", "not"):
            if key not in data:
                continue
            value = data[key]
            items = value if isinstance(value, list) else [value]
            if not items:
                self.problem((*path, key), f"empty `{key}:` clause; give it at least one term "
                             "or remove it")
                ok = False
                continue
            children = [self.clause(v, (*path, key, i) if isinstance(value, list) else
                                    (*path, key), scope) for i, v in enumerate(items)]
            if any(c is None for c in children):
                ok = False
                continue
            nodes = [c for c in children if c]
            if key == "any":
                parts.append(self._any(nodes))
            elif key == "all":
                parts.extend(nodes)
            else:
                negative.extend(nodes)
        if "near" in data:
            near = self._near(data["near"], (*path, "near"), scope)
            if near is None:
                ok = False
            else:
                parts.append(near)
        if not ok:
            return None
        if not parts and not negative:
            self.problem(path, "empty clause; give it `any:`, `all:` or `near:`")
            return None
        return self._all(parts, negative)

    def _near(self, data: Any, path: Path_, scope: int) -> _Node | None:
        if not isinstance(data, dict) or set(data) - {"within", "terms"}:
            self.problem(path, "`near` takes `within: N` (words) and `terms: [A, B]`, e.g. "
                         "near: {within: 5, terms: [sacked, $russian-elite]}")
            return None
        within = data.get("within")
        if not isinstance(within, int) or isinstance(within, bool) or within < 1:
            self.problem((*path, "within") if "within" in data else path,
                         f"`within` must be a whole number of words (1 or more), got {within!r}")
            return None
        raw = data.get("terms")
        if not isinstance(raw, list) or len(raw) < 2:
            self.problem((*path, "terms") if "terms" in data else path,
                         "`near` needs `terms:` with at least two entries to bring together")
            return None
        groups = [self.term_group(v, (*path, "terms", i)) for i, v in enumerate(raw)]
        if any(not g for g in groups):
            return None
        term_sets = tuple(_TermSet((t, scope) for t in g) for g in groups)
        pred: Pred
        if len(term_sets) == 2 and not (term_sets[0].regexes or term_sets[1].regexes):
            pred = _within_pair(term_sets[0].ids, term_sets[1].ids, within, scope)
        else:
            def pred(doc: _Doc) -> bool:
                return _within(doc, term_sets, within)

        # Every slot must occur, so every slot without regexes is a necessary set.
        sets = tuple(frozenset(t.id for t in g) for g in groups
                     if all(t.kind != "regex" for t in g))
        return _Node(pred, (_route(sets),) if sets else None,
                     [(t, scope) for g in groups for t in g])

    def _term_node(self, term: _Term, scope: int) -> _Node:
        tid = term.id
        if term.kind == "regex":
            def rx(doc: _Doc) -> bool:
                return any(_in_scope(doc, i, scope) for i in doc.regex_positions(term))
            return _Node(rx, None, [(term, scope)])
        if scope == TEXT:
            def anywhere(doc: _Doc) -> bool:
                return tid in doc.found
            alternative = (frozenset({tid}),)
            return _Node(anywhere, (alternative,), [(term, scope)], plain=True,
                         sure={alternative: (frozenset(), ())}, exact=True,
                         either=frozenset({tid}))
        in_title = scope == TITLE

        def scoped(doc: _Doc) -> bool:
            return doc.in_part(tid, in_title)
        alternative = (frozenset({tid}),)
        return _Node(scoped, (alternative,), [(term, scope)], in_title=in_title,
                     sure={alternative: (frozenset(), ((alternative[0], in_title),))},
                     exact=True)

    @staticmethod
    def _any(nodes: list[_Node]) -> _Node:
        if len(nodes) == 1:
            return nodes[0]
        # One of the children must hold, so one of their alternatives must (if every child
        # has them). Alternatives of one set each merge into one: a term of any of them.
        routes: Routes = None
        sure: Sure = {}
        exact = False
        if all(n.routes is not None for n in nodes):
            alternatives = [a for n in nodes for a in n.routes or ()]
            single = frozenset().union(*(a[0] for a in alternatives if len(a) == 1))
            multiple = [a for a in alternatives if len(a) > 1]
            routes = _capped([(single,), *multiple] if single else multiple)
            # Whichever child's alternative holds with its condition, the child holds; a
            # term of the merged set is sufficient if each set it merges was (see
            # _merged_condition).
            sufficient: Sure = {}
            exact = all(n.exact for n in nodes)
            for n in nodes:
                for a, condition in n.sure.items():
                    if a in sufficient and sufficient[a] != condition:
                        exact = False  # either condition will do; one is kept
                    if a not in sufficient or len(condition[0]) < len(sufficient[a][0]):
                        sufficient[a] = condition
            singles = [a for a in alternatives if len(a) == 1]
            merged, merged_exact = _merged_condition(
                [sufficient.get(a) for a in singles], single, [a[0] for a in singles])
            for a in routes or ():
                if a in sufficient:
                    sure[a] = sufficient[a]
                elif a == (single,) and merged is not None:
                    sure[a] = merged
            exact = (exact and (merged_exact or not singles) and routes is not None
                     and len(routes) == len(set(alternatives) - set(singles)) + bool(singles)
                     and all(a in sure for a in routes))
        # Plain terms anywhere in the item are one set test, however long the list.
        plain = frozenset(n.positive[0][0].id for n in nodes if n.plain)
        # Terms in one part of the item: only those that occur are looked for there.
        title = frozenset(n.positive[0][0].id for n in nodes if n.in_title is True)
        summary = frozenset(n.positive[0][0].id for n in nodes if n.in_title is False)
        others = tuple(n.pred for n in nodes if not n.plain and n.in_title is None)

        def pred(doc: _Doc) -> bool:
            found = doc.found
            if not plain.isdisjoint(found):
                return True
            if title:
                for tid in title.intersection(found):
                    if doc.in_part(tid, True):
                        return True
            if summary:
                for tid in summary.intersection(found):
                    if doc.in_part(tid, False):
                        return True
            for p in others:  # noqa: SIM110 - a loop is faster than any() over a generator here
                if p(doc):
                    return True
            return False
        either = (frozenset().union(*(n.either or () for n in nodes))
                  if all(n.either is not None for n in nodes) else None)
        return _Node(pred, routes, [t for n in nodes for t in n.positive], sure=sure,
                     exact=exact, either=either)

    @staticmethod
    def _all(parts: list[_Node], negative: list[_Node]) -> _Node:
        preds = tuple(n.pred for n in parts)
        negs = tuple(n.pred for n in negative)
        # Every part must hold, so one alternative of each: combine them.
        routes: Routes = None
        # An alternative made of sufficient ones of every part is sufficient under all their
        # vetoes and the terms of the `not:` clauses, unless a part has no routes (a regex)
        # or a `not:` is more than plain terms.
        sure: Sure = {}
        exact = all(n.exact for n in parts)
        for n in parts:
            if n.routes is None:
                continue
            if routes is None:
                routes, sure = n.routes, n.sure
                continue
            mine, mine_sure = n.routes, n.sure
            if len(routes) * len(mine) > _MAX_ROUTES:
                mine, mine_sure, exact = _merged(mine), {}, False
                if len(routes) * len(mine) > _MAX_ROUTES:
                    routes, sure = _merged(routes), {}
            combined: Sure = {}
            for a, (va, pa) in sure.items():
                for b, (vb, pb) in mine_sure.items():
                    route = _route((*a, *b))
                    if route in combined:
                        exact = False  # either condition will do; one is kept
                    combined[route] = (va | vb, pa + pb)
            sure = combined
            routes = tuple(_route((*a, *b)) for a in routes for b in mine)
        if any(n.routes is None for n in parts) or any(n.either is None for n in negative):
            sure, exact = {}, False
        elif negative:
            vetoed = frozenset().union(*(n.either or () for n in negative))
            sure = {a: (veto | vetoed, places) for a, (veto, places) in sure.items()}
        exact = exact and routes is not None and all(a in sure for a in routes)

        if not negs and len(preds) == 1:
            pred = preds[0]
            either = parts[0].either
        else:
            either = None

            def pred(doc: _Doc) -> bool:
                for p in preds:
                    if not p(doc):
                        return False
                for n in negs:  # noqa: SIM110 - as in _any, the hot path avoids generators
                    if n(doc):
                        return False
                return True
        return _Node(pred, routes, [t for n in parts for t in n.positive], sure=sure,
                     exact=exact, either=either)

    # indicators

    def indicator(self, ind: Indicator, path: Path_) -> tuple[IndicatorRule, _Node] | None:
        """The compiled indicator, and the node of its `match` (its routes and sure
        alternatives say when the indicator is a candidate, and when that decides it)."""
        node = self.clause(ind.match, (*path, "match"), TEXT)
        if node is None:
            return None
        if not node.positive:
            self.problem((*path, "match"), "a rule made only of `not` would match almost every "
                         "item; say what must be present with `any:` or `all:`")
            return None
        value = None
        if ind.value is not None:
            near = [t for i, w in enumerate(ind.value.near)
                    for t in self.term_group(w, (*path, "value", "near", i))]
            value = _ValueRule(_TermSet((t, TEXT) for t in near), ind.value.within,
                               ind.value.unit == "percent")
        # The title states the decision; the summary often recalls earlier ones ("after
        # raising it in July"). So a label found in the title wins over one found only in the
        # summary, and within each, the first label in file order.
        in_title: list[tuple[str, Pred]] = []
        anywhere: list[tuple[str, Pred]] = []
        for name, clause in ind.labels.items():
            label_node = self.clause(clause, (*path, "labels", name), TEXT)
            if label_node is None:
                continue
            title_node = self.clause(clause, (*path, "labels", name), TITLE)
            if title_node is not None:
                in_title.append((name, title_node.pred))
            anywhere.append((name, label_node.pred))
        labels = in_title + anywhere
        rule = IndicatorRule(ind.id, ind.title, node.pred, _TermSet(node.positive),
                             value, tuple(labels))
        return rule, node


def _route(sets: Iterable[frozenset[TermId]]) -> tuple[frozenset[TermId], ...]:
    """One alternative: its sets without repeats, and without any set that holds whenever a
    smaller one does (a superset)."""
    ordered = sorted(dict.fromkeys(sets), key=len)
    kept: list[frozenset[TermId]] = []
    for s in ordered:
        if not any(k <= s for k in kept):
            kept.append(s)
    return tuple(kept)


def _merged(
    routes: tuple[tuple[frozenset[TermId], ...], ...],
) -> tuple[tuple[frozenset[TermId], ...]]:
    """One looser alternative implied by any of `routes`: a term of the smallest set of each."""
    return ((frozenset().union(*(min(a, key=len) for a in routes)),),)


def _capped(routes: list[tuple[frozenset[TermId], ...]]) -> Routes:
    out = tuple(dict.fromkeys(routes))
    return _merged(out) if len(out) > _MAX_ROUTES else out


def _in_scope(doc: _Doc, token_index: int, scope: int) -> bool:
    if scope == TEXT:
        return True
    return (token_index < doc.title_count) == (scope == TITLE)


def _positions(doc: _Doc, term: _Term, scope: int) -> list[int]:
    """Token indices where `term` occurs within `scope`."""
    if term.kind == "regex":
        return [i for i in doc.regex_positions(term) if _in_scope(doc, i, scope)]
    found = doc.indices(term.id)
    if scope == TEXT:
        return found
    title_count = doc.title_count
    if scope == TITLE:
        return [i for i in found if i < title_count]
    return [i for i in found if i > title_count]


def _within(doc: _Doc, groups: tuple[_TermSet, ...], within: int) -> bool:
    """Whether one occurrence from every group stands inside a window of `within` words."""
    for group in groups:  # cheap test first: is every slot present at all?
        if not group.regexes and group.ids.isdisjoint(doc.found):
            return False
    if len(groups) == 2:  # the usual case: is some pair close enough?
        first = groups[0].indices(doc)
        if not first:
            return False
        for b in groups[1].indices(doc):
            for a in first:
                if -within <= a - b <= within:
                    return True
        return False
    events: list[tuple[int, int]] = []
    for g, group in enumerate(groups):
        found = group.occurrences(doc)
        if not found:
            return False
        events.extend((index, g) for index, _ in found)
    events.sort()
    need = len(groups)
    counts = [0] * need
    covered = 0
    left = 0
    for index, g in events:
        if counts[g] == 0:
            covered += 1
        counts[g] += 1
        while events[left][0] < index - within:
            lg = events[left][1]
            counts[lg] -= 1
            if counts[lg] == 0:
                covered -= 1
            left += 1
        if covered == need:
            return True
    return False


def _within_pair(first_ids: frozenset[TermId], second_ids: frozenset[TermId], within: int,
                 scope: int) -> Pred:
    """`_within` for the usual `near`: two slots of plain terms. It reads positions in the word
    string and counts the words between two of them, not every word before each."""
    in_title = scope == TITLE

    def pred(doc: _Doc) -> bool:
        found = doc.found
        first_found = first_ids.intersection(found)
        if not first_found:
            return False
        second_found = second_ids.intersection(found)
        if not second_found:
            return False
        positions = doc.positions
        first: list[int] = []
        for tid in first_found:
            first += positions(tid)
        second: list[int] = []
        for tid in second_found:
            second += positions(tid)
        if scope != TEXT:
            sep = doc.sep
            first = [a for a in first if (a < sep) == in_title]
            second = [b for b in second if (b < sep) == in_title]
        count = doc.norm.count
        for b in second:
            for a in first:
                # The words between two positions are the spaces between them.
                if (count(" ", a, b) if a < b else count(" ", b, a)) <= within:
                    return True
        return False
    return pred


class Rules:
    """Compiled indicators: `match(entry)` says which indicators an entry is evidence for."""

    def __init__(self, config: Config, compiled: Sequence[tuple[IndicatorRule, _Node]],
                 compiler: _Compiler) -> None:
        self.config = config
        self.indicators = tuple(rule for rule, _ in compiled)
        routes = [node.routes for _, node in compiled]
        # One automaton holds every word, prefix, phrase and anchor of a gapped phrase, so one
        # scan of the item's word string says which terms occur; where they occur is looked up
        # only when a rule asks. Most keys are the ids of their terms (see TermId); the others
        # (anchors of phrases with a gap) are resolved after the scan.
        self._key_of: dict[TermId, str] = {}
        """The key of each term that has one but is not its own key (see TermId): few, so the
        lookup a position needs reads a small table, not one entry of thousands."""
        special: dict[str, tuple[bool, tuple[TermId, ...],
                                 tuple[tuple[TermId, re.Pattern[str]], ...]]] = {}
        for key, (simple, anchored) in compiler.keys.items():
            self._key_of.update((tid, key) for tid in simple if tid != key)
            if simple != [key] or anchored:
                special[key] = (key in simple, tuple(tid for tid in simple if tid != key),
                                tuple((tid, _phrase_pattern(parts)) for tid, _, parts in anchored))
        self._special = special
        """Keys that are not just their own term's id (anchors of phrases with a gap, keys
        shared): whether the key is a term's id too, the other terms it stands for, and the
        phrases it anchors, each with the pattern that finds it."""
        self._special_keys = frozenset(special)
        # The automaton is the aho-corasick crate's (through ahocorasick-rs), not a trie of
        # separately allocated nodes (pyahocorasick): at a thousand indicators its compact
        # states halve the scan's cache misses (simulated: 182 first-level and 16 last-level
        # misses an item instead of 335 and 35), and it neither copies the text to UCS-4 nor
        # builds a tuple per match (a match takes 5% fewer instructions at a thousand
        # indicators, 13% fewer at ten). It hands back the matched keys themselves (kept, not
        # copied: store_patterns), every occurrence (overlapping): the ids of the terms found.
        self._find = ahocorasick_rs.AhoCorasick(
            sorted(compiler.keys), store_patterns=True).find_matches_as_strings
        self._summary_chars = config.defaults.summary_chars
        # Each alternative of an indicator's necessary conditions is triggered by one of its
        # term sets; its other sets are checked (one C-level set test each) before the clause
        # tree runs. An indicator without conditions (regexes) is evaluated on every item.
        # The trigger is the set least likely to occur. A term many indicators share is a
        # common word (a list of names, `minister*`), so a set costs the number of
        # indicators its terms appear in, summed: a short list of context words shared by
        # every rule triggers far more often than five specific verbs used once each.
        popularity: dict[TermId, int] = {}
        for alternatives in routes:
            for tid in {t for sets in alternatives or () for s in sets for t in s}:
                popularity[tid] = popularity.get(tid, 0) + 1

        def cost(terms: frozenset[TermId]) -> tuple[int, int]:
            return sum(popularity[t] for t in terms), len(terms)

        triggers: dict[TermId, list[tuple[int, frozenset[TermId] | None, Condition | None]]] = {}
        more: list[tuple[int, tuple[frozenset[TermId], ...], Condition | None]] = []
        always: list[int] = []
        # Equal sets and conditions become one object each: the fewer objects a match reads,
        # the fewer are cold (730 distinct sets of 2,245 at 1,000 synthetic indicators).
        same_set: dict[frozenset[TermId], frozenset[TermId]] = {}
        same_condition: dict[Condition, Condition] = {}
        for i, alternatives in enumerate(routes):
            if alternatives is None or not all(alternatives):
                always.append(i)
                continue
            for sets in alternatives:
                # The rarest set triggers; the others are checked rarest first, so a check
                # that fails stops early.
                trigger, *rest = [same_set.setdefault(s, s) for s in sorted(sets, key=cost)]
                condition = compiled[i][1].sure.get(sets)
                if condition is not None:
                    condition = same_condition.setdefault(condition, condition)
                for tid in trigger:
                    entries = triggers.setdefault(tid, [])
                    if not rest:  # the trigger is the only set: nothing more to check
                        entries.append((i, None, condition))
                    elif len(rest) == 1:
                        entries.append((i, rest[0], condition))
                    else:
                        entries.append((-1 - len(more), rest[0], condition))
                        more.append((i, tuple(rest[1:]), condition))
        self._triggers = {tid: tuple(dict.fromkeys(entries)) for tid, entries in triggers.items()}
        """Term id -> (indicator, term set, condition) entries: the indicator is a candidate
        when the term and one of the set (if any) occur; if the alternative is sure, it holds
        when its condition does (see Sure), and the condition is None otherwise. A negative
        indicator points into `_more`, for alternatives with more sets to check."""
        self._decided = tuple(node.exact and node.routes is not None and len(node.routes) == 1
                              for _, node in compiled)
        """Whether an indicator's one alternative decides it: when that alternative's
        condition fails, so does the indicator, without running its clause tree."""
        self._trigger_ids = frozenset(self._triggers)
        self._more = tuple(more)
        self._always = tuple(always)
        self.fingerprint = _fingerprint(config)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.indicators]

    def match(self, entry: Entry) -> list[Hit]:
        """Every indicator `entry` is evidence for, in the order of indicators.yaml."""
        return self.match_text(entry.title, entry.summary)

    def match_text(self, title: str, summary: str = "") -> list[Hit]:
        limit = self._summary_chars
        if limit and len(summary) > limit:
            cut = summary.rfind(" ", 0, limit + 1)
            summary = summary[: cut if cut > 0 else limit]
        doc = self._scan(title, summary)
        found = doc.found
        # Indicator -> the condition of a sure alternative of it that is satisfied, else None.
        candidates: dict[int, Condition | None] = dict.fromkeys(self._always)
        triggers = self._triggers
        for tid in self._trigger_ids.intersection(found):
            for i, required, condition in triggers[tid]:
                if required is None or not required.isdisjoint(found):
                    if i < 0:
                        i, others, condition = self._more[-1 - i]
                        if any(s.isdisjoint(found) for s in others):
                            continue
                    if condition is not None:
                        if candidates.get(i) is None:
                            candidates[i] = condition
                    elif i not in candidates:
                        candidates[i] = None
        if not candidates:
            return []
        hits = []
        indicators = self.indicators
        for i in sorted(candidates):
            rule = indicators[i]
            condition = candidates[i]
            if condition is not None:
                veto, places = condition
                if veto.isdisjoint(found) and (not places or _placed(doc, places)):
                    hits.append(self._hit(rule, doc))
                    continue
                if self._decided[i]:
                    continue
            if rule.pred(doc):
                hits.append(self._hit(rule, doc))
        return hits

    def _scan(self, title: str, summary: str) -> _Doc:
        doc = _Doc(title, summary, self._key_of)
        found = doc.found = set(self._find(doc.norm, True))
        if found.isdisjoint(self._special_keys):
            return doc
        positions = doc._positions
        norm = doc.norm
        for key in found & self._special_keys:
            own, simple, anchored = self._special[key]
            if not own:
                found.discard(key)
            found.update(simple)
            # The anchor occurs: look for the whole phrase, overlapping occurrences too.
            for tid, pattern in anchored:
                m = pattern.search(norm)
                if m is None:
                    continue
                at = positions[tid] = []
                while m is not None:
                    start = m.start()
                    at.append(start)
                    m = pattern.search(norm, start + 1)
                found.add(tid)
        return doc

    def _hit(self, rule: IndicatorRule, doc: _Doc) -> Hit:
        words = _evidence_words(doc, rule)
        value = _extract_value(doc, rule.value) if rule.value else None
        label = None
        if rule.labels:
            label = next((name for name, pred in rule.labels if pred(doc)), None)
        return Hit(rule.id, words, value, label)


def _phrase_pattern(parts: tuple[tuple[str, str], ...]) -> re.Pattern[str]:
    """A phrase with gaps as a pattern over `_Doc.norm`, matching from the leading space of
    its first word: a word is that whole token, a prefix starts a token, a gap is any one
    token but the title/summary marker."""
    pieces = []
    for kind, word in parts:
        if kind == "gap":
            pieces.append(r"[^ |]+")
        else:
            pieces.append(re.escape(word) + (r"[^ ]*" if kind == "prefix" else ""))
    return re.compile(" " + " ".join(pieces) + " ")


def _extract_value(doc: _Doc, spec: _ValueRule) -> float | None:
    """The number written nearest to the value's terms, preferring levels ("to 21%") over
    changes ("by 2 points")."""
    anchors = sorted({i for i, _ in spec.near.occurrences(doc)})
    if not anchors:
        return None
    best: tuple[int, int, float] | None = None
    tokens = doc.tokens
    for index, m in doc.field_matches(_PERCENT if spec.percent else _NUMBER):
        distance = min(abs(index - a) for a in anchors)
        if distance > spec.within:
            continue
        before = tokens[max(0, index - 2):index]
        if before and before[-1] in _DELTA_WORDS:
            rank = 2
        elif any(b in _LEVEL_WORDS for b in before):
            rank = 0
        else:
            rank = 1
        number = float(m.group(1).replace(",", "."))
        if best is None or (rank, distance) < best[:2]:
            best = (rank, distance, number)
    return best[2] if best else None


def _fingerprint(config: Config) -> str:
    """A hash of everything that decides hits (not weights), so changed rules re-match."""
    payload = {
        "engine": ENGINE_VERSION,
        "lists": config.lists,
        "summary_chars": config.defaults.summary_chars,
        "indicators": [
            {"id": i.id, "match": i.match, "value": i.value.model_dump() if i.value else None,
             "labels": i.labels}
            for i in config.indicators
        ],
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def compile_config(config: Config) -> tuple[Rules, list[Problem]]:
    """Compile every indicator of `config`; the rules that compiled and the problems found."""
    compiler = _Compiler(config)
    for name in config.lists:
        compiler.expand(name, ("lists", name))
    compiled = [c for ind in config.indicators
                if (c := compiler.indicator(ind, config.indicator_paths[ind.id])) is not None]
    return Rules(config, compiled, compiler), compiler.problems


def check_examples(rules: Rules) -> tuple[int, list[Problem]]:
    """Run every indicator's `examples:`; how many ran, and a problem for each that failed."""
    config = rules.config
    by_id = {r.id: r for r in rules.indicators}
    problems: list[Problem] = []
    count = 0
    for ind in config.indicators:
        rule = by_id.get(ind.id)
        if rule is None:
            continue
        for e, example in enumerate(ind.examples):
            count += 1
            item = example.item
            hit = next((h for h in rules.match_text(item.title, item.summary)
                        if h.indicator == ind.id), None)
            path = (*config.indicator_paths[ind.id], "examples", e)
            quoted = _quote(item.title)
            failure = None
            if example.match is not None and hit is None:
                seen = _evidence_words(rules._scan(item.title, item.summary), rule)
                failure = (f"example {quoted} should match `{ind.id}` but does not"
                           + (f" (found only: {', '.join(seen)})" if seen else
                              " (none of its terms occur)")
                           + "; widen the rule or fix the example")
            elif example.no_match is not None and hit is not None:
                failure = (f"example {quoted} should not match `{ind.id}` but does, on: "
                           f"{', '.join(hit.terms)}; add a `not:` or narrow the terms")
            elif hit is not None and example.value is not None and hit.value != example.value:
                failure = (f"example {quoted} should extract {example.value:g} but extracts "
                           f"{'nothing' if hit.value is None else format(hit.value, 'g')}")
            elif (hit is not None and example.label is not None and hit.label != example.label
                  and example.label in ind.labels):  # an undefined label is reported already
                failure = (f"example {quoted} should get label `{example.label}` but gets "
                           f"{'no label' if hit.label is None else '`' + hit.label + '`'}")
            if failure:
                problems.append(config.source.at(path, failure))
    return count, problems


def _quote(text: str) -> str:
    return json.dumps(text if len(text) <= 80 else text[:77] + "...", ensure_ascii=False)


def _evidence_words(doc: _Doc, rule: IndicatorRule) -> tuple[str, ...]:
    """The entry's words that the rule's positive terms found, in reading order, once each."""
    positive = rule.positive
    spans: list[tuple[int, int]] = []
    """(token index, -width) of each occurrence: longer phrases first where two start."""
    sep = doc.sep
    shapes = positive.shapes
    count = doc.norm.count
    for tid in positive.ids.intersection(doc.found):
        positions = doc.positions(tid)
        for width, scope in shapes[tid]:
            in_title = scope == TITLE
            for pos in positions:
                if scope == TEXT or (pos < sep) == in_title:
                    spans.append((count(" ", 0, pos), -width))
    for term, scope in positive.regexes:
        for index in _positions(doc, term, scope):
            spans.append((index, -1))
    written = doc.written
    if len(spans) == 1:
        index, width = spans[0]
        return (written(index, -width),)
    spans.sort()
    words = []
    reach = 0
    """The end of the furthest span listed: a span that ends by it lies inside one listed
    ("anti-war" inside "anti-war rally"), which shows its words already."""
    for index, width in spans:
        end = index - width
        if end > reach:
            words.append(written(index, -width))
            reach = end
    return tuple(dict.fromkeys(words))


@dataclass(frozen=True)
class Checked:
    """What `load` found: the rules and how many examples ran."""

    rules: Rules
    examples: int


def load(path: Path | str, *, examples: bool = True) -> Checked:
    """Parse, validate and compile indicators.yaml and run its examples.

    Raises ConfigError with every problem of the file, each as `file:line:col: message`.
    """
    config, problems = parse(path)
    if config is None:
        raise ConfigError(problems)
    rules, compile_problems = compile_config(config)
    problems.extend(compile_problems)
    count = 0
    if examples:
        count, example_problems = check_examples(rules)
        problems.extend(example_problems)
    if problems:
        raise ConfigError(problems)
    return Checked(rules, count)
