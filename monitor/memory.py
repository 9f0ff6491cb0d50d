"""How the long-running processes (the dashboard, `monitor run`) give freed memory back.

A dashboard holds a ledger of a million hits all day, and each refresh makes and drops
arrays of a few MB. glibc's malloc serves a block of 128 KB or more from a mapping of its
own, returned to the system when freed, but it raises that threshold to the size of any
such block freed, up to 32 MB. After the first large array is dropped, arrays below that
size come from the heap instead, where one block still in use above them keeps every freed
one below it resident. A fixed threshold of 1 MB keeps large arrays in mappings of their
own. In bench/dashboard.py that took 10 to 20 MB off the peak (337 and 338 MB without it,
317 to 330 with it, in five runs); a threshold of 128 KB saved no more and made refreshes
slower, as every fresh mapping is zeroed page by page.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

MMAP_THRESHOLD = 1 << 20
"""Blocks of this many bytes or more get a mapping of their own."""
_M_MMAP_THRESHOLD = -3
"""mallopt's parameter number (malloc.h); setting it also stops the threshold moving."""


def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Have the C library give every block of `threshold` bytes or more back to the system
    when it is freed. Whether it was set: False where the C library is not glibc, or where
    `MALLOC_MMAP_THRESHOLD_` in the environment already says what the user wants."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
