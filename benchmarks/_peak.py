"""Peak resident memory of the running process, shared by the benchmarks' children.

Not ``ru_maxrss`` alone: Linux starts an exec'd child's ``ru_maxrss`` at its parent's
high-water mark (``exec_mmap`` keeps the old address space's), so the child of a
parent that once held 2 GB reports at least 2 GB (found by bench_scale.py: a child
that touched 14 MB reported 1.59 GB). ``VmHWM`` of ``/proc/self/status`` belongs to
the new address space only. Where there is no ``/proc`` (macOS), ``ru_maxrss``.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_rss_gb() -> float:
    """Peak resident memory of this process's own address space, GB (10**9 bytes)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux, bytes on macOS
    return (r if sys.platform == "darwin" else r * 1024) / 1e9
