"""Explanations of alarms: which signals and features drove each, by how much.

Every alarm gets a sentence and the numbers behind it: for each feature that
passed the alarm threshold during the alarm (most first), the signal, what
the feature measures (level, noise, impulse), its value at the alarm's peak
against the reference value, and the distance in reference scale units.

Examples
--------
>>> z = pd.DataFrame({"flow:mean": [0.5, -6.0, -4.0], "flow:std": [0.2, 0.1, 3.5]})
>>> f = pd.DataFrame({"flow:mean": [32.1, 29.0, 30.0], "flow:std": [0.4, 0.4, 1.2]})
>>> c = pd.Series({"flow:mean": 32.0, "flow:std": 0.4})
>>> drivers(z, f, c, threshold=3.0)[0]["text"]
'flow level 29 vs 32 (-6.0 scale units)'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import FEATURE_WORDS, split_column


def drivers(z: pd.DataFrame, values: pd.DataFrame, centre: pd.Series, threshold: float,
            top: int = 3) -> list[dict]:
    """The features of one alarm that passed ``threshold`` (or the largest one), most first.

    ``z`` holds each feature's signed distance from the reference in scale
    units over the alarm's rows, ``values`` the features themselves and
    ``centre`` the reference values. Each driver is a dict ``signal, feature,
    value, reference, z, text``, taken at the row where that feature is
    furthest from the reference.
    """
    if z.empty:
        return []
    peak = z.abs().max(axis=0).fillna(0.0)
    order = peak.sort_values(ascending=False, kind="stable")
    chosen = [c for c in order.index if order[c] > threshold][:top] or list(order.index[:1])
    out = []
    for col in chosen:
        k = int(np.nanargmax(z[col].abs().to_numpy())) if z[col].notna().any() else 0
        sig, feat = split_column(col)
        val, ref, zz = float(values[col].iloc[k]), float(centre[col]), float(z[col].iloc[k])
        out.append({"signal": sig, "feature": feat, "value": val, "reference": ref, "z": zz,
                    "text": f"{sig} {FEATURE_WORDS.get(feat, feat).split(' (')[0]} {val:.4g} "
                            f"vs {ref:.4g} ({zz:+.1f} scale units)"})
    return out


def sentence(found: list[dict]) -> str:
    """One line from :func:`drivers`: ``"alarm: flow level 29 vs 32 (-6.0 scale units); …"``."""
    if not found:
        return "alarm: no feature stands out"
    return "alarm: " + "; ".join(d["text"] for d in found)
