"""A long-running process gives freed arrays back to the system (monitor.memory)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from monitor.memory import return_large_blocks

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the allocator setting is glibc's; elsewhere return_large_blocks does nothing")

# Frees 80 MB of 2 MB blocks while a small block allocated after them stays in use, after a
# 16 MB block was freed (which moves glibc's own threshold past 2 MB); prints the MB given back.
FRAGMENTED = """
import sys
from monitor.memory import return_large_blocks
if sys.argv[1] == "set":
    assert return_large_blocks()
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
big = bytearray(16 << 20)
del big
blocks = [bytearray(2 << 20) for _ in range(40)]
above = bytearray(64 << 10)
before = rss_mb()
del blocks
print(before - rss_mb())
"""


def given_back_mb(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    run = subprocess.run([sys.executable, "-c", FRAGMENTED, mode], capture_output=True,
                         text=True, check=True, env=env)
    return int(run.stdout)


def test_freed_blocks_of_a_few_mb_go_back_to_the_system() -> None:
    assert given_back_mb("set") >= 78


def test_without_the_setting_the_same_blocks_stay_resident() -> None:
    # What the setting is for: glibc keeps them in its heap, under the block still in use.
    assert given_back_mb("plain") <= 2


def test_a_threshold_given_in_the_environment_is_left_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert return_large_blocks() is False
