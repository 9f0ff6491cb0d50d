"""How well the shipped indicators.yaml reads real news: precision, recall and F1 on the labelled
dev set (tests/data/devset.jsonl), over (item, indicator) pairs, overall and per language.

The dev set measures generalisation: its items are not the examples written into the rules.
Run with `pytest -s tests/test_devset.py` to see the per-indicator table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from monitor.rules import Rules, load

ROOT = Path(__file__).resolve().parents[1]
INDICATORS = ROOT / "indicators.yaml"
DEVSET = ROOT / "tests" / "data" / "devset.jsonl"

MIN_F1 = 0.90
MIN_F1_RUSSIAN = 0.85


@dataclass
class Tally:
    """True positives, false positives and false negatives over (item, indicator) pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self, name: str) -> str:
        return (f"{name:<24} {self.tp:>4} {self.fp:>4} {self.fn:>4}  "
                f"{self.precision:6.3f} {self.recall:6.3f} {self.f1:6.3f}")


@dataclass
class Report:
    overall: Tally = field(default_factory=Tally)
    by_language: dict[str, Tally] = field(default_factory=dict)
    by_indicator: dict[str, Tally] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    items: int = 0

    def table(self) -> str:
        head = f"{'':<24} {'tp':>4} {'fp':>4} {'fn':>4}  {'prec':>6} {'recall':>6} {'f1':>6}"
        lines = [f"dev set: {self.items} items", head]
        lines += [t.row(name) for name, t in sorted(self.by_indicator.items())]
        lines.append("-" * len(head))
        lines += [t.row(f"language {lang}") for lang, t in sorted(self.by_language.items())]
        lines.append(self.overall.row("overall"))
        if self.misses:
            lines += ["", "missed:", *(f"  {m}" for m in self.misses)]
        if self.false_alarms:
            lines += ["", "false alarms:", *(f"  {f}" for f in self.false_alarms)]
        return "\n".join(lines)


def evaluate(rules: Rules, items: list[dict[str, Any]]) -> Report:
    """Match every item and count agreement with its labels, pair by pair."""
    report = Report(items=len(items))
    known = set(rules.ids)
    for item in items:
        lang = item["lang"]
        gold = set(item["labels"])
        found = {h.indicator for h in rules.match_text(item["title"], item.get("summary", ""))}
        for indicator in known | gold:
            tallies = (report.overall,
                       report.by_language.setdefault(lang, Tally()),
                       report.by_indicator.setdefault(indicator, Tally()))
            if indicator in gold and indicator in found:
                for t in tallies:
                    t.tp += 1
            elif indicator in found:
                for t in tallies:
                    t.fp += 1
                report.false_alarms.append(f"{item['id']} [{lang}] +{indicator}: {item['title']}")
            elif indicator in gold:
                for t in tallies:
                    t.fn += 1
                report.misses.append(f"{item['id']} [{lang}] -{indicator}: {item['title']}")
    return report


@pytest.fixture(scope="module")
def report() -> Report:
    if not DEVSET.exists():
        pytest.skip(f"the labelled dev set {DEVSET.relative_to(ROOT)} is not in this checkout")
    items = [json.loads(line) for line in DEVSET.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return evaluate(load(INDICATORS, examples=False).rules, items)


def test_every_label_names_a_shipped_indicator(report: Report) -> None:
    shipped = set(load(INDICATORS, examples=False).rules.ids)
    assert set(report.by_indicator) <= shipped


def test_devset_accuracy_meets_the_bar(report: Report) -> None:
    print("\n" + report.table())
    russian = report.by_language.get("ru", Tally())
    assert report.overall.f1 >= MIN_F1 and russian.f1 >= MIN_F1_RUSSIAN, (
        f"overall F1 {report.overall.f1:.3f} (needs {MIN_F1}), Russian F1 {russian.f1:.3f} "
        f"(needs {MIN_F1_RUSSIAN})\n{report.table()}"
    )


def test_figures_quoted_in_the_readme(report: Report) -> None:
    """The figures the README quotes; printed so they can be copied (`pytest -s`)."""
    lines = [f"{'':<10} {'precision':>9} {'recall':>6} {'F1':>6}"]
    for name, tally in [("overall", report.overall),
                        *((f"lang {k}", v) for k, v in sorted(report.by_language.items()))]:
        lines.append(f"{name:<10} {tally.precision:9.3f} {tally.recall:6.3f} {tally.f1:6.3f}")
    print("\nREADME figures (dev set, (item, indicator) pairs):\n" + "\n".join(lines))
    assert report.overall.tp + report.overall.fn == sum(t.tp + t.fn for t in
                                                         report.by_language.values())
