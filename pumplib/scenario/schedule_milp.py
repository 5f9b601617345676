"""Pump scheduling: a mixed-integer program solved by HiGHS (``scipy.optimize.milp``).

Decision: which pump runs, and at which speed step, in each period of the
horizon. Per pump ``p``, speed step ``m`` and period ``t`` a binary
``x[p,m,t]`` (at most one step per pump and period); ``on[p,t] = Σ_m x``;
start ``u[p,t] ≥ on[p,t] − on[p,t−1]`` and stop ``w[p,t] ≥ on[p,t−1] − on[p,t]``
binaries; tank level ``l[t]`` continuous::

    minimise   Σ price[t]·P[p,m]·Δ·x[p,m,t]
    subject to l[t+1] = l[t] + (Σ Q[p,m]·x[p,m,t] − demand[t])·Δ / area
               min_level + margin ≤ l[t] ≤ max_level − margin,  l[T] ≥ end_level
               Σ_{τ=t}^{t+R−1} on[p,τ] ≥ R·u[p,t]          (minimum run time R periods)
               on[p,τ] ≤ 1 − w[p,t]  for τ in t … t+S−1     (minimum rest time S periods)
               Σ_{t ∈ day} u[p,t] ≤ max_starts_per_day
               Σ_{t ∈ hour} u[p,t] ≤ max_starts_per_hour

Flow ``Q[p,m,t]`` and power ``P[p,m,t]`` of each pump and speed step are its
operating point (:class:`~pumplib.scenario.model.PumpModel`) at the tank level
of the period: first the middle of the allowed band, then (after each replay
of the schedule minute by minute through the level-dependent physics,
:func:`~pumplib.scenario.model.simulate_station`) the levels the replay went
through. It re-solves until the replay stays within the limits and ends no
lower than ``end_level`` (widening the margin if the level left the tank), and
returns the best schedule found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ArgumentError, PumplibError
from .model import StationModel, _utc_index, simulate_station, summarise


class ScheduleError(PumplibError, RuntimeError):
    """The scheduling problem has no solution (or none was found in the time limit)."""


@dataclass
class ScheduleResult:
    """An optimised schedule, what the solver said, and its replay through the physics."""

    schedule: pd.DataFrame          # speed ratio per pump per period (0 = off)
    planned_level: pd.Series        # the MILP's level at the start of each period
    cost: float                     # the MILP's objective
    status: str
    replay: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)
    margin: float = 0.0
    mip_gap: float | None = None
    planned_mid: np.ndarray | None = None   # planned level in the middle of each period


def _speed_steps(model: StationModel, vsd_steps) -> list[list[float]]:
    steps = []
    for p in model.pumps:
        if p.vsd:
            s = sorted({float(np.clip(v, p.s_min, 1.0)) for v in vsd_steps}, reverse=True)
        else:
            s = [1.0]
        steps.append(s)
    return steps


def optimise_schedule(model: StationModel, demand: pd.Series, *, period: str = "1h",
                      level0: float | None = None, end_level: float | None = None,
                      min_run: int = 1, min_rest: int = 1, max_starts_per_day: int = 6,
                      max_starts_per_hour: int = 1, vsd_steps=(1.0, 0.85),
                      margin: float = 0.05, time_limit: float = 30.0,
                      mip_rel_gap: float = 0.02,
                      replay_step: str = "1min", max_retries: int = 5) -> ScheduleResult:
    """Cheapest pump schedule for a demand forecast and the station's tariff.

    Parameters
    ----------
    model : StationModel
        The station (pumps, tank, tariff).
    demand : pandas.Series
        Forecast demand in m³/h on a UTC time index; averaged to ``period``.
    period : str
        Length of a scheduling period (``"1h"``, ``"30min"`` …).
    level0, end_level : float, optional
        Initial level (default 60 % of the span) and the least level at the end
        (default ``level0``: the tank is not drained to save money).
    min_run, min_rest : int
        Minimum run and rest times, in periods.
    max_starts_per_day, max_starts_per_hour : int
        Start limits per pump (days in the utility's time zone).
    vsd_steps : sequence of float
        Speed ratios offered to variable-speed pumps.
    margin : float
        Share of the tank span kept free at both ends in the plan (the replay at
        ``replay_step`` sees the level-dependent flows).
    time_limit : float
        HiGHS time limit in seconds (the best schedule found so far is used).
    mip_rel_gap : float
        Stop when the schedule is proven within this share of the optimum.

    Returns
    -------
    ScheduleResult
        ``schedule`` (speed ratio per pump and period), the replay and its summary.

    Examples
    --------
    >>> res = optimise_schedule(model, demand, period="1h")   # doctest: +SKIP
    >>> res.summary["cost"] < baseline_cost                    # doctest: +SKIP
    True
    """
    for name, v in (("min_run", min_run), ("min_rest", min_rest),
                    ("max_starts_per_day", max_starts_per_day),
                    ("max_starts_per_hour", max_starts_per_hour)):
        if int(v) < 1:
            raise ArgumentError(f"option {name!r} given an invalid value: {v!r}. "
                                "Expected an integer ≥ 1")
    if not 0 <= margin < 0.5:
        raise ArgumentError(f"option 'margin' given an invalid value: {margin!r}. "
                            "Expected a share of the tank span in [0, 0.5)")
    span = model.max_level - model.min_level
    l0 = model.min_level + 0.6 * span if level0 is None else float(level0)
    l_end = l0 if end_level is None else float(end_level)
    d = pd.Series(np.asarray(demand, float), index=_utc_index(demand.index))
    d = d.resample(period).mean().dropna()
    m_try, end_try, levels = margin, l_end, None
    last: ScheduleResult | None = None
    for _ in range(max(1, max_retries)):
        try:
            res = _solve(model, d, period, l0, end_try, min_run, min_rest, max_starts_per_day,
                         max_starts_per_hour, vsd_steps, m_try, time_limit, mip_rel_gap,
                         levels)
        except ScheduleError:
            if last is None:
                raise
            last.status += "; a re-solve found nothing better in time"
            return last
        replay = simulate_station(model, demand, policy="schedule", schedule=res.schedule,
                                  level0=l0, step=replay_step)
        res.replay, res.summary, res.margin = replay, summarise(replay, model), m_try
        if last is None or _better(res, last, l_end):
            last = res
        short = l_end - res.summary["final_level"]
        if res.summary["within_limits"] and short <= 1e-9:
            return res
        # next pass: operating points at the levels this plan goes through, and a
        # wider margin if the replay left the tank
        levels = res.planned_mid
        if not res.summary["within_limits"]:
            m_try = min(m_try * 1.5 + 0.02, 0.3)
        if short > 0.02:
            end_try = min(end_try + short + 0.01, model.max_level - m_try * (
                model.max_level - model.min_level))
    return last


def _better(a: ScheduleResult, b: ScheduleResult, l_end: float) -> bool:
    """Feasible (in limits, tank not drained) beats infeasible; then the cheaper one."""
    def ok(r):
        return r.summary["within_limits"] and r.summary["final_level"] >= l_end - 1e-9
    if ok(a) != ok(b):
        return ok(a)
    return a.summary["cost"] < b.summary["cost"]


def _solve(model, d, period, l0, l_end, min_run, min_rest, max_day, max_hour, vsd_steps,
           margin, time_limit, mip_rel_gap=0.02, levels=None) -> ScheduleResult:
    from scipy.optimize import Bounds, LinearConstraint, milp

    T = len(d)
    dt_h = pd.Timedelta(period) / pd.Timedelta("1h")
    span = model.max_level - model.min_level
    lo, hi = model.min_level + margin * span, model.max_level - margin * span
    if not lo <= l0 <= model.max_level or l_end > hi:
        raise ArgumentError(f"level0 {l0} / end_level {l_end} outside the tank band "
                            f"[{lo:.2f}, {hi:.2f}]")
    # operating points per period: at the given levels, else the middle of the band
    lv = np.full(T, (lo + hi) / 2.0) if levels is None else np.clip(
        np.asarray(levels, float), lo, hi)
    hs = model.static_head + lv
    steps = _speed_steps(model, vsd_steps)
    xi, q, pw = [], [], []
    for pi, p in enumerate(model.pumps):
        for s in steps[pi]:
            qq, _, _, pp = p.operating_point(hs, s)
            xi.append((pi, s))
            q.append(np.asarray(qq, float))
            pw.append(np.asarray(pp, float))
    v = _Vars(len(xi), len(model.pumps), T)
    nv, off_l, X, L = v.nv, v.off_l, v.X, v.L
    price = model.prices(d.index)
    c = np.zeros(nv)
    for k in range(len(xi)):
        c[X(k, 0):X(k, 0) + T] = price * pw[k] * dt_h
    cons = _constraints(model, d, v, xi, q, dt_h, min_run, min_rest, max_day, max_hour)
    A, rows_lo, rows_hi = _matrix(cons, nv)
    lb = np.zeros(nv)
    ub = np.ones(nv)
    lb[off_l:] = lo
    ub[off_l:] = hi
    lb[L(0)] = ub[L(0)] = l0
    lb[L(T)] = max(lo, l_end)
    integrality = np.zeros(nv)
    integrality[:off_l] = 1
    res = milp(c, constraints=LinearConstraint(A.tocsr(), rows_lo, rows_hi),
               integrality=integrality, bounds=Bounds(lb, ub),
               options={"time_limit": float(time_limit), "disp": False,
                        "mip_rel_gap": float(mip_rel_gap)})
    if res.x is None:
        raise ScheduleError(f"no feasible schedule for station {model.id} ({res.message}); "
                            "relax min_run/min_rest/max_starts or the level margin")
    x = np.round(res.x)
    sched = pd.DataFrame(0.0, index=d.index, columns=[p.id for p in model.pumps])
    for k, (pi, s) in enumerate(xi):
        on = x[X(k, 0):X(k, 0) + T] > 0.5
        sched.iloc[on, pi] = s
    planned = pd.Series(res.x[off_l:off_l + T], index=d.index, name="level")
    out = ScheduleResult(schedule=sched, planned_level=planned, cost=float(res.fun),
                         status=str(res.message), mip_gap=getattr(res, "mip_gap", None))
    out.planned_mid = (res.x[off_l:off_l + T] + res.x[off_l + 1:off_l + T + 1]) / 2.0
    return out


class _Vars:
    """Column layout of the MILP: x[p,m,t] | u[p,t] | w[p,t] | l[t] (t = 0..T)."""

    def __init__(self, nx: int, n_p: int, T: int):
        self.nx, self.n_p, self.T = nx, n_p, T
        self.off_u = nx * T
        self.off_w = self.off_u + n_p * T
        self.off_l = self.off_w + n_p * T
        self.nv = self.off_l + T + 1

    def X(self, k, t):
        return k * self.T + t

    def U(self, p, t):
        return self.off_u + p * self.T + t

    def W(self, p, t):
        return self.off_w + p * self.T + t

    def L(self, t):
        return self.off_l + t


def _constraints(model, d, v: _Vars, xi, q, dt_h, min_run, min_rest, max_day,
                 max_hour) -> list[tuple[dict, float, float]]:
    """The rows ``(coefficients, lower, upper)``: tank balance, one speed step at a time,
    start/stop indicators, minimum run and rest times, starts per day and per hour."""
    T, nx, n_p = v.T, v.nx, v.n_p
    X, U, W, L = v.X, v.U, v.W, v.L
    cons: list[tuple[dict, float, float]] = []

    def add(coefs: dict, lb: float, ub: float):
        cons.append((coefs, lb, ub))

    by_pump = [[k for k in range(nx) if xi[k][0] == pi] for pi in range(n_p)]
    for t in range(T):
        # tank balance
        coefs = {L(t + 1): 1.0, L(t): -1.0}
        for k in range(nx):
            coefs[X(k, t)] = -q[k][t] * dt_h / model.area
        rhs = -float(d.iloc[t]) * dt_h / model.area
        add(coefs, rhs, rhs)
        for pi in range(n_p):
            # one speed step at a time
            add({X(k, t): 1.0 for k in by_pump[pi]}, -np.inf, 1.0)
            # start / stop indicators (pumps start the horizon off)
            cu = {U(pi, t): 1.0}
            cw = {W(pi, t): 1.0}
            for k in by_pump[pi]:
                cu[X(k, t)] = cu.get(X(k, t), 0.0) - 1.0
                cw[X(k, t)] = cw.get(X(k, t), 0.0) + 1.0
                if t > 0:
                    cu[X(k, t - 1)] = cu.get(X(k, t - 1), 0.0) + 1.0
                    cw[X(k, t - 1)] = cw.get(X(k, t - 1), 0.0) - 1.0
            add(cu, 0.0, np.inf)
            add(cw, 0.0, np.inf)
            # minimum run time: on for min_run periods after a start
            if min_run > 1:
                for tau in range(t + 1, min(t + min_run, T)):
                    cr = {U(pi, t): -1.0}
                    for k in by_pump[pi]:
                        cr[X(k, tau)] = 1.0
                    add(cr, 0.0, np.inf)
            # minimum rest time: off for min_rest periods after a stop
            if min_rest > 1:
                for tau in range(t + 1, min(t + min_rest, T)):
                    cr = {W(pi, t): 1.0}
                    for k in by_pump[pi]:
                        cr[X(k, tau)] = 1.0
                    add(cr, -np.inf, 1.0)
    # starts per day (local days) and per hour
    local = d.index.tz_convert(model.timezone)
    day_keys = np.asarray(local.normalize().tz_localize(None))
    hour_keys = np.asarray(local.floor("h").tz_localize(None))
    for pi in range(n_p):
        for keys, limit in ((day_keys, max_day), (hour_keys, max_hour)):
            for key in np.unique(keys):
                ts = np.flatnonzero(keys == key)
                if len(ts) > limit:
                    add({U(pi, t): 1.0 for t in ts}, -np.inf, float(limit))
    return cons


def _matrix(cons: list[tuple[dict, float, float]], nv: int):
    """The sparse constraint matrix and its row bounds."""
    from scipy.sparse import lil_matrix

    A = lil_matrix((len(cons), nv))
    rows_lo, rows_hi = [], []
    for i, (coefs, lb, ub) in enumerate(cons):
        for j, val in coefs.items():
            A[i, j] = val
        rows_lo.append(lb)
        rows_hi.append(ub)
    return A, rows_lo, rows_hi
