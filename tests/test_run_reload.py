"""`monitor run` takes in a saved indicators.yaml without a restart, and keeps the last good
rules when the saved file is broken."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from test_scheduler import wait_for

RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>
<link>https://example.org/</link><description>d</description>
<item><title>Kremlin denies talks</title><guid>a</guid></item>
<item><title>Duma passes budget</title><guid>b</guid></item>
</channel></rss>"""

RULES = """version: 1
feeds: [{{id: local, path: feed.xml, every: 1h}}]
scenarios: [{{id: s, title: S, question: Q}}]
indicators:
  - {{id: k, title: K, weight: {{s: 1}}, match: [{term}]}}
"""


def hits(db: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return sorted(conn.execute(
                "select hit.indicator, entry.key from hit join entry on entry.pk = hit.entry_pk"
            ).fetchall())
    except sqlite3.OperationalError:
        return []


def test_saving_rules_rematches_and_a_broken_save_keeps_the_last_good(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(RSS, encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES.format(term="Kremlin"), encoding="utf-8")
    db = tmp_path / "m.db"
    env = {**os.environ, "MONITOR_INDICATORS": str(rules), "MONITOR_DB": f"sqlite:///{db}"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--tick", "0.2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: hits(db) == [("k", "a")])
        rules.write_text(RULES.format(term="[Duma"), encoding="utf-8")  # broken YAML
        time.sleep(1.0)
        rules.write_text(RULES.format(term="Duma"), encoding="utf-8")
        os.utime(rules, (time.time() + 5, time.time() + 5))
        assert wait_for(lambda: hits(db) == [("k", "b")])
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "keeping the last good rules" in err
    assert "rules reloaded" in err


def test_run_records_snapshots_and_says_when_an_alert_turns_on(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_text(RSS, encoding="utf-8")
    rules = tmp_path / "indicators.yaml"
    rules.write_text(RULES.format(term="Kremlin").replace(
        "{id: s, title: S, question: Q}", "{id: s, title: S, question: Q, alert: 1}"),
        encoding="utf-8")
    db = tmp_path / "m.db"
    env = {**os.environ, "MONITOR_INDICATORS": str(rules), "MONITOR_DB": f"sqlite:///{db}"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--tick", "0.2",
                             "--score-every", "0.3"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def snapshots() -> int:
        try:
            with sqlite3.connect(db, timeout=10) as conn:
                return int(conn.execute("select count(*) from score_snapshot").fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    try:
        assert wait_for(lambda: snapshots() >= 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err.count("alert on") == 1 and 'scenario="s"' in err
