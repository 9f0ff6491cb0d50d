"""The demo: the `seeds/` corpus polled from disk into a store, so the dashboard has something
real to show without a network. No textual here, so tests and the CLI can seed a store alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from monitor.errors import MonitorError
from monitor.indicators import Feed
from monitor.poll import Poller, PollReport
from monitor.rules import Rules, load
from monitor.store import Store


@dataclass(frozen=True)
class Seeded:
    report: PollReport
    newest: datetime | None
    """The time the newest stored entry counts from: the demo's `now`."""


def seed_feeds(folder: Path) -> list[Feed]:
    """One path feed per `*.xml` (RSS, Atom) or `*.json` (JSON Feed) file in `folder`, named
    after the file."""
    files = sorted([*folder.glob("*.xml"), *folder.glob("*.json")])
    return [Feed(id=p.stem, path=str(p.resolve())) for p in files]


def with_demo_feeds(indicators: Path, folder: Path, work: Path) -> Path:
    """A copy of `indicators` in `work` whose feeds are the demo outlets of `folder`
    (`feeds.yaml` there, with their reliability grades), so the demo scores them as graded."""
    grades = folder / "feeds.yaml"
    if not grades.is_file():
        return indicators
    document = yaml.safe_load(indicators.read_text(encoding="utf-8"))
    feeds = yaml.safe_load(grades.read_text(encoding="utf-8")).get("feeds", [])
    document["feeds"] = [{**f, "path": str((folder / f["path"]).resolve())} for f in feeds]
    copy = work / "indicators.yaml"
    copy.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return copy


def demo_rules(indicators: Path, folder: Path, work: Path) -> Rules:
    """The rules of `indicators` with the demo outlets of `folder` as feeds (a copy in `work`).
    ConfigError points into `indicators` itself, the file the analyst edits, not the copy."""
    load(indicators, examples=False)
    return load(with_demo_feeds(indicators, folder, work), examples=False).rules


def find_seeds(*candidates: Path) -> Path:
    """The first of `candidates` that holds `*.xml` feeds."""
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.xml")):
            return folder
    where = " or ".join(str(c) for c in candidates)
    raise MonitorError(f"There is no demo corpus (seeds/*.xml) in {where}; run the demo from "
                       "a checkout of the monitor.")


def seed(store: Store, rules: Rules, folder: Path) -> Seeded:
    """Poll every feed file of `folder` into `store` once, matched with `rules`, one after
    the other, so the entries get the same keys on every run (the dashboard shows them)."""
    feeds = seed_feeds(folder)
    store.sync_sources(feeds)

    async def go() -> PollReport:
        async with Poller(feeds, rules, store, base_dir=folder,
                          default_every=rules.config.defaults.every,
                          clock=lambda: datetime.now(UTC)) as poller:
            outcomes = []
            for feed in feeds:
                outcomes.extend((await poller.poll_now([feed.id], force=True)).outcomes)
            return PollReport(outcomes)

    report = asyncio.run(go())
    newest = store.entries(limit=1)
    return Seeded(report, newest[0].when if newest else None)
