"""Matching beside the parse: what the poller hands the parser processes with each feed.

A module of its own so that the parser processes load only what parsing and matching need
(the fetcher, the rule engine), not the store and its database libraries: the server they
are forked from is ready sooner.
"""

from __future__ import annotations

import pickle

from monitor.fetch import ParsedFeed
from monitor.model import Hit
from monitor.rules import Rules, compile_config

_compiled: dict[str, Rules] = {}
"""In a parser process: the rules compiled from the file of that name."""


def hits_from_file(rules_file: str, parsed: ParsedFeed) -> tuple[str, dict[str, list[Hit]]]:
    """`hits_by` with the rules whose configuration the poller pickled into `rules_file`,
    compiled once per process."""
    rules = _compiled.get(rules_file)
    if rules is None:
        with open(rules_file, "rb") as f:
            rules, _ = compile_config(pickle.load(f))
        _compiled.clear()  # the rules a poller wrote before are done with
        _compiled[rules_file] = rules
    return hits_by(rules, parsed)


def hits_by(rules: Rules, parsed: ParsedFeed) -> tuple[str, dict[str, list[Hit]]]:
    """The rules' fingerprint and their hits on every entry that has some."""
    found = {e.id: hits for e in parsed.entries if (hits := rules.match(e))}
    return rules.fingerprint, found
