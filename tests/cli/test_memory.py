"""The mmap threshold every `partnerships` command fixes (daemon.memory)."""

from __future__ import annotations

import platform

import pytest

from daemon.memory import fix_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_mmap_threshold() -> None:
    assert fix_mmap_threshold() is True
