"""Data-quality scores: the model on hand-made flags, and its ranking of days against the
simulator's injected fault load (Spearman)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pumplib import dqscore
from pumplib.errors import ArgumentError, UnknownNameError
from pumplib.quality.flags import Flag


def _flags(rows: dict[str, list[int]], periods: int = 1440) -> xr.Dataset:
    t = pd.date_range("2026-03-10", periods=periods, freq="1min")
    data = np.zeros((len(rows), periods), "uint16")
    for i, cells in enumerate(rows.values()):
        for j, v in cells:
            data[i, j] |= v
    return xr.Dataset({"flow": (("asset", "time"), data)},
                      coords={"asset": list(rows), "time": t})


def test_score_model_episodes_shares_and_reasons():
    spike, flat, miss = int(Flag.SPIKE), int(Flag.FLATLINE), int(Flag.MISSING)
    fl = _flags({
        "clean": [],
        "one_stuck_hour": [(j, flat) for j in range(600, 660)],
        "sixty_spikes": [(j, spike) for j in range(0, 1440, 24)],
        "one_spike": [(700, spike)],
        "all_missing": [(j, miss) for j in range(1440)],
    })
    s = dqscore.score_flags(fl, timezone="UTC").droplevel(["signal", "day"])
    assert s.loc["clean", "score"] == 100.0 and s.loc["clean", "reasons"] == ""
    assert s.loc["all_missing", "score"] == 0.0
    assert s.loc["all_missing", "reasons"] == "nothing present"
    # same share of samples (60 of 1440), but sixty episodes weigh more than one
    assert s.loc["sixty_spikes", "share_SPIKE"] == s.loc["one_stuck_hour", "share_FLATLINE"]
    assert s.loc["sixty_spikes", "episodes_SPIKE"] == 60
    assert s.loc["one_stuck_hour", "episodes_FLATLINE"] == 1
    order = s["score"].sort_values().index.tolist()
    assert order == ["all_missing", "sixty_spikes", "one_stuck_hour", "one_spike", "clean"]
    # score = 100·exp(−(w_share·share + w_ep·log1p(episodes)))
    w_s, w_e = dqscore.SHARE_WEIGHTS["SPIKE"], dqscore.EPISODE_WEIGHTS["SPIKE"]
    expect = 100 * np.exp(-(w_s * 60 / 1440 + w_e * np.log1p(60)))
    assert s.loc["sixty_spikes", "score"] == pytest.approx(expect, abs=0.05)
    assert s.loc["sixty_spikes", "reasons"].startswith("SPIKE: 60 episodes, 4.2% of samples")
    # a run going on past midnight is an episode of both days
    t = pd.date_range("2026-03-10 23:00", periods=120, freq="1min")
    two = xr.Dataset({"flow": (("asset", "time"), np.full((1, 120), flat, "uint16"))},
                     coords={"asset": ["P"], "time": t})
    assert dqscore.score_flags(two, timezone="UTC")["episodes_FLATLINE"].tolist() == [1, 1]


def test_weights_are_validated():
    fl = _flags({"P": []}, periods=10)
    with pytest.raises(UnknownNameError, match="'SPKE'.*SPIKE"):
        dqscore.score_flags(fl, timezone="UTC", share_weights={"SPKE": 1.0})
    with pytest.raises(ArgumentError, match="≥ 0"):
        dqscore.score_flags(fl, timezone="UTC", episode_weights={"SPIKE": -1})


def test_score_days_on_the_sample(demo_store, demo_registry):
    # the week of the DST change (2026-03-29), UTC bounds
    s = dqscore.score_days(demo_store, registry=demo_registry, start="2026-03-23",
                           end="2026-03-29T23:59")
    assert s.attrs["cadence"] == "1min"
    assert s.index.names == ["asset", "signal", "day"]
    assert s["score"].between(0, 100).all()
    assert {"N-P1", "S-P1", "N-T1"} <= set(s.index.get_level_values("asset"))
    # days in local time: 7 UTC days touch 8 local ones (01:00 → 01:59 next Monday)
    days = s.index.get_level_values("day")
    assert days.nunique() == 8 and days.min() == pd.Timestamp("2026-03-23")
    dst = s.xs(pd.Timestamp("2026-03-29"), level="day").xs("flow", level="signal")
    assert dst["expected"].max() == 23 * 60        # the short day of the DST change
    worst = s.sort_values("score").iloc[0]
    assert worst["score"] < 50 and worst["reasons"]
    with pytest.raises(UnknownNameError, match="'1h'"):
        dqscore.score_days(demo_store, "1h")


def test_score_ranks_days_like_the_injected_fault_load(tmp_path):
    """Spearman rank correlation of score and injected data-quality fault load."""
    from scipy.stats import spearmanr

    from pumplib.assets import AssetRegistry
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.quality import validate
    from pumplib.simulate import make_registry, read_truth, simulate, write_exports

    reg = AssetRegistry.from_dict(make_registry())
    kinds = ("stuck", "spike", "dropout", "gap", "drift", "wrong_unit", "out_of_range")
    sim = simulate(reg, start="2026-03-09", days=3, freq="1min", seed=11,
                   faults=dict.fromkeys(kinds, 6.0))
    write_exports(sim, tmp_path / "sim.parquet", truth=tmp_path / "truth.csv")
    ingest(tmp_path / "sim.parquet", "long_parquet", store=str(tmp_path / "lake"), registry=reg)
    lake = Lake(str(tmp_path / "lake"))
    validate(lake, "1min", registry=reg)
    scores = dqscore.score_days(lake, registry=reg)
    truth = read_truth(tmp_path / "truth.csv")
    load = dqscore.fault_load(truth, scores, timezone=reg.utility["timezone"])
    assert (load > 0).sum() >= 20 and (load == 0).sum() >= 50
    rho = spearmanr(scores["score"], load).statistic
    plain = spearmanr(scores["quality_score"], load).statistic
    assert rho < -0.7
    assert rho <= plain + 0.02     # at least as good as the plain quality score
    # cells with no injected fault mostly score high, faulty ones lower
    assert scores["score"][load == 0].median() > scores["score"][load > 0].median() + 10


def test_docstring_examples_run():
    import doctest

    res = doctest.testmod(dqscore, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
