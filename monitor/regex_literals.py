"""Literal strings a regular expression cannot match without: a cheap prefilter. Pure.

`required_literals(pattern)` returns a set of strings such that every match of the pattern
contains at least one of them, or None when no such set can be read off the pattern. The
rule engine tests `any(s in text ...)` (a fast substring search) before running a `re:` term,
so an analyst's elaborate regular expression costs almost nothing on the many items that do
not even contain its key words.
"""

from __future__ import annotations

from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _p  # type: ignore[attr-defined]
from typing import Any

Literals = frozenset[str] | None

_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}


def required_literals(source: str, flags: int = 0) -> Literals:
    """Strings one of which every match of `source` contains (lower-cased), or None."""
    try:
        parsed = _p.parse(source, flags)
    except Exception:
        return None
    found = _sequence(list(parsed))
    if not found or any(len(s) < 2 for s in found):
        return None  # one-letter literals filter nothing worth having
    return frozenset(s.lower() for s in found)


def _sequence(items: list[tuple[Any, Any]]) -> Literals:
    """The most selective requirement among the parts of a sequence (all must match)."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if run:
            candidates.append(frozenset({"".join(run)}))
            run.clear()

    for op, arg in items:
        if op is _c.LITERAL:
            run.append(chr(arg))
            continue
        if op in _ZERO_WIDTH:
            close_run()
            continue
        prefix = "".join(run)
        close_run()
        if op is _c.BRANCH and prefix:
            # The parser factors a common first letter out of alternatives ("bn|billion"
            # becomes "b" then "n|illion"): glue it back on where every branch starts with
            # letters.
            leads = [_leading(list(branch)) for branch in arg[1]]
            if all(leads):
                candidates.append(frozenset(prefix + lead for lead in leads))
        if op is _c.SUBPATTERN:
            sub = _sequence(list(arg[-1]))
            if sub:
                candidates.append(sub)
        elif op is _c.BRANCH:
            union: set[str] = set()
            for branch in arg[1]:
                sub = _sequence(list(branch))
                if not sub:
                    union.clear()
                    break
                union |= sub
            else:
                candidates.append(frozenset(union))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
            low, _high, body = arg
            if low >= 1:
                sub = _sequence(list(body))
                if sub:
                    candidates.append(sub)
    close_run()
    if not candidates:
        return None
    # The best requirement is the one whose weakest alternative is longest.
    return max(candidates, key=lambda c: (min(len(s) for s in c), -len(c)))


def _leading(items: list[tuple[Any, Any]]) -> str:
    """The literal letters a sequence starts with."""
    out = []
    for op, arg in items:
        if op is not _c.LITERAL:
            break
        out.append(chr(arg))
    return "".join(out)
