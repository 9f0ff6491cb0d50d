"""The demo: the `seeds/` corpus polled from disk into a store, so the dashboard has something
real to show without a network. No textual here, so tests and the CLI can seed a store alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import MonitorError
from monitor.indicators import Feed
from monitor.poll import Poller, PollReport
from monitor.rules import Rules
from monitor.store import Store


@dataclass(frozen=True)
class Seeded:
    report: PollReport
    newest: datetime | None
    """The time the newest stored entry counts from: the demo's `now`."""


def seed_feeds(folder: Path) -> list[Feed]:
    """One path feed per `*.xml` file in `folder`, named after the file."""
    return [Feed(id=p.stem, path=str(p.resolve())) for p in sorted(folder.glob("*.xml"))]


def find_seeds(*candidates: Path) -> Path:
    """The first of `candidates` that holds `*.xml` feeds."""
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.xml")):
            return folder
    where = " or ".join(str(c) for c in candidates)
    raise MonitorError(f"There is no demo corpus (seeds/*.xml) in {where}; run the demo from "
                       "a checkout of the monitor.")


def seed(store: Store, rules: Rules, folder: Path) -> Seeded:
    """Poll every feed file of `folder` into `store` once, matched with `rules`."""
    feeds = seed_feeds(folder)
    store.sync_sources(feeds)

    async def go() -> PollReport:
        async with Poller(feeds, rules, store, base_dir=folder,
                          default_every=rules.config.defaults.every,
                          clock=lambda: datetime.now(UTC)) as poller:
            return await poller.poll_now(force=True)

    report = asyncio.run(go())
    newest = store.entries(limit=1)
    return Seeded(report, newest[0].when if newest else None)
