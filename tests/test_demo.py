"""`monitor demo` scores the demo outlets with their own reliability grades."""

from __future__ import annotations

from pathlib import Path

from monitor.rules import load
from monitor.tui.demo import with_demo_feeds

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_rules_are_the_shipped_ones_with_the_graded_demo_feeds(tmp_path: Path) -> None:
    path = with_demo_feeds(ROOT / "indicators.yaml", ROOT / "seeds", tmp_path)
    demo = load(path, examples=False).rules
    shipped = load(ROOT / "indicators.yaml", examples=False).rules
    assert {f.id: f.reliability for f in demo.config.feeds} == {
        "demo-wire": "B", "demo-russian-service": "B", "demo-state-media": "D",
        "demo-analysis-desk": "A"}
    assert demo.fingerprint == shipped.fingerprint
    assert all(Path(f.path or "").is_file() for f in demo.config.feeds)
