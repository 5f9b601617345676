"""Operations: KPI tiles, charts, alerts, evidence and recommendations for the apps.

The library behind the operations app (``notebooks/apps/operations.py``,
marimo) and dashboard (``notebooks/dashboards/operations.ipynb``, Voila):
the front ends only lay out what these return. One room per idea:

================  ==========================================================================
module            its one idea
================  ==========================================================================
``views``         levels, local-calendar periods, drill-down, the shared selection
``kpis``          what a page adds up (units, the physics floor)
``alerts``        alert sources; alerts as people pick them (unique labels, grouped)
``evidence``      raw signals, quality flags and lineage behind an alert
``service``       :class:`Operations`: the service over one store
``tables``        tables and tiles as people read them (human names, currency)
``charts``        interactive HoloViews/Bokeh charts (units, local time, partial periods)
``app``           helpers of the marimo app (pickers that survive a redraw)
``picker``        a grouped picker widget (anywidget) that sends ids, not positions
``dashboard``     the ipywidgets :class:`Dashboard` (Voila, JupyterLab)
================  ==========================================================================

Levels, coarse to fine, and how one drills down from a period::

    strategic    1M, 1W      ─┐
    tactical     1D           │  1M → 1D → 1h → 15min → 1min   (1W → 1D)
    operational  1h, 15min    │
    real-time    1min        ─┘

Everything is read from the golden tables ``features/<level>`` (small), never
from the raw series, except the evidence of one alert: a short window of raw
samples around it, decimated to at most ``max_points`` per signal. Periods
follow the utility's calendar (``utility.timezone``); times in frames are the
period starts in UTC (naive), with a ``label`` in local time; pages show local
time only.

Examples
--------
>>> ops = Operations("./store")                                  # doctest: +SKIP
>>> ops.kpis("utility", View("1M"))["energy"]                     # doctest: +SKIP
{'value': 61234.5, 'unit': 'kWh', 'label': 'Energy', 'coverage': 0.97}
>>> month = ops.periods(View("1M"))[0]                            # doctest: +SKIP
>>> day_view = drill_down(View("1M"), month.start)                # doctest: +SKIP
>>> ops.alerts(scope="S-P1")                                      # doctest: +SKIP
>>> ops.act("rec-load-3f9cf2fdce", "accept", "ana").created       # doctest: +SKIP
True
"""

from __future__ import annotations

from .alerts import (
    ALERT_COLUMNS,
    ALERT_KINDS,
    SEVERITIES,
    alert_groups,
    alert_id_of,
    alert_label,
    alert_option_groups,
    alert_options,
)
from .charts import evidence_chart, kpi_chart, panel_of
from .dashboard import Dashboard
from .kpis import COLUMNS, FLOOR_KWH_M3_M, KPI_SPEC
from .service import (
    MAX_POINTS,
    PARTIAL_BELOW,
    REC_COLUMNS,
    Operations,
    _operations,
    open_operations,
)
from .tables import (
    MISSING,
    REC_VIEW_COLUMNS,
    alerts_caption,
    money,
    rec_label,
    recommendation_table,
    recs_caption,
    table_html,
    tiles_html,
)
from .views import (
    CHILD,
    LEVELS,
    TIERS,
    Period,
    View,
    apply_view,
    drill_down,
    drill_selection,
    local_text,
    period_end,
    replace_view,
    roll_up,
    view_of,
    window_text,
)

__all__ = [
    "ALERT_COLUMNS", "ALERT_KINDS", "CHILD", "COLUMNS", "FLOOR_KWH_M3_M", "KPI_SPEC", "LEVELS",
    "MAX_POINTS", "MISSING", "PARTIAL_BELOW", "REC_COLUMNS", "REC_VIEW_COLUMNS", "SEVERITIES",
    "TIERS", "Dashboard", "Operations", "Period", "View", "_operations", "alert_groups",
    "alert_id_of", "alert_label", "alert_option_groups", "alert_options", "alerts_caption", "apply_view",
    "drill_down", "drill_selection", "evidence_chart", "kpi_chart", "local_text", "money",
    "open_operations", "panel_of", "period_end", "rec_label", "recommendation_table",
    "recs_caption", "replace_view", "roll_up", "table_html", "tiles_html", "view_of",
    "window_text",
]
