"""Matrix profiles of many pumps at once, without oversubscribing the cores.

Stumpy's numba kernels are parallel already: one matrix profile in one
process uses every core. Running several of them at once on the *same*
machine — Dask worker processes that each start numba with one thread per
core — puts ``workers × cores`` threads on ``cores`` cores, and every worker
process pays numba's compilation again (the issue measured 32 s with a local
client against 16 s for a plain loop). So :func:`profiles` plans before it
computes:

* no client, or a client whose workers all live on this machine (a
  ``LocalCluster``): the profiles run one after the other in this process,
  each kernel on all cores (threads) — exactly the plain loop;
* a client with workers on other machines (``placement="workers"`` forces
  this on one machine too): one task per pump on the workers, each task
  limiting numba to its share of its host's cores (host cores ÷ worker
  threads on that host, at least 1), so processes × threads = cores.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping

import numpy as np

from ..errors import ArgumentError
from .common import _active_client
from .profile import Profile, matrix_profile

PLACEMENTS = ("auto", "here", "workers")


def _local_hosts() -> set[str]:
    hosts = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
    with contextlib.suppress(OSError):   # no name resolution: loopback names suffice
        hosts.add(socket.gethostbyname(socket.gethostname()))
    return hosts


def _worker_hosts(client) -> dict[str, int]:
    """Worker threads per host of ``client``'s workers."""
    out: dict[str, int] = {}
    for addr, w in client.scheduler_info().get("workers", {}).items():
        host = addr.split("://")[-1].rsplit(":", 1)[0].strip("[]")
        out[host] = out.get(host, 0) + int(w.get("nthreads", 1))
    return out


def plan(client, placement: str = "auto") -> str:
    """Where :func:`profiles` computes: ``"here"`` (a loop in this process, numba on every
    core) or ``"workers"`` (one task per pump, numba threads capped per host)."""
    if placement not in PLACEMENTS:
        raise ArgumentError(f"invalid placement {placement!r}. Expected one of: "
                            + ", ".join(repr(p) for p in PLACEMENTS))
    if client is None or placement == "here":
        return "here"
    if placement == "workers":
        return "workers"
    hosts = _worker_hosts(client)
    return "here" if not hosts or set(hosts) <= _local_hosts() else "workers"


def _profile_capped(x, m, normalize, host_threads):
    """One pump's profile on a worker, numba limited to this worker's share of the host."""
    import numba

    share = max(1, (os.cpu_count() or 1) // max(1, host_threads))
    numba.set_num_threads(min(share, numba.config.NUMBA_NUM_THREADS))
    return matrix_profile(x, m, normalize=normalize)


def profiles(series: Mapping[str, np.ndarray], m: int, *, normalize: bool = False,
             client=None, scheduler: str | None = None, placement: str = "auto"
             ) -> dict[str, Profile]:
    """Matrix profiles of many series (e.g. one per pump), never slower than a loop.

    Parameters
    ----------
    series : mapping of name → array
        One series per pump.
    m : int
        Window length.
    normalize : bool
        z-normalised distances (see :func:`~pumplib.outliers.matrix_profile`).
    client : dask.distributed.Client, optional
        Default: the active client, if any.
    scheduler : str, optional
        Unused (kept for callers of earlier versions: the loop is synchronous).
    placement : {"auto", "here", "workers"}
        ``auto`` (default) computes here when every worker of the client is on
        this machine and on the workers otherwise (see the module docstring).

    Examples
    --------
    >>> out = profiles({"P1": np.random.rand(200), "P2": np.random.rand(200)}, 10)  # doctest: +SKIP
    >>> sorted(out)                                                                   # doctest: +SKIP
    ['P1', 'P2']
    """
    if client is None:
        client = _active_client()
    where = plan(client, placement)
    if where == "here":
        return {k: matrix_profile(np.asarray(v, float), m, normalize=normalize)
                for k, v in series.items()}
    import dask

    hosts = _worker_hosts(client)
    threads = max(hosts.values()) if hosts else 1
    tasks = {k: dask.delayed(_profile_capped, pure=True)(np.asarray(v, float), m, normalize,
                                                         threads)
             for k, v in series.items()}
    results = client.gather(client.compute(list(tasks.values())))
    return dict(zip(tasks, results, strict=True))
