"""`monitor run` as a real process: it polls on its own, stops cleanly on SIGTERM, and a
SIGKILL in the middle of ingesting loses nothing committed and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer, feed

FEEDS = 20
ITEMS = 200


WORDS = ("budget talks ruble frontline envoy governor drone harvest bridge court tariff "
         "election pipeline grain summit port strike river winter tanker").split()


def headline(feed_no: int, i: int) -> str:
    """Distinct stories, so each entry is its own cluster as in real feeds."""
    rng = random.Random(feed_no * 100_000 + i)
    return " ".join(rng.choice(WORDS) for _ in range(8)) + f" Kremlin {feed_no} {i}"


def rss(feed_no: int, items: int) -> bytes:
    body = "".join(
        f"<item><title>{headline(feed_no, i)}</title><guid>g-{feed_no}-{i}</guid>"
        f"<description>{headline(feed_no + 1000, i)}</description></item>"
        for i in range(items)
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>F{feed_no}</title><link>https://example.org/</link><description>d"
            f"</description>{body}</channel></rss>").encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        for n in range(FEEDS):
            s.route(f"/f{n}.xml", feed(rss(n, ITEMS)))
        yield s


def write_rules(folder: Path, server: FeedServer) -> Path:
    feeds = "".join(f"  - {{id: f{n}, url: '{server.url(f'/f{n}.xml')}', every: 1h}}\n"
                    for n in range(FEEDS))
    path = folder / "indicators.yaml"
    path.write_text(
        "version: 1\npolling: {host_interval: 0, concurrency: 4}\nfeeds:\n" + feeds
        + "scenarios: [{id: s, title: S, question: Q}]\n"
        "indicators:\n  - {id: k, title: K, weight: {s: 1}, match: [Kremlin]}\n",
        encoding="utf-8",
    )
    return path


def monitor(rules: Path, db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "MONITOR_INDICATORS": str(rules), "MONITOR_DB": f"sqlite:///{db}"}
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def wait_for(predicate: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def descendants(pid: int) -> set[int]:
    """The live processes below `pid`, read from /proc (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while reading
            continue
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_after_the_pass_in_flight(server: FeedServer, tmp_path: Path) -> None:
    rules, db = write_rules(tmp_path, server), tmp_path / "m.db"
    proc = monitor(rules, db, "run", "--tick", "0.5")
    try:
        assert wait_for(lambda: count(db, "select count(*) from entry") > 0, 60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "stopped" in err
    # A pass that was allowed to finish leaves every feed it started fully stored.
    per_feed = count(db, "select count(*) from (select source, count(*) c from entry "
                         f"group by source having c != {ITEMS})")
    assert per_feed == 0
    # and gives every feed back: no lease is left to expire.
    assert count(db, "select count(*) from source where lease_owner is not null") == 0


def test_sigkill_during_ingestion_loses_nothing_committed_and_duplicates_nothing(
    server: FeedServer, tmp_path: Path
) -> None:
    rules, db = write_rules(tmp_path, server), tmp_path / "m.db"
    proc = monitor(rules, db, "run", "--tick", "0.5")
    try:
        assert wait_for(lambda: count(db, "select count(*) from entry") >= ITEMS, 60)
        helpers = descendants(proc.pid)  # the feed parser processes, by now at work
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        # A helper left behind would hold the pipes open: fail, don't hang.
        proc.communicate(timeout=30)
    if Path("/proc/self/stat").exists():
        assert helpers, "the poller should parse in helper processes"
        # None of them outlives the poller, though nothing told them it died.
        assert wait_for(lambda: not any(alive(p) for p in helpers), 10), sorted(helpers)
    stored = count(db, "select count(*) from entry")
    assert 0 < stored < FEEDS * ITEMS, "the kill should land in the middle of ingestion"
    # Whatever was committed is whole: a feed is all there or not there at all.
    partial = count(db, "select count(*) from (select source, count(*) c from entry "
                        f"group by source having c != {ITEMS})")
    assert partial == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"

    again = monitor(rules, db, "poll", "--force")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert count(db, "select count(*) from entry") == FEEDS * ITEMS
    assert count(db, "select count(distinct source || '/' || key) from entry") == FEEDS * ITEMS
    assert count(db, "select count(*) from hit") == FEEDS * ITEMS
