"""Keeps the memory of a long first sync or replay flat: large blocks are mapped from the system and returned to it.

glibc serves blocks of 128 KB and more with mmap at first, but the first time such a block is freed it raises that
threshold to the block's size, and from then on serves the large, short-lived buffers of a sync (FETCH answers of up
to 2 MB, messages of megabytes) from its heap, which they leave full of holes: a 100,000-message first sync peaked
8 MB (7%) higher than with the threshold fixed. Fixing it (mallopt M_MMAP_THRESHOLD) keeps every such block in
mmap. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("daemon.memory")

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept from being raised


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold for this process; True when it was set."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt), or no C library to load
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if not done:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; memory may grow with the size of a first sync")
    return done
