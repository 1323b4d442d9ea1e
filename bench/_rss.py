"""Peak resident memory of this process alone: `peak_rss_mb`; run as a script, the peak of a module it runs.

`getrusage(...).ru_maxrss` survives `exec`: a child started by a parent that holds 150 MB reports at least 150 MB,
whatever it used itself (RUSAGE_CHILDREN is the largest of those). The kernel's VmHWM is the high-water mark of
the process's own memory since its last `exec`.

Usage as a script: python bench/_rss.py -m MODULE ARGS... runs `python -m MODULE ARGS...` and, on exit, writes
`peak-rss-mb: N` to standard error.
"""

from __future__ import annotations

import atexit
import resource
import runpy
import sys
from pathlib import Path

PEAK_LINE = "peak-rss-mb:"


def peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the best there is


def _report() -> None:
    print(f"{PEAK_LINE} {peak_rss_mb():.1f}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        raise SystemExit("usage: python bench/_rss.py -m MODULE ARGS...")
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    atexit.register(_report)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
