"""Manual overrides: a person marks a period of an asset's signal bad or good, with a reason.

Each override is its own lake commit: a one-row table under
``quality_overrides/<id>`` (kept forever, like the quarantine) and, where
flags are already stored, the ``MANUAL_BAD`` or ``MANUAL_GOOD`` bit set on
the covered cells of ``quality/<cadence>``. Later validation runs read the
overrides back and apply them again, so they survive re-validation.
``MANUAL_GOOD`` overrides automatic flags; ``MANUAL_BAD`` always wins.

Examples
--------
>>> from pumplib.lake import Lake
>>> lake = Lake("memory://doc-overrides")
>>> with lake.transaction("demo") as tx:
...     _ = tx.write_block("1min", ["P1"], "flow", 0, np.array([[1.0, 2.0, 3.0]]))
>>> ov = add_override(lake, "P1", "1970-01-01T00:01", "1970-01-01T00:02", "bad",
...                   "meter calibration", signal="flow", user="ana")
>>> overrides(lake)[["asset", "signal", "status", "reason"]].values.tolist()
[['P1', 'flow', 'bad', 'meter calibration']]
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError, UnknownNameError, choices_message
from ..lake import Lake
from .flags import Flag

GROUP = "quality_overrides"
STATUSES = ("bad", "good")
COLUMNS = ["id", "cadence", "asset", "signal", "start", "end", "status", "reason", "user",
           "created_at"]


def _lake(lake) -> Lake:
    return lake if isinstance(lake, Lake) else Lake(lake, create=False)


def _utc(t, key: str = "time") -> pd.Timestamp:
    """``t`` as a UTC timestamp (naive: UTC); a value that is no time is one clear error."""
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError, OverflowError) as exc:
        why = str(exc).split(":")[0].strip()
        why = f" ({why})" if why and not why.lower().startswith("unknown") else ""
        raise ArgumentError(f"override: key {key!r}: {t!r} is not a time{why}; expected "
                            "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS], optionally with an offset "
                            "such as +01:00") from None
    if ts is pd.NaT:
        raise ArgumentError(f"override: key {key!r}: {t!r} is not a time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _grid(lake: Lake, asset: str, cadence: str | None):
    """The raw grid an override of ``asset`` applies to.

    With no cadence named, the one grid that holds the asset (any grid for
    ``"*"``): an unknown asset is named with its close matches before any
    cadence is asked for, and only an asset held at several cadences needs one.
    """
    if cadence is not None:
        ds = lake.open_raw(cadence)
        assets = [str(a) for a in ds.asset.values]
        if asset != "*" and asset not in assets:
            raise UnknownNameError(choices_message("asset", asset, assets)
                                   + f" (at cadence {cadence!r})")
        return ds
    grids = {cad: lake.open_raw(cad) for cad in lake.cadences()}
    if not grids:
        raise ArgumentError(f"override: no data yet in the lake at {lake.url!r}: ingest files "
                            "first")
    held = [cad for cad, ds in grids.items()
            if asset == "*" or asset in {str(a) for a in ds.asset.values}]
    if not held:
        everyone = {str(a) for ds in grids.values() for a in ds.asset.values}
        raise UnknownNameError(choices_message("asset", asset, everyone))
    if len(held) > 1:
        raise UnknownNameError(f"override: asset {asset!r} is held at cadences "
                               f"{', '.join(repr(c) for c in held)}; choose one (--cadence)")
    return grids[held[0]]


def add_override(lake: Lake | str | os.PathLike, asset: str, start, end, status: str,
                 reason: str, *, signal: str = "*", cadence: str | None = None,
                 user: str | None = None) -> dict:
    """Mark ``[start, end)`` of an asset's signal (``"*"``: all) bad or good, as one commit.

    Raises
    ------
    SchemaError
        Unknown status, empty reason, or ``end`` not after ``start``.
    ArgumentError
        ``start`` or ``end`` is not a time; the lake holds no data yet.
    UnknownNameError
        Asset, signal or cadence not in the lake (with close matches); no
        cadence named for an asset held at several.
    """
    lake = _lake(lake)
    if status not in STATUSES:
        raise SchemaError("override: key 'status': " + choices_message("status", status,
                                                                       STATUSES))
    if not str(reason or "").strip():
        raise SchemaError("override: key 'reason': a reason is required (why is this period "
                          f"{status}?)")
    t0, t1 = _utc(start, "start"), _utc(end, "end")
    if t1 <= t0:
        raise SchemaError(f"override: key 'end': {t1.isoformat()} is not after start "
                          f"{t0.isoformat()}")
    ds = _grid(lake, asset, cadence)
    cadence = ds.attrs["cadence"]
    assets = [str(a) for a in ds.asset.values]
    sigs = [str(v) for v in ds.data_vars if not str(v).endswith("_sq")]
    if signal != "*" and signal not in sigs:
        raise UnknownNameError(choices_message("signal", signal, sigs))
    row = {"id": f"ovr-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
           "cadence": cadence, "asset": asset, "signal": signal,
           "start": t0.isoformat(), "end": t1.isoformat(), "status": status,
           "reason": str(reason), "user": user or os.environ.get("USER", "unknown"),
           "created_at": dt.datetime.now(dt.UTC).isoformat()}
    bit = int(Flag.MANUAL_BAD if status == "bad" else Flag.MANUAL_GOOD)
    with lake.transaction(f"override {status} {asset}/{signal} {row['start']} → {row['end']}",
                          {"kind": "quality_override", "override": row}) as tx:
        tx.write_table(GROUP, row["id"], pd.DataFrame([row], columns=COLUMNS), {"kind": "override"})
        path = f"quality/{cadence}"
        if path in tx.root:
            g = tx.derived_group("quality", cadence)
            times = g["time"][:]
            lo = int(np.searchsorted(times, int(t0.timestamp())))
            hi = int(np.searchsorted(times, int(t1.timestamp())))
            rows = range(len(assets)) if asset == "*" else [assets.index(asset)]
            for s in (sigs if signal == "*" else [signal]):
                if s not in g or hi <= lo:
                    continue
                arr = g[s]
                for r in rows:
                    arr[r, lo:hi] = arr[r, lo:hi] | np.uint16(bit)
    return {**row, "snapshot": tx.snapshot}


def overrides(lake: Lake | str | os.PathLike, cadence: str | None = None,
              snapshot: str | None = None) -> pd.DataFrame:
    """All manual overrides (optionally of one cadence), oldest first.

    Raises
    ------
    UnknownNameError
        ``cadence`` is not a cadence of the lake's raw data (with close matches).
    """
    lake = _lake(lake)
    if cadence is not None:
        cads = lake.cadences(snapshot)
        if cadence not in cads:
            raise UnknownNameError(choices_message("cadence", cadence, cads))
    tables = lake.tables(GROUP, snapshot=snapshot)
    if not tables:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat(tables.values(), ignore_index=True).sort_values("created_at")
    if cadence is not None:
        frame = frame[frame["cadence"] == cadence]
    return frame.reset_index(drop=True)
