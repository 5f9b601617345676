"""The ``ds.pump`` xarray accessor: stateless, every method forwards to a plain function.

Registered when :mod:`pumplib.lake` or :mod:`pumplib.quality` is imported.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> import pumplib.accessor  # noqa: F401  (registers ds.pump)
>>> t = pd.date_range("2026-01-01", periods=4, freq="1min")
>>> ds = xr.Dataset({"flow": (("asset", "time"), [[1.0, -1.0, 2.0, 3.0]])},
...                 coords={"asset": ["P1"], "time": t})
>>> flags = ds.pump.flags({"version": 1, "signals": {"flow": {"range": {"min": 0}}}})
>>> ds.pump.good(flags).flow.values.tolist()
[[1.0, nan, 2.0, 3.0]]
>>> ds.pump.explain(flags.flow.values[0, 1])
'RANGE: outside the physical range'
"""

from __future__ import annotations

import xarray as xr


@xr.register_dataset_accessor("pump")
class PumpAccessor:
    """``ds.pump``: quality (and later feature) functions applied to this Dataset."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def flags(self, rules=None, registry=None, **kwargs) -> xr.Dataset:
        """Lazy quality flags: :func:`pumplib.quality.evaluate`."""
        from .quality import evaluate

        return evaluate(self._ds, rules, registry, **kwargs)

    def flags_range(self, start, end, rules=None, registry=None, **kwargs) -> xr.Dataset:
        """Flags of one time range plus context: :func:`pumplib.quality.evaluate_range`."""
        from .quality import evaluate_range

        return evaluate_range(self._ds, start, end, rules, registry, **kwargs)

    def good(self, flags: xr.Dataset | None = None) -> xr.Dataset:
        """Only good samples, others NaN: :func:`pumplib.quality.good`.

        For *raw* signals (``pumplib.query.query_raw``, ``Lake.open_raw``).
        Without ``flags``, the flags stored in the lake the Dataset came from.

        Raises
        ------
        ArgumentError
            On a golden-table result (``pumplib.query(...)``): its values are
            already made from good samples only, and their share is in the
            ``<feature>_coverage`` columns.
        """
        from .quality import good

        level = _golden_level(self._ds)
        if level is not None:
            from .errors import ArgumentError

            cover = [str(v) for v in self._ds.data_vars if str(v).endswith("_coverage")]
            feats = sorted({str(da.attrs["feature"]) for da in self._ds.data_vars.values()
                            if da.attrs.get("feature")}) or ["<feature>"]
            raise ArgumentError(
                "ds.pump.good() masks raw samples that the quality flags reject; this is a "
                f"golden-table result (level {level}), whose values are already made from good "
                "samples only: their share is in the <feature>_coverage columns"
                + (f" ({', '.join(cover[:3])}{', …' if len(cover) > 3 else ''})" if cover
                   else f" (pumplib.query({feats[0]!r}, …) includes them)")
                + " and values below min_coverage are NaN. For raw samples use "
                "pumplib.query.query_raw(..., good=True)")
        return good(self._ds, flags)

    def scores(self, timezone: str | None = None):
        """Daily quality table of a *flag* Dataset: :func:`pumplib.quality.scores`."""
        from .quality import scores

        return scores(self._ds, timezone=timezone)

    @staticmethod
    def explain(value: int) -> str:
        """A flag value in words: :func:`pumplib.quality.explain`."""
        from .quality import explain

        return explain(value)


def _golden_level(ds: xr.Dataset) -> str | None:
    """The level of a golden-table Dataset (a query result), None for raw signals."""
    if "cadence" in ds.attrs:
        return None
    if ds.attrs.get("level"):
        return str(ds.attrs["level"])
    for da in ds.data_vars.values():
        if "aggregation" in da.attrs and da.attrs.get("level"):
            return str(da.attrs["level"])
    return None
