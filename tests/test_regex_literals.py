"""The regex prefilter: literals a pattern cannot match without, and only those."""

from __future__ import annotations

import re

import pytest

from monitor.regex_literals import required_literals


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"ruble[sa]?\s+(fell|slid)", {"ruble"}),
        (r"\b(ukrain\w*|kyiv|kiev)\b\s+(\w+\s+){0,2}(minister|governor)", {"minister",
                                                                          "governor"}),
        (r"\b\d+\s?(?:bn|billion|млрд)\b", {"bn", "billion", "млрд"}),
        (r"(?<!\bin )\b(advanc(e|es)|recaptur\w*)", {"advanc", "recaptur"}),
        (r"Key Rate", {"key rate"}),
    ],
)
def test_required_literals_are_read_off_the_pattern(pattern: str, literals: set[str]) -> None:
    assert required_literals(pattern, re.IGNORECASE) == literals


@pytest.mark.parametrize("pattern", [r"x*", r"(a|bc)", r"(?s)\A(?=.*[а-я]{4})", r"(foo)?b",
                                     r"\d+%", r"(?:kremlin|\d+)"])
def test_patterns_without_a_safe_literal_have_no_prefilter(pattern: str) -> None:
    assert required_literals(pattern, re.IGNORECASE) is None


@pytest.mark.parametrize("text", ["the ruble fell", "Rubles slid again", "a kiev governor",
                                  "Kyiv  deputy minister", "5 bn", "recaptured", "kremlin 5"])
def test_every_match_contains_one_of_the_literals(text: str) -> None:
    for pattern in [r"ruble[sa]?\s+(fell|slid)",
                    r"\b(kyiv|kiev)\b\s+(\w+\s+){0,2}(minister|governor)",
                    r"\b\d+\s?(?:bn|billion)\b", r"(recaptur\w*|advanc\w*)"]:
        literals = required_literals(pattern, re.IGNORECASE)
        assert literals is not None
        folded = text.lower()
        if re.search(pattern, folded, re.IGNORECASE):
            assert any(lit in folded for lit in literals)
