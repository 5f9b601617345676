"""Matrix profiles of many pumps at once, without oversubscribing the cores."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .common import _active_client
from .profile import Profile, matrix_profile


def profiles(series: Mapping[str, np.ndarray], m: int, *, normalize: bool = False,
             client=None, scheduler: str | None = None) -> dict[str, Profile]:
    """Matrix profiles of many series (e.g. one per pump), in parallel on Dask.

    One Dask task per series. With a ``dask.distributed`` client (given, or
    the active default one) the tasks run on its workers; without one they
    run in this process one after the other (``scheduler="synchronous"``:
    Stumpy's numba kernels already use every core, and its default threading
    layer must not be entered from several threads at once).

    Examples
    --------
    >>> out = profiles({"P1": np.random.rand(200), "P2": np.random.rand(200)}, 10)  # doctest: +SKIP
    >>> sorted(out)                                                                   # doctest: +SKIP
    ['P1', 'P2']
    """
    import dask

    if client is None:
        client = _active_client()
    tasks = {k: dask.delayed(matrix_profile, pure=True)(np.asarray(v, float), m,
                                                        normalize=normalize)
             for k, v in series.items()}
    if client is not None:
        futures = client.compute(list(tasks.values()))
        results = client.gather(futures)
    else:
        results = dask.compute(*tasks.values(), scheduler=scheduler or "synchronous")
    return dict(zip(tasks, results, strict=True))
