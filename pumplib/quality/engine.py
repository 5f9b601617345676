"""Evaluate quality rules over a raw-lake Dataset, lazily, with Dask.

:func:`evaluate` returns one ``uint16`` flag variable per signal on the same
``(asset, time)`` grid as the raw data, as a lazy Dask-backed Dataset:
nothing is computed until the caller asks. The work is blockwise: the raw
variables are cut into blocks of many assets × a whole chunk span
(:data:`BLOCK_CELLS`), each block gets the context (halo) the window rules
need on both sides (``dask.array.overlap``, NaN beyond the data), and one
task per block (:func:`_fused_block`) runs every rule of every signal on it:
range, running minimum, source quality codes and the cross-signal physics as
numpy arithmetic, and spike, flat-line, rate and gaps in one compiled pass
per row (:mod:`pumplib.quality.kernels`, numba; the numpy kernels of
:mod:`~pumplib.quality.checks` when numba is missing). Time stamps
(quarantine, skew, future), expectations and overrides are applied lazily
after. :func:`evaluate_range` validates only a time range plus that context
and gives the same flags there as a full run.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-01", periods=6, freq="1min")
>>> ds = xr.Dataset({"flow": (("asset", "time"), [[1.0, 2, -5, 3, np.nan, 4]])},
...                 coords={"asset": ["P1"], "time": t}).chunk({"time": 3})
>>> rules = {"version": 1, "signals": {"flow": {"range": {"min": 0}}}}
>>> flags = evaluate(ds, rules)
>>> flags.flow.dtype, flags.flow.values.tolist()
(dtype('uint16'), [[0, 0, 4, 0, 1, 0]])
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .. import signals as _signals
from ..errors import SchemaError, UnknownNameError, choices_message
from . import checks, kernels
from .flags import DTYPE, Flag, explain  # noqa: F401 (doctest)
from .rules import Rules, limit_value, seconds, steps

BAR_TO_M = 10.19716  # metres of water per bar
#: quarantine reasons that cast doubt on the time stamp of the cell that was kept
TIME_REASONS = r"duplicate|out of order|out-of-order|future|skew"
G = 9.80665


# -- inputs ---------------------------------------------------------------------------
def as_rules(rules: Rules | dict | str | os.PathLike | None) -> Rules:
    """Normalise rules input once: a :class:`Rules`, a mapping, a path, or None (default file)."""
    if isinstance(rules, Rules):
        return rules
    if isinstance(rules, dict):
        return Rules.from_dict(rules)
    return Rules.load(rules)


def as_registry(registry):
    if registry is None:
        return None
    from ..assets import AssetRegistry

    if isinstance(registry, AssetRegistry):
        return registry
    return AssetRegistry.load(registry)


def step_seconds(ds: xr.Dataset) -> float:
    """Seconds of one grid step (from the lake attrs, else the time coordinate)."""
    if "step_seconds" in ds.attrs:
        return float(ds.attrs["step_seconds"])
    if ds.sizes.get("time", 0) < 2:
        raise SchemaError("cannot tell the grid step of a Dataset with fewer than 2 times; "
                          "set ds.attrs['step_seconds']")
    return float((ds.time.values[1] - ds.time.values[0]) / np.timedelta64(1, "s"))


def signal_names(ds: xr.Dataset, signals: Sequence[str] | None = None) -> list[str]:
    """Signals of a raw Dataset (its variables except ``*_sq``), checked against ``signals``."""
    have = [str(v) for v in ds.data_vars if not str(v).endswith("_sq")]
    if signals is None:
        return have
    for s in signals:
        if s not in have:
            raise UnknownNameError(choices_message("signal", s, have))
    return list(signals)


# -- parameters per asset ---------------------------------------------------------------------
class _Plan:
    """Rules resolved to per-asset numpy parameter arrays (one entry per asset row)."""

    def __init__(self, ds: xr.Dataset, rules: Rules, registry, sigs: list[str]):
        self.rules, self.registry, self.sigs = rules, registry, sigs
        self.assets = [str(a) for a in ds.asset.values]
        self.step = step_seconds(ds)
        self.resolved = [rules.resolve(a, registry) for a in self.assets]
        self.objs = [registry.assets.get(a) if registry is not None else None
                     for a in self.assets]

    def subset(self, lo: int, hi: int) -> _Plan:
        """The plan of asset rows ``lo:hi`` (one block of the evaluation)."""
        p = copy.copy(self)
        p.assets, p.resolved, p.objs = (self.assets[lo:hi], self.resolved[lo:hi],
                                        self.objs[lo:hi])
        return p

    def rule(self, sig: str, kind: str) -> list[dict | None]:
        return [r["signals"].get(sig, {}).get(kind) for r in self.resolved]

    def limit(self, specs: list[dict | None], key: str) -> np.ndarray:
        return np.array([limit_value(s.get(key), a) if s else math.nan
                         for s, a in zip(specs, self.objs, strict=True)], dtype=float)

    def dur(self, specs, key: str, default=None, mode: str = "steps") -> np.ndarray:
        out = []
        for s in specs:
            v = (s or {}).get(key, default) if s else None
            if v is None:
                out.append(0)
            elif mode == "steps":
                out.append(steps(v, self.step))
            else:
                out.append(seconds(v, self.step))
        return np.array(out)

    def num(self, specs, key: str, default: float) -> np.ndarray:
        return np.array([float(s.get(key, default)) if s else math.nan for s in specs])

    # context (halo) each window rule needs, in steps
    def spike(self, sig):
        specs = self.rule(sig, "spike")
        window = self.dur(specs, "window", 7)
        half = np.where(window > 0, window // 2, 0).astype(np.int64)
        half = np.where([s is not None for s in specs], np.maximum(half, 1), 0)
        mp = np.array([int(s.get("min_periods", h + 1)) if s else 0
                       for s, h in zip(specs, half, strict=True)])
        width = np.array([int(s.get("max_width", 2)) if s else 0 for s in specs])
        return dict(half=half, n_sigma=self.num(specs, "n_sigma", 5.0),
                    min_dev=self.limit(specs, "min_deviation"), min_periods=mp,
                    max_width=width)

    def flatline(self, sig):
        specs = self.rule(sig, "flatline")
        secs = self.dur(specs, "duration", None, mode="seconds")
        # held longer than the duration, and a repeat takes at least two samples
        n_min = np.array([max(int(math.floor(s / self.step)) + 1, 2) if spec else 0
                          for s, spec in zip(secs, specs, strict=True)])
        when = [(s or {}).get("when", "always") for s in specs]
        return dict(n_min=n_min, tol=np.nan_to_num(self.num(specs, "tolerance", 0.0))), when

    def rate(self, sig):
        """Limit on ``|x[t] - x[t-lag]|`` and the lag in steps, per row.

        The change is measured over ``per`` (so 1 Hz noise does not add up to a
        fault); a ``per`` shorter than one step scales the limit up to a step.
        """
        specs = self.rule(sig, "rate")
        per = self.dur(specs, "per", "1min", mode="seconds")
        lim = self.limit(specs, "max_change")
        with np.errstate(invalid="ignore", divide="ignore"):
            steps = per / self.step
            short = np.isfinite(steps) & (steps > 0) & (steps < 1)
            lim = np.where(short, lim / np.where(short, steps, 1.0), lim)
        lag = np.where(np.isfinite(steps) & (steps >= 1), np.rint(steps), 1).astype(np.int64)
        return lim, lag

    def gap(self, sig):
        specs = self.rule(sig, "gap")
        step_kind = _signals.get(sig).interpolation == "step" if sig in _signals.signals() \
            else False
        max_gap = np.where([s is not None for s in specs], self.dur(specs, "max_gap", 0), -1)
        hold = self.dur(specs, "max_hold", None) if step_kind else np.zeros(len(specs), int)
        return dict(max_gap=max_gap.astype(np.int64), max_hold=hold.astype(np.int64))

    def halo(self, sig: str) -> int:
        spk = self.spike(sig)
        sp = spk["half"] + spk["max_width"] + 1
        fl = self.flatline(sig)[0]["n_min"]
        gp = self.gap(sig)
        lag = self.rate(sig)[1]
        return int(max(sp.max(initial=0), fl.max(initial=0) + 1, lag.max(initial=0) + 1,
                       gp["max_gap"].max(initial=0) + 1, gp["max_hold"].max(initial=0), 1))

    def context(self) -> int:
        """Steps of context the rules need on each side of a validated range."""
        return max((self.halo(s) for s in self.sigs), default=1) + 2


# -- evaluation -------------------------------------------------------------------------
def _arr(ds: xr.Dataset, name: str) -> xr.DataArray | None:
    return ds[name] if name in ds.data_vars else None


def _per_asset(values, ds) -> xr.DataArray:
    return xr.DataArray(np.asarray(values), dims=("asset",), coords={"asset": ds.asset})


def _wrap(data, like: xr.DataArray) -> xr.DataArray:
    return xr.DataArray(data, dims=like.dims, coords=like.coords)


#: cells per block of the evaluation: many assets × a whole chunk span of time per task
BLOCK_CELLS = 1_000_000


def block_rows(n_assets: int, span: int, block_cells: int = BLOCK_CELLS) -> int:
    """Assets per block: at most ``block_cells // span``, split evenly over the assets.

    Blocks of equal size keep Dask's threads equally busy (20 assets in
    blocks of at most 11 give 10 + 10, not 11 + 9).
    """
    n = max(n_assets, 1)
    most = max(1, min(n, block_cells // max(span, 1)))
    return -(-n // -(-n // most))


def _dask(x: xr.DataArray):
    d = x.data
    if isinstance(d, da.Array):
        return d
    n = max(x.shape[1], 1)
    return da.from_array(d, chunks=(max(1, min(x.shape[0], BLOCK_CELLS // n)), n))


def _big_blocks(ds: xr.Dataset, sigs: Sequence[str], block_cells: int = BLOCK_CELLS
                ) -> xr.Dataset:
    """The Dataset with many assets per block (the time chunks kept).

    The lake stores one asset per chunk; the rules are vectorised over
    assets, so evaluating blocks of many assets × a whole chunk span cuts
    the number of Dask tasks (and their overhead) by the number of assets.
    """
    names = [v for v in ds.data_vars if isinstance(ds[v].data, da.Array)]
    if not names or "asset" not in ds.dims:
        return ds
    tmax = max(max(ds[v].chunksizes.get("time", (1,))) for v in names)
    rows = block_rows(ds.sizes["asset"], tmax, block_cells)
    if all(max(ds[v].chunksizes.get("asset", (1,))) >= rows for v in names):
        return ds
    return ds.chunk({"asset": rows})


def _running(ds: xr.Dataset, plan: _Plan) -> xr.DataArray | None:
    """1 where the pump runs, 0 where it is off, NaN where unknown (run state, else power, flow)."""
    specs = [r["running"] for r in plan.resolved]
    rs_min = np.array([float(s.get("run_state_min", 0.5)) for s in specs])
    p_min = plan.limit(specs, "power_min")
    f_min = plan.limit(specs, "flow_min")
    out = None
    for name, thr in (("flow", f_min), ("power", p_min), ("run_state", rs_min)):
        x = _arr(ds, name)
        if x is None:
            continue
        t = _per_asset(thr, ds)
        est = xr.where(x.notnull() & t.notnull(), (x >= t).astype(float), np.nan)
        out = est if out is None else xr.where(est.notnull(), est, out)
    return out


def _others_move(ds: xr.Dataset, sig: str, sigs: list[str]) -> xr.DataArray:
    moved = None
    for other in sigs:
        if other == sig or (other in _signals.signals()
                            and _signals.get(other).kind not in ("continuous",)):
            continue
        x = ds[other]
        m = (np.abs(x - x.shift(time=1)) > 0)
        moved = m if moved is None else (moved | m)
    if moved is None:
        return xr.zeros_like(ds[sig], dtype=float)
    return moved.astype(float)


WINDOW_BITS = {"spike": Flag.SPIKE, "flatline": Flag.FLATLINE, "rate": Flag.RATE,
               "missing": Flag.MISSING, "gap": Flag.GAP}
#: the window rules run as numba kernels (False: the numpy kernels of checks.py)
_USE_NUMBA = kernels.available()


def _or_into(bits: np.ndarray, mask, flag) -> None:
    """``bits |= flag`` where ``mask`` (a boolean DataArray on the block), in place."""
    m = np.asarray(mask.transpose("asset", "time").values if isinstance(mask, xr.DataArray)
                   else mask)
    np.bitwise_or(bits, DTYPE(flag), out=bits, where=np.broadcast_to(m, bits.shape))


def _signal_flags(ds: xr.Dataset, sig: str, plan: _Plan, running, sigs) -> np.ndarray:
    """``uint16`` flags ``(asset, time)`` of one signal on one (numpy) block.

    Plain numpy on the block's arrays (the same elementwise operations as
    xarray would do, without its per-operation overhead).
    """
    x = ds[sig].transpose("asset", "time")
    xv = np.asarray(x.values, dtype=np.float64)
    bits = np.zeros(xv.shape, dtype=DTYPE)
    rv = None if running is None else np.asarray(running.transpose("asset", "time").values)

    # range
    rng = plan.rule(sig, "range")
    lo, hi = plan.limit(rng, "min")[:, None], plan.limit(rng, "max")[:, None]
    _or_into(bits, (xv < lo) | (xv > hi), Flag.RANGE)
    run_min = plan.limit(rng, "running_min")
    if np.isfinite(run_min).any() and rv is not None:
        _or_into(bits, (rv == 1) & (xv < run_min[:, None]), Flag.RANGE)
    # window rules (spike, flat-line, rate, missing/gaps): one overlapped kernel
    sp = plan.spike(sig)
    fl, when = plan.flatline(sig)
    lim, lag = plan.rate(sig)
    gp = plan.gap(sig)
    cv = None
    if fl["n_min"].max(initial=0) > 0 and {"running", "others_move"} & set(when):
        cv = np.ones(xv.shape)
    if fl["n_min"].max(initial=0) > 0 and "running" in when:
        run = np.zeros(xv.shape) if rv is None else np.where(np.isnan(rv), 0.0, rv)
        cv = np.where(np.array([w == "running" for w in when])[:, None], run, cv)
    if fl["n_min"].max(initial=0) > 0 and "others_move" in when:
        om = np.asarray(_others_move(ds, sig, sigs).transpose("asset", "time").values)
        cv = np.where(np.array([w == "others_move" for w in when])[:, None], om, cv)
    # window rules (spike, flat-line, rate, missing/gaps) on the whole block: it
    # carries the context they need (see _fused_block)
    wbits = {k: int(v) for k, v in WINDOW_BITS.items()}
    if _USE_NUMBA:
        win = kernels.window_flags(xv, cv, kernels.params(len(plan.assets), sp, fl, lim, gp,
                                                          rate_lag=lag), wbits)
    else:
        win = checks.window_flags_block(xv, cv, spike=sp, flatline=fl, rate=lim, gap=gp,
                                        bits=wbits, rate_lag=lag)
    bits |= win
    # source quality codes
    sq = _arr(ds, f"{sig}_sq")
    sqr = plan.rule(sig, "source_quality")
    if sq is not None and any(sqr):
        m = np.array([int(s.get("good_mask", 192)) if s else 0 for s in sqr],
                     dtype=np.int16)[:, None]
        q = np.asarray(sq.transpose("asset", "time").values)
        _or_into(bits, (q >= 0) & (m > 0) & ((q & m) != m), Flag.SOURCE_BAD)
    return bits


def _fused_block(*blocks, names: list[str], plan: _Plan, sigs: list[str],
                 all_sigs: list[str], halo: int, block_info=None) -> np.ndarray:
    """Every rule but the time-stamp, override and expectation ones, on one block.

    ``blocks`` are the overlapped numpy blocks (``halo`` steps of context on
    each side, NaN beyond the data; ``-1`` for source quality codes) of the
    variables ``names``. The rules run eagerly with plain xarray/numpy and
    the numba kernels on the block, so one Dask task does the work of all
    the rules of all the signals for many assets and a whole chunk span.
    Returns ``uint16`` flags ``(signal, asset, time)`` without the context.
    """
    r0, r1 = block_info[0]["array-location"][0] if block_info else (0, blocks[0].shape[0])
    sub = plan.subset(r0, r1)
    ds = xr.Dataset({n: (("asset", "time"), b) for n, b in zip(names, blocks, strict=True)},
                    coords={"asset": np.array(sub.assets, dtype=object)})
    running = _running(ds, sub)
    phys = _physics(ds, sub, running)
    n = blocks[0].shape[1]
    out = np.empty((len(sigs), r1 - r0, n - 2 * halo), dtype=DTYPE)
    for k, sig in enumerate(sigs):
        bits = _signal_flags(ds, sig, sub, running, all_sigs)
        for mask, flag in phys.get(sig, []):
            _or_into(bits, mask, flag)
        out[k] = bits[:, halo:n - halo]
    return out


def _all_flags(ds: xr.Dataset, plan: _Plan, sigs: list[str], all_sigs: list[str]):
    """Lazy ``uint16`` dask array ``(signal, asset, time)`` of :func:`_fused_block`."""
    names = [v for v in (*all_sigs, *(f"{s}_sq" for s in all_sigs)) if v in ds.data_vars]
    halo = max((plan.halo(s) for s in sigs), default=1)
    arrays = [_dask(ds[v].transpose("asset", "time")) for v in names]
    n_time = ds.sizes["time"]
    rows = arrays[0].chunks[0]
    if halo >= n_time:  # the context spans the whole series: one block holds it all
        arrays = [a.rechunk({0: rows, 1: -1}) for a in arrays]
        halo = 0
    else:
        from dask.array.overlap import ensure_minimum_chunksize

        tch = ensure_minimum_chunksize(halo, arrays[0].chunks[1])
        arrays = [a if a.chunks == (rows, tch) else a.rechunk((rows, tch)) for a in arrays]
    tchunks = arrays[0].chunks[1]
    ov = arrays if halo == 0 else [da.overlap.overlap(a, depth={0: 0, 1: halo},
                             boundary={0: "none", 1: -1 if np.issubdtype(a.dtype, np.integer)
                                       else np.nan})
          for a in arrays]
    return da.map_blocks(_fused_block, *ov, names=names, plan=plan, sigs=sigs,
                         all_sigs=all_sigs, halo=halo, dtype=DTYPE, new_axis=0,
                         chunks=((len(sigs),), rows, tchunks),
                         meta=np.empty((0, 0, 0), dtype=DTYPE))


def _physics(ds: xr.Dataset, plan: _Plan, running) -> dict[str, list[tuple]]:
    """Cross-signal checks: ``{signal: [(mask, flag), ...]}``."""
    out: dict[str, list[tuple]] = {}
    specs = {c: [r["physics"].get(c) for r in plan.resolved]
             for c in ("flow_off", "dry_run", "efficiency", "head")}
    flow, power = _arr(ds, "flow"), _arr(ds, "power")
    pd_, ps = _arr(ds, "discharge_pressure"), _arr(ds, "suction_pressure")
    speed = _arr(ds, "speed")

    def put(sig, mask, flag):
        if sig in ds.data_vars:
            out.setdefault(sig, []).append((mask, flag))

    if flow is not None and running is not None and any(specs["flow_off"]):
        fmax = _per_asset(plan.limit(specs["flow_off"], "flow_max"), ds)
        put("flow", (running == 0) & (flow > fmax), Flag.PHYSICS_FLOW_OFF)
    if flow is not None and power is not None and any(specs["dry_run"]):
        pmin = _per_asset(plan.limit(specs["dry_run"], "power_min"), ds)
        fmax = _per_asset(plan.limit(specs["dry_run"], "flow_max"), ds)
        m = (power > pmin) & (flow < fmax)
        put("power", m, Flag.PHYSICS_DRY_RUN)
        put("flow", m, Flag.PHYSICS_DRY_RUN)
    if flow is None or pd_ is None:
        return out
    head = (pd_ - (ps.fillna(0.0) if ps is not None else 0.0)) * BAR_TO_M
    objs = plan.objs

    def curve(key, section="curve", default=math.nan):
        return _per_asset([float((getattr(a, section) or {}).get(key, default)) if a is not None
                           else math.nan for a in objs], ds)

    rated_speed = curve("speed", "rated")
    # speed ratio for the affinity laws: rated speed where no speed is measured,
    # NaN where the shaft stands still (no curve point to compare with)
    s = 1.0 if speed is None else xr.where(
        speed.isnull(), 1.0, (speed / rated_speed).where(speed > 0))
    run = running.fillna(0) if running is not None else xr.zeros_like(flow)
    if power is not None and any(specs["efficiency"]):
        sp = specs["efficiency"]
        emax = _per_asset(plan.num(sp, "max", 1.0), ds)
        tol = _per_asset(plan.num(sp, "tolerance", math.nan), ds)
        qmin = _per_asset(plan.limit(sp, "min_flow"), ds).fillna(0.0)
        p = power.where(power > 0)
        eta = G * flow * head / 3600.0 / p
        qb = curve("bep_flow") * s
        eta_pump = curve("bep_efficiency") * (1.0 - ((flow - qb) / qb) ** 2)
        eta_exp = eta_pump.clip(min=0.0) * curve("efficiency", "motor", 1.0)
        off_curve = np.abs(eta - eta_exp) > tol
        m = (run > 0) & (flow >= qmin) & ((eta > emax) | off_curve)
        for sig in ("flow", "power", "discharge_pressure"):
            put(sig, m, Flag.PHYSICS_EFFICIENCY)
    if any(specs["head"]):
        sp = specs["head"]
        tol = _per_asset(plan.limit(sp, "tolerance"), ds)
        qmin = _per_asset(plan.limit(sp, "min_flow"), ds).fillna(0.0)
        h0, hr, qr = curve("shutoff_head"), curve("head", "rated"), curve("flow", "rated")
        k = (h0 - hr) / qr**2
        expected = h0 * s**2 - k * flow**2
        m = (run > 0) & (flow >= qmin) & (np.abs(head - expected) > tol)
        for sig in ("flow", "discharge_pressure"):
            put(sig, m, Flag.PHYSICS_HEAD)
    return out


def _cells_mask(like: xr.DataArray, ranges: list[tuple[int, int, int]]) -> xr.DataArray:
    """Boolean array like ``like`` that is true on ``(row, lo, hi)`` index ranges."""
    d = _dask(like)
    rr = np.array(list(ranges), dtype=np.int64).reshape(-1, 3)

    def block(b, block_info=None):
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        out = np.zeros(b.shape, dtype=bool)
        hit = rr[(rr[:, 0] >= r0) & (rr[:, 0] < r1) & (rr[:, 1] < c1) & (rr[:, 2] > c0)]
        for row, lo, hi in hit.tolist():
            out[row - r0, max(lo, c0) - c0:min(hi, c1) - c0] = True
        return out

    return _wrap(da.map_blocks(block, d, dtype=bool), like)


def _naive_utc(t) -> np.datetime64:
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_datetime64()


def _time_index(ds: xr.Dataset, t) -> int:
    return int(np.searchsorted(ds.time.values, _naive_utc(t)))


def _quarantine_ranges(ds, q: pd.DataFrame, sig: str, plan: _Plan) -> list[tuple]:
    if q is None or len(q) == 0:
        return []
    use = [bool((r or {}).get("quarantine", False)) for r in plan.rule(sig, "timestamp")]
    rows = {a: i for i, a in enumerate(plan.assets)}
    about_time = q["reason"].astype(str).str.contains(TIME_REASONS, case=False, regex=True)
    sel = q[(q["signal"] == sig) & q["asset"].isin(rows) & q["timestamp"].notna() & about_time]
    if not len(sel):
        return []
    # vectorised: ingest may quarantine many duplicate or out-of-order rows
    step = np.timedelta64(int(plan.step * 1e9), "ns")
    row = sel["asset"].map(rows).to_numpy(dtype=np.int64)
    try:  # ingest writes ISO 8601 strings; other callers may mix types and zones
        tt = pd.to_datetime(sel["timestamp"], utc=True, format="ISO8601") \
            .dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    except (ValueError, TypeError):
        tt = np.array([_naive_utc(t) for t in sel["timestamp"]], dtype="datetime64[ns]")
    times = ds.time.values.astype("datetime64[ns]")
    n = len(times)
    i = np.searchsorted(times, tt)
    near = np.abs(times[np.minimum(i, n - 1)] - tt) < step if n else np.zeros(len(i), bool)
    ok = np.asarray(use, dtype=bool)[row] & (i < n) & near
    cells = sorted(set(zip(row[ok].tolist(), i[ok].tolist(), strict=True)))
    return [(r, j, j + 1) for r, j in cells]


def _skew_ranges(ds, skew: pd.DataFrame | None, sig: str, plan: _Plan) -> list[tuple]:
    if skew is None or len(skew) == 0:
        return []
    use = [bool((r or {}).get("skew", False)) for r in plan.rule(sig, "timestamp")]
    rows = {a: i for i, a in enumerate(plan.assets)}
    out = []
    for r in skew[skew["signal"] == sig].itertuples(index=False):
        row = rows.get(str(r.asset))
        if row is None or not use[row]:
            continue
        lo = _time_index(ds, r.start)
        hi = int(np.searchsorted(ds.time.values, _naive_utc(r.end), side="right"))
        if hi > lo:
            out.append((row, lo, hi))
    return out


def _override_ranges(ds, ov: pd.DataFrame, sig: str, plan: _Plan, status: str) -> list[tuple]:
    if ov is None or len(ov) == 0:
        return []
    rows = {a: i for i, a in enumerate(plan.assets)}
    out = []
    for r in ov.itertuples(index=False):
        if r.status != status or (r.signal not in ("*", sig)) or (
                r.asset != "*" and r.asset not in rows):
            continue
        lo, hi = _time_index(ds, r.start), _time_index(ds, r.end)
        targets = range(len(plan.assets)) if r.asset == "*" else [rows[r.asset]]
        out.extend((row, lo, hi) for row in targets if hi > lo)
    return out


def expected_mask(ds: xr.Dataset, registry=None, sigs: Sequence[str] | None = None) -> xr.Dataset:
    """Where a value is expected, per signal (lazy booleans on the grid).

    A signal the registry declares for an asset is expected over the lake's
    data span (``data_start``–``data_end`` attrs, else the whole grid); any
    other (asset, signal) pair is expected from its first to its last value.
    Outside, a missing value is not a fault: those cells carry only NOT_EXPECTED.
    Finding the span of an undeclared pair reads its whole history (a cheap
    reduction, but not bounded by a validated range): declare signals in the
    registry to keep incremental runs local.
    """
    sigs = signal_names(ds, sigs)
    chunks = next((ds[s].chunksizes["time"] for s in sigs if ds[s].chunks is not None), None)
    steps_ = (da.arange(ds.sizes["time"], chunks=(chunks,)) if chunks is not None
              else np.arange(ds.sizes["time"]))
    idx = xr.DataArray(steps_, dims=("time",), coords={"time": ds.time})
    secs = ds.time.values.astype("datetime64[s]").astype(np.int64)
    lo = np.searchsorted(secs, ds.attrs["data_start"]) if "data_start" in ds.attrs else 0
    hi = (np.searchsorted(secs, ds.attrs["data_end"], side="right") - 1
          if "data_end" in ds.attrs else ds.sizes["time"] - 1)
    lake_span = (idx >= lo) & (idx <= hi)
    if chunks is None:
        return _expected_in_memory(ds, registry, sigs, np.asarray(lake_span.values))
    out = {}
    n = ds.sizes["time"]
    for s in sigs:
        declared = np.array([registry is not None and a in registry.assets
                             and s in registry.assets[a].signals
                             for a in (str(v) for v in ds.asset.values)], dtype=bool)
        span = None
        if declared.all():
            span = lake_span.expand_dims(asset=ds.asset)
            ach = ds[s].chunksizes.get("asset") if ds[s].chunks is not None else None
            if ach is not None and isinstance(lake_span.data, da.Array):
                # blocks on the signal's asset chunks: no rechunk where it meets the flags
                data = da.broadcast_to(lake_span.data[None, :], span.shape,
                                       chunks=(tuple(ach), lake_span.data.chunks[0]))
                span = span.copy(data=data)
        if span is None:
            # the own span of undeclared rows only: a reduction over their history
            rows = np.flatnonzero(~declared)
            valid = ds[s].isel(asset=rows).notnull()
            first = xr.where(valid, idx, n).min("time")   # n when the row has no value
            last = xr.where(valid, idx, -1).max("time")   # -1 when the row has no value
            own = ((idx >= first) & (idx <= last)).reindex(asset=ds.asset, fill_value=False)
            span = xr.where(_per_asset(declared, ds), lake_span, own)
        out[s] = span.transpose("asset", "time")
    return xr.Dataset(out)


def _expected_in_memory(ds: xr.Dataset, registry, sigs: list[str],
                        lake_span: np.ndarray) -> xr.Dataset:
    """:func:`expected_mask` of a Dataset held in memory, in numpy (the live path
    validates a short window every minute; xarray's per-operation cost dominated)."""
    n = ds.sizes["time"]
    idx = np.arange(n)
    out = {}
    for s in sigs:
        declared = np.array([registry is not None and a in registry.assets
                             and s in registry.assets[a].signals
                             for a in (str(v) for v in ds.asset.values)], dtype=bool)
        span = np.broadcast_to(lake_span, (len(declared), n))
        if not declared.all():
            valid = np.asarray(ds[s].transpose("asset", "time").notnull().values)
            seen = valid.any(axis=1)
            first = np.where(seen, valid.argmax(axis=1), n)
            last = np.where(seen, n - 1 - valid[:, ::-1].argmax(axis=1), -1)
            own = (idx >= first[:, None]) & (idx <= last[:, None])
            span = np.where(declared[:, None], span, own)
        out[s] = xr.DataArray(np.array(span, dtype=bool), dims=("asset", "time"),
                              coords={"asset": ds.asset, "time": ds.time})
    return xr.Dataset(out)


def evaluate(ds: xr.Dataset, rules: Rules | dict | str | os.PathLike | None = None,
             registry=None, *, signals: Sequence[str] | None = None,
             quarantine: pd.DataFrame | None = None, overrides: pd.DataFrame | None = None,
             future_after=None, expected: xr.Dataset | None = None,
             skew: pd.DataFrame | None = None) -> xr.Dataset:
    """Quality flags of every sample of a raw Dataset, lazily.

    Parameters
    ----------
    ds : xarray.Dataset
        Raw data, dims ``(asset, time)``, one float variable per signal and
        optional ``<signal>_sq`` source quality codes (as from
        :meth:`pumplib.lake.Lake.open_raw`).
    rules : Rules, mapping or path, optional
        Default: the ``quality.rules`` setting (``catalogs/quality_rules.yaml``).
        An invalid file raises :class:`~pumplib.errors.SchemaError` before
        anything is computed.
    registry : AssetRegistry or path, optional
        Rated values, curves and declared signals of the assets.
    signals : list of str, optional
        Only these signals (default all).
    quarantine : DataFrame, optional
        Rows of the ingest quarantine and notes (:func:`~pumplib.quality.time_rows`:
        duplicate, conflicting duplicate and out-of-order rows, columns
        ``asset, signal, timestamp, reason``); the cells they name get
        TIMESTAMP where the ``timestamp`` rule has ``quarantine: true``.
    overrides : DataFrame, optional
        Manual overrides (see :mod:`pumplib.quality.overrides`).
    future_after : time-like, optional
        Values stamped later than this are from the future (TIMESTAMP);
        :func:`~pumplib.quality.validate` uses the last ingest commit's time
        plus ``ingest.future_tolerance``.
    expected : Dataset, optional
        Precomputed :func:`expected_mask` (used by :func:`evaluate_range`).
    skew : DataFrame, optional
        Windows of clock skew between the signals of a pump (columns
        ``asset, signal, start, end``, as from
        :func:`pumplib.quality.skew.clock_skew`); their cells get TIMESTAMP
        where the ``timestamp`` rule has ``skew: true``.

    Returns
    -------
    xarray.Dataset
        One ``uint16`` variable per signal, same dims and coords as ``ds``,
        backed by Dask (nothing computed yet). See :class:`~pumplib.quality.Flag`.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-01", periods=5, freq="1min")
    >>> ds = xr.Dataset({"power": (("asset", "time"), [[1.0, 1, 90, 1, 1]])},
    ...                 coords={"asset": ["P1"], "time": t})
    >>> f = evaluate(ds, {"version": 1, "signals": {"power": {
    ...     "spike": {"window": 5, "n_sigma": 3, "min_deviation": 1}}}})
    >>> [explain(v) for v in f.power.values[0][1:3]]  # doctest: +NORMALIZE_WHITESPACE
    ['good: checked, no problem found', 'SPIKE: robust outlier against the local window']
    """
    registry = as_registry(registry)      # first: it may declare signals the rules name
    rules = as_rules(rules)
    sigs = signal_names(ds, signals)
    all_sigs = signal_names(ds)
    plan = _Plan(ds, rules, registry, sigs)
    chunks = {s: ds[s].chunks for s in sigs if isinstance(ds[s].data, da.Array)}
    ds = _big_blocks(ds, all_sigs)
    if expected is None:
        expected = expected_mask(ds, registry, sigs)
    stack = _all_flags(ds, plan, sigs, all_sigs)
    out = {}
    for k, sig in enumerate(sigs):
        bits = xr.DataArray(stack[k], dims=("asset", "time"),
                            coords={"asset": ds.asset, "time": ds.time})
        if future_after is not None:
            late = ds.time > _naive_utc(future_after)
            bits = bits | xr.where(late & ds[sig].notnull(), np.uint16(Flag.TIMESTAMP),
                                   np.uint16(0)).astype(DTYPE)
        ts = _quarantine_ranges(ds, quarantine, sig, plan) + _skew_ranges(ds, skew, sig, plan)
        if ts:
            bits = bits | xr.where(_cells_mask(bits, ts), np.uint16(Flag.TIMESTAMP),
                                   np.uint16(0)).astype(DTYPE)
        bits = xr.where(expected[sig], bits, np.uint16(Flag.NOT_EXPECTED)).astype(DTYPE)
        for status, flag in (("bad", Flag.MANUAL_BAD), ("good", Flag.MANUAL_GOOD)):
            rr = _override_ranges(ds, overrides, sig, plan, status)
            if rr:
                bits = bits | xr.where(_cells_mask(bits, rr), np.uint16(flag),
                                       np.uint16(0)).astype(DTYPE)
        bits = bits.transpose("asset", "time")
        if sig in chunks:  # the caller's chunks
            bits = bits.chunk(dict(zip(ds[sig].dims, chunks[sig], strict=True)))
        bits.attrs = _flag_attrs(sig)
        out[sig] = bits.drop_vars([c for c in bits.coords if c not in ("asset", "time")])
    res = xr.Dataset(out, coords={"asset": ds.asset, "time": ds.time})
    res.attrs.update({"rules_source": rules.source, "rules_sha256": rules.sha256,
                      "step_seconds": plan.step, "context_steps": plan.context()})
    for k in ("cadence", "snapshot", "store"):
        if k in ds.attrs:
            res.attrs[f"raw_{k}" if k != "cadence" else k] = ds.attrs[k]
    return res


def _flag_attrs(sig: str) -> dict[str, Any]:
    return {"long_name": f"Quality flags of {sig}",
            "flag_masks": [int(f) for f in Flag],
            "flag_meanings": " ".join(f.name.lower() for f in Flag),
            "comment": "bitmask; see pumplib.quality.flags.explain()"}


def context_steps(ds: xr.Dataset, rules=None, registry=None,
                  signals: Sequence[str] | None = None) -> int:
    """Steps of context on each side that the rules need around a validated range."""
    registry = as_registry(registry)      # first: it may declare signals the rules name
    return _Plan(ds, as_rules(rules), registry, signal_names(ds, signals)).context()


def evaluate_range(ds: xr.Dataset, start, end, rules=None, registry=None, *,
                   signals: Sequence[str] | None = None, **kwargs) -> xr.Dataset:
    """Flags of ``[start, end]`` only, reading just that range plus the rules' context.

    Gives the same flags on ``[start, end]`` as :func:`evaluate` on the whole
    Dataset (tested), so newly ingested data can be validated alone.

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> t = pd.date_range("2026-01-01", periods=100, freq="1min")
    >>> ds = xr.Dataset({"flow": (("asset", "time"), [np.arange(100.0)])},
    ...                 coords={"asset": ["P1"], "time": t})
    >>> part = evaluate_range(ds, t[90], t[99], {"version": 1})
    >>> part.sizes["time"]
    10
    """
    registry = as_registry(registry)      # first: it may declare signals the rules name
    rules = as_rules(rules)
    sigs = signal_names(ds, signals)
    ctx = _Plan(ds, rules, registry, sigs).context()
    i0, i1 = _time_index(ds, start), _time_index(ds, end)
    if i1 < ds.sizes["time"] and ds.time.values[i1] == _naive_utc(end):
        i1 += 1  # end is inclusive
    lo, hi = max(i0 - ctx, 0), min(i1 + ctx, ds.sizes["time"])
    expected = kwargs.pop("expected", None)
    if expected is None:
        expected = expected_mask(ds, registry, sigs)
    sub = ds.isel(time=slice(lo, hi))
    flags = evaluate(sub, rules, registry, signals=sigs,
                     expected=expected.isel(time=slice(lo, hi)), **kwargs)
    out = flags.isel(time=slice(i0 - lo, i1 - lo))
    out.attrs.update(flags.attrs)
    return out
