"""The recommendations frame: its columns (a contract with the operations app), kinds,
stable ids, one row per action and the ranking."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from ..assets import AssetRegistry

#: the columns of a recommendations frame (contract with pumplib.ops / the operations app)
COLUMNS = ["rec_id", "kind", "asset", "station", "title", "evidence", "saving_kwh",
           "saving_money", "currency", "assumptions", "confidence", "lineage"]
#: extra columns after the contract ones
EXTRA_COLUMNS = ["rank", "finding", "horizon_days", "created_at", "run_id"]
KINDS = ("load_shift", "efficient_pump", "efficiency_loss", "bep_drift", "data_quality")
#: the lake table group of stored runs
GROUP = "recommendations"
_JSON_COLUMNS = ("evidence", "assumptions", "lineage")


def _rec_id(kind: str, key: str, period_start: Any) -> str:
    """Stable id: the same finding in a re-run keeps its id (accept/dismiss stay attached)."""
    day = pd.Timestamp(period_start).strftime("%Y-%m-%d") if period_start is not None else ""
    raw = f"{kind}|{key}|{day}"
    return f"rec-{kind[:4]}-{hashlib.sha1(raw.encode()).hexdigest()[:10]}"


def _round(x, nd=3):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    return round(float(x), nd)


def _iso(t) -> str | None:
    if t is None or pd.isna(t):
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat()


def _row(kind, asset, station, title, *, evidence, saving_kwh, saving_money, assumptions,
         confidence, status, period_start, ctx) -> dict:
    key = asset or station
    return {"rec_id": _rec_id(kind, f"{station}/{key}", period_start), "kind": kind,
            "asset": asset, "station": station, "title": title, "evidence": evidence,
            "saving_kwh": float(saving_kwh) if saving_kwh is not None else np.nan,
            "saving_money": float(saving_money) if saving_money is not None else np.nan,
            "currency": ctx["currency"], "assumptions": assumptions, "confidence": confidence,
            "lineage": ctx["lineage"], "finding": status,
            "horizon_days": ctx["horizon_days"], "created_at": ctx["created_at"],
            "run_id": ctx["run_id"]}


def _currency(reg: AssetRegistry) -> str:
    return str(reg.utility.get("currency") or "EUR")


_CONF_ORDER = {"high": 0, "medium": 1, "low": 2}


def _frame(rows: list[dict]) -> pd.DataFrame:
    cols = COLUMNS + EXTRA_COLUMNS
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=float if c.startswith("saving") else object)
                             for c in cols})
    df = pd.DataFrame(rows)
    # rank: money first (data-quality problems, which have none, after), then confidence
    df["_dq"] = df.kind.eq("data_quality")
    df["_conf"] = df.confidence.map(_CONF_ORDER).fillna(3)
    df = df.sort_values(["_dq", "saving_money", "_conf"], ascending=[True, False, True],
                        na_position="last").drop(columns=["_dq", "_conf"])
    df["rank"] = np.arange(1, len(df) + 1)
    return df[cols].reset_index(drop=True)
