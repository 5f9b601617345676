"""Small helpers shared by the rooms of :mod:`pumplib.ops`."""

from __future__ import annotations

import importlib
import importlib.util

import pandas as pd


def optional(name: str):
    """Import an optional pumplib module; None if it does not exist (yet)."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def fill(s: pd.Series, value) -> pd.Series:
    s = s.astype(object)
    return s.where(s.notna(), value)


def empty(cols) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
