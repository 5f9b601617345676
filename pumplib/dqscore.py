"""Data-quality scores: 0–100 per asset, signal and day, with the reasons.

Built on the stored quality flags (:func:`pumplib.quality.open_quality`) and
the daily counts of :func:`pumplib.quality.scores`. For each
``(asset, signal, day)`` over the samples where a value is expected, the model
takes two statistics per flag ``k``: its *share* of expected samples and its
number of *episodes* (runs of consecutive flagged samples, so one stuck hour
and sixty scattered spikes are told apart), and adds up a penalty::

    penalty_k = share_weight[k] · share_k + episode_weight[k] · log1p(episodes_k)
    score     = 100 · exp(−Σ_k penalty_k)

A day with no flags scores 100; a day with nothing present scores 0. The
reasons name the flags with the largest penalties, with their episodes,
share and the points they cost. Weights are arguments (defaults in
:data:`SHARE_WEIGHTS` and :data:`EPISODE_WEIGHTS`); they were set so that the
score ranks days like the simulator's injected fault load (checked by
``tests/test_dqscore.py`` with a Spearman rank correlation).

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2026-01-01", periods=6, freq="4h")
>>> f = np.array([[0, 8, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], "uint16")   # one spike
>>> fl = xr.Dataset({"flow": (("asset", "time"), f)}, coords={"asset": ["P1", "P2"], "time": t})
>>> s = score_flags(fl, timezone="UTC")
>>> s[["score", "reasons"]].reset_index(drop=True).to_dict("records")
[{'score': 55.4, 'reasons': 'SPIKE: 1 episode, 16.7% of samples (-44.6)'}, {'score': 100.0, 'reasons': ''}]
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ArgumentError, UnknownNameError, choices_message

#: penalty per unit share of expected samples carrying the flag
SHARE_WEIGHTS: dict[str, float] = {
    "MISSING": 2.0, "GAP": 2.0, "RANGE": 4.0, "SPIKE": 2.5, "FLATLINE": 2.0, "RATE": 3.0,
    "TIMESTAMP": 3.0, "PHYSICS_FLOW_OFF": 2.0, "PHYSICS_DRY_RUN": 2.0,
    "PHYSICS_EFFICIENCY": 1.5, "PHYSICS_HEAD": 1.5, "SOURCE_BAD": 2.0, "MANUAL_BAD": 4.0,
}
#: penalty per log(1 + episodes) of the flag in the day
EPISODE_WEIGHTS: dict[str, float] = {
    "MISSING": 0.08, "GAP": 0.25, "RANGE": 0.3, "SPIKE": 0.25, "FLATLINE": 0.3, "RATE": 0.2,
    "TIMESTAMP": 0.25, "PHYSICS_FLOW_OFF": 0.15, "PHYSICS_DRY_RUN": 0.2,
    "PHYSICS_EFFICIENCY": 0.1, "PHYSICS_HEAD": 0.1, "SOURCE_BAD": 0.15, "MANUAL_BAD": 0.3,
}


def _weights(given: Mapping | None, default: dict[str, float], kind: str) -> dict[str, float]:
    out = dict(default)
    for k, v in (given or {}).items():
        if k not in default:
            raise UnknownNameError(choices_message(f"{kind} weight flag", k, default))
        if not np.isfinite(v) or v < 0:
            raise ArgumentError(f"{kind} weight for {k!r} must be a number ≥ 0, got {v!r}")
        out[k] = float(v)
    return out


def score_flags(flags: xr.Dataset, *, timezone: str | None = None,
                share_weights: Mapping[str, float] | None = None,
                episode_weights: Mapping[str, float] | None = None,
                top: int = 3) -> pd.DataFrame:
    """Scores of a flag Dataset (loads it: select a period of a large lake first).

    Parameters
    ----------
    flags : xarray.Dataset
        ``uint16`` flags per signal, dims ``(asset, time)``.
    timezone : str, optional
        Zone of the days (default ``utility.timezone``).
    share_weights, episode_weights : mapping, optional
        Override some of :data:`SHARE_WEIGHTS` / :data:`EPISODE_WEIGHTS`.
    top : int
        Flags named in ``reasons``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``(asset, signal, day)``: ``score`` (0–100, one decimal),
        ``reasons``, ``expected``, ``completeness``, ``quality_score`` (the
        plain score of :func:`pumplib.quality.scores`), and per flag
        ``share_<FLAG>``, ``episodes_<FLAG>``.
    """
    from . import config
    from .quality.flags import Flag
    from .quality.scores import REASON_FLAGS, _day_labels, scores

    sw = _weights(share_weights, SHARE_WEIGHTS, "share")
    ew = _weights(episode_weights, EPISODE_WEIGHTS, "episode")
    tz = timezone or config.get("utility.timezone")
    flags = flags.load()   # one read of the period's flags (uint16) for both passes
    base = scores(flags, timezone=tz, top=top)
    cols = ["asset", "signal", "day"]
    if base.empty:
        return pd.DataFrame(columns=cols + ["score", "reasons"]).set_index(cols)
    days = _day_labels(flags.time.values, tz)
    names = [f.name for f in REASON_FLAGS if f.name in sw]
    # episodes: starts of runs of a flag, a run going on past midnight counting for
    # each day it touches; times are sorted, so days are contiguous blocks
    bounds = np.flatnonzero(np.r_[True, days[1:] != days[:-1]]) if len(days) else \
        np.array([], dtype=np.int64)
    assets = [str(a) for a in flags.asset.values]
    skip = int(Flag.NOT_EXPECTED) | int(Flag.UNCHECKED)
    frames = []
    for s in flags.data_vars:
        f = np.asarray(flags[s].transpose("asset", "time").values)
        exp = (f & skip) == 0
        counts = {}
        for name in names:
            on = exp & ((f & int(Flag[name])) != 0)
            new = on.copy()
            new[:, 1:] &= ~on[:, :-1]
            new[:, bounds] = on[:, bounds]
            counts[f"episodes_{name}"] = np.add.reduceat(new.astype(np.int64), bounds,
                                                       axis=1).ravel() if len(bounds) else []
        frames.append(pd.DataFrame({"asset": np.repeat(assets, len(bounds)),
                                    "signal": str(s),
                                    "day": np.tile(days[bounds], len(assets)), **counts}))
    ep = pd.concat(frames, ignore_index=True).set_index(cols)
    df = base.join(ep, how="left")
    penalty = np.zeros(len(df))
    contrib = {}
    for name in names:
        share = (df[f"n_{name}"] / df["expected"]).to_numpy(dtype=float)
        n_ep = df[f"episodes_{name}"].fillna(0).to_numpy(dtype=float)
        df[f"share_{name}"] = share
        p = sw[name] * share + ew[name] * np.log1p(n_ep)
        contrib[name] = p
        penalty += p
    score = 100.0 * np.exp(-penalty)
    score = np.where(df["present"].to_numpy() > 0, score, 0.0)
    df["score"] = np.round(score, 1)
    # reasons: points lost per flag, in proportion to its share of the penalty
    lost = 100.0 - score
    reasons = []
    mat = np.vstack([contrib[n] for n in names]).T if names else np.zeros((len(df), 0))
    n_eps = np.vstack([df[f"episodes_{n}"].fillna(0).to_numpy() for n in names]).T
    shares = np.vstack([df[f"share_{n}"].to_numpy() for n in names]).T
    present = df["present"].to_numpy()
    for r in range(len(df)):
        if present[r] == 0:
            reasons.append("nothing present")
            continue
        row, tot = mat[r], mat[r].sum()
        order = [i for i in np.argsort(-row, kind="stable")[:top] if row[i] > 1e-9]
        txt = []
        for i in order:
            e = int(n_eps[r, i])
            txt.append(f"{names[i]}: {e} episode{'s' if e != 1 else ''}, "
                       f"{100 * shares[r, i]:.1f}% of samples (-{lost[r] * row[i] / tot:.1f})")
        reasons.append("; ".join(txt))
    df["reasons"] = reasons
    df["quality_score"] = base["score"]
    first = ["score", "reasons", "expected", "completeness", "quality_score"]
    rest = [c for c in df.columns if c.startswith(("share_", "episodes_"))]
    return df[first + rest]


def score_days(lake, cadence: str | None = None, *, registry=None, start=None, end=None,
               timezone: str | None = None, snapshot: str | None = None,
               share_weights: Mapping[str, float] | None = None,
               episode_weights: Mapping[str, float] | None = None,
               top: int = 3) -> pd.DataFrame:
    """Scores per asset, signal and day of the flags stored in a lake.

    Parameters
    ----------
    lake : Lake or URL
    cadence : str, optional
        Raw grid whose flags are scored (default the finest validated one
        that holds most assets: ``1min`` on the sample).
    registry : AssetRegistry, optional
        For the utility's time zone (else ``timezone`` or ``utility.timezone``).
    start, end : time-like, optional
        Limit the days.
    snapshot : str, optional
        Read the flags at this snapshot.

    Returns
    -------
    pandas.DataFrame
        See :func:`score_flags`.

    Examples
    --------
    >>> score_days("./store").sort_values("score").head()   # doctest: +SKIP
    """
    from .lake import Lake
    from .quality import open_quality

    lake = lake if isinstance(lake, Lake) else Lake(os.fspath(lake))
    cads = lake.cadences(snapshot)
    validated = [c for c in cads if lake.open_group(f"quality/{c}", snapshot=snapshot)
                 is not None]
    if cadence is None:
        if not validated:
            raise ArgumentError(f"{lake.url}: no quality flags stored; run `pumplib validate`")
        cadence = "1min" if "1min" in validated else validated[0]
    elif cadence not in validated:
        raise UnknownNameError(f"{lake.url}: no quality flags at this cadence. "
                               + choices_message("cadence", cadence, validated))
    fl = open_quality(lake, cadence, snapshot=snapshot)
    if start is not None or end is not None:
        fl = fl.sel(time=slice(start, end))
    tz = timezone or (registry.utility.get("timezone") if registry is not None else None)
    out = score_flags(fl, timezone=tz, share_weights=share_weights,
                      episode_weights=episode_weights, top=top)
    out.attrs.update(cadence=cadence, snapshot=fl.attrs.get("snapshot"), store=lake.url)
    return out


#: simulator fault kinds that are data-quality faults (the rest is pump physics)
DQ_FAULT_KINDS = ("stuck", "spike", "dropout", "gap", "drift", "wrong_unit", "clock_skew",
                  "duplicate", "out_of_order", "out_of_range")


def fault_load(truth: pd.DataFrame, scores: pd.DataFrame, *, timezone: str,
               step: str = "1min", kinds=DQ_FAULT_KINDS) -> pd.Series:
    """Injected data-quality fault load per ``(asset, signal, day)`` of ``scores``.

    The load of a cell is the number of affected samples of each fault
    episode overlapping that local day (a spike counts one); a fault without
    a signal (clock skew, duplicates …) loads every signal of its asset.
    Aligned to ``scores``' index (0 where nothing was injected).
    """
    idx = scores.index
    signals_of = {a: sorted(set(idx.get_level_values("signal")[idx.get_level_values("asset")
                                                                  == a]))
                  for a in set(idx.get_level_values("asset"))}
    load: dict[tuple, float] = {}
    stepd = pd.Timedelta(step)
    for r in truth.itertuples():
        if r.kind not in kinds or r.asset not in signals_of:
            continue
        sigs = [r.signal] if isinstance(r.signal, str) and r.signal in signals_of[r.asset] \
            else signals_of[r.asset]
        start = pd.Timestamp(r.start)
        end = pd.Timestamp(r.end)
        start = start.tz_localize("UTC") if start.tzinfo is None else start
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        times = pd.date_range(start.floor(step), end.floor(step), freq=stepd)
        days = times.tz_convert(timezone).tz_localize(None).normalize()
        for day, n in pd.Series(1, index=days).groupby(level=0).sum().items():
            for s in sigs:
                key = (r.asset, s, pd.Timestamp(day))
                load[key] = load.get(key, 0.0) + float(n)
    ser = pd.Series(load, dtype=float)
    if ser.empty:
        return pd.Series(0.0, index=idx, name="fault_load")
    ser.index = pd.MultiIndex.from_tuples(ser.index, names=["asset", "signal", "day"])
    return ser.reindex(idx, fill_value=0.0).rename("fault_load")


__all__ = ["DQ_FAULT_KINDS", "EPISODE_WEIGHTS", "SHARE_WEIGHTS", "fault_load", "score_days",
           "score_flags"]
