"""The questions nearest to one that was not understood, among those pumplib can answer.

A :class:`~pumplib.qa.parse.Reading` keeps what was understood of a question
(metric, pumps, stations, period, ranking) and what its unknown parts may have
meant (the close matches of a misspelled metric, an unknown pump or station, a
period that could not be read). :func:`suggest_questions` fills well-formed
question templates with those, nearest first: the metrics of the catalog and
the assets and stations of the registry, never anything else. Every suggestion
is read back with :func:`~pumplib.qa.parse.read_question` and kept only when it
is understood as a data question, so each one, asked, gives numbers.

Examples
--------
>>> import pandas as pd
>>> from pumplib.assets import AssetRegistry
>>> from pumplib.simulate import make_registry
>>> from pumplib.qa.parse import read_question
>>> reg = AssetRegistry.from_dict(make_registry())
>>> now = pd.Timestamp("2026-04-06 02:00", tz="Europe/Amsterdam")
>>> r = read_question("kwh for S-P4 yesterday", reg, now)
>>> suggest_questions(r, reg, now, limit=2)
['How much energy did S-P2 use yesterday?', 'How much energy did S-P1 use yesterday?']
"""

from __future__ import annotations

from .parse import METRICS, Metric, Reading, period_phrase, read_question

#: metrics offered when nothing of the question names one (most asked first)
DEFAULT_METRICS = ("energy", "starts", "specific_energy", "cost", "runtime")
#: the period offered when the question names none that could be read
DEFAULT_PERIOD = "last week"

_BY_KEY = {m.key: m for m in METRICS}


def _station_word(registry, sid: str) -> str:
    """How a question names a station: the first word of its name ("North")."""
    name = str(registry.stations[sid].get("name") or sid)
    return name.split()[0]


def for_asset(metric: Metric, asset: str, period: str) -> str:
    """A question about one metric of one pump over a period."""
    if metric.key == "starts":
        return f"How many starts did {asset} have {period}?"
    if metric.key == "runtime":
        return f"How many hours did {asset} run {period}?"
    if metric.key == "energy":
        return f"How much energy did {asset} use {period}?"
    return f"What was the {metric.label} of {asset} {period}?"


def for_station(metric: Metric, station: str, period: str) -> str:
    """A question about one station: its total, or for a mean its pumps ranked."""
    if metric.key == "starts":
        return f"How many starts did station {station} have {period}?"
    if metric.key == "runtime":
        return f"How many hours did station {station} run {period}?"
    if metric.key == "energy":
        return f"How much energy did station {station} use {period}?"
    if metric.additive:
        return f"What was the total {metric.label} of station {station} {period}?"
    return f"Which pump at station {station} had the worst {metric.label} {period}?"


def ranking(metric: Metric, period: str, word: str | None = None, station: str | None = None
            ) -> str:
    """A question ranking the pumps (of a station) by one metric."""
    where = f" at station {station}" if station else ""
    if word is None and metric.key == "starts":
        return f"Which pump{where} had the most starts {period}?"
    if word is None and metric.key == "energy":
        return f"Which pump{where} used the most energy {period}?"
    word = word or ("highest" if metric.additive else "worst")
    return f"Which pump{where} had the {word} {metric.label} {period}?"


def suggest_questions(reading: Reading, registry, now=None, limit: int = 5) -> list[str]:
    """Up to ``limit`` answerable questions nearest to the one read, nearest first.

    What was understood is kept and what was not is replaced by its close matches
    (metric, pump, station, period, ranking word); a question of which nothing was
    understood gets a varied set (a ranking, a station total, a pump's value).

    Parameters
    ----------
    reading : Reading
        What :func:`~pumplib.qa.parse.read_question` made of the question.
    registry : AssetRegistry
    now : Timestamp, optional
        Reference time used to read the suggestions back (they name relative periods).
    limit : int

    Returns
    -------
    list of str
        Each is understood as a data question by :func:`~pumplib.qa.parse.read_question`.
    """
    near = list(reading.metrics_near)
    metrics = [*near, reading.metric] if reading.metric else near
    periods = [p for p in ((reading.period and period_phrase(reading.period)),
                           *reading.periods_near) if p] or [DEFAULT_PERIOD]
    pumps = [a.id for a in registry.pumps()]
    near_assets = [a for p in reading.problems if p.kind == "asset" for a in p.near if a in pumps]
    near_stations = [s for p in reading.problems if p.kind == "station" for s in p.near
                     if s in registry.stations]
    assets = list(dict.fromkeys(a for a in (*reading.assets, *near_assets) if a in pumps))
    stations = [_station_word(registry, s)
                for s in dict.fromkeys((*reading.stations, *near_stations))]
    if not (metrics or assets or stations or reading.rank or reading.ranks_near):
        cands = _varied(registry, periods[0])
    else:
        metrics = metrics or [_BY_KEY[k] for k in DEFAULT_METRICS]
        cands = []
        for period in periods[:2]:
            for metric in metrics[:3]:
                if reading.rank:
                    cands += [ranking(metric, period, reading.rank, s)
                              for s in (stations[:1] or [None])]
                cands += [for_asset(metric, a, period) for a in assets[:3]]
                cands += [for_station(metric, s, period) for s in stations[:2]]
                cands += [ranking(metric, period, w, s) for w in reading.ranks_near[:2]
                          for s in (stations[:1] or [None])]
                if not (assets or stations or reading.rank or reading.ranks_near):
                    cands += [ranking(metric, period), *_varied(registry, period, metric)[1:3]]
    out: list[str] = []
    for q in dict.fromkeys(cands):
        r = read_question(q, registry, now)
        if r.query is not None and not r.corrections:
            out.append(q)
        if len(out) >= limit:
            break
    return out


def _varied(registry, period: str, metric: Metric | None = None) -> list[str]:
    """A ranking, station totals and pumps' values, over several metrics (or one)."""
    stations = [_station_word(registry, s) for s in registry.stations] or [None]
    pumps = [a.id for a in registry.pumps()]
    m = [_BY_KEY[k] if metric is None else metric for k in DEFAULT_METRICS]
    out = [ranking(m[0], period)]
    if stations[0]:
        out.append(for_station(m[1], stations[0], period))
    if pumps:
        out.append(for_asset(m[2], pumps[0], period))
    if stations[-1]:
        out.append(for_station(m[3], stations[-1], period))
    if pumps:
        out.append(for_asset(m[4], pumps[-1], period))
    return out
