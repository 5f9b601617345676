"""Data quality: declared rules, per-sample flags, scores, overrides and reports.

The engine between the raw lake and the features::

    rules = Rules.load()                          # catalogs/quality_rules.yaml
    flags = evaluate(lake.open_raw("1min"), rules, registry)   # lazy uint16 Dataset
    validate(lake, "1min", registry=registry)     # evaluate + commit quality/1min
    validate_new(lake, "1min", registry=registry) # only what was ingested since
    good = ds.pump.good()                         # NaN where a sample is not good
    table = scores(open_quality(lake, "1min"))    # per asset, signal and day
    add_override(lake, "P1", start, end, "bad", "meter swapped")  # a versioned commit
    report(flags, path="quality.json")            # machine-readable report
    report_html(flags, path="quality.html")       # plots and tables (hvplot, inline)
    clock_skew(ds)                                # skew between signals of a pump

See :mod:`pumplib.quality.flags` for the bitmask and
:mod:`pumplib.quality.rules` for the rules schema.
"""

from __future__ import annotations

from .. import accessor as _accessor  # noqa: F401  (registers ds.pump)
from .engine import context_steps, evaluate, evaluate_range, expected_mask
from .flags import Flag, explain, is_good, names
from .flags import table as flag_table
from .html import report_html  # hvplot and bokeh are imported when a page is made
from .overrides import add_override, overrides
from .report import report
from .rules import Rules
from .scores import scores
from .skew import clock_skew
from .store import (
    good,
    open_for_rules,
    open_quality,
    pending_range,
    skew_table,
    time_rows,
    validate,
    validate_new,
)

__all__ = ["Flag", "Rules", "add_override", "clock_skew", "context_steps", "evaluate",
           "evaluate_range", "expected_mask", "explain", "flag_table", "good", "is_good",
           "names", "open_for_rules", "open_quality", "overrides", "pending_range", "report",
           "report_html", "scores", "skew_table", "time_rows", "validate", "validate_new"]
