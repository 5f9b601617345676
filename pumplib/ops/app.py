"""Helpers of the marimo operations app (``notebooks/apps/operations.py``).

marimo gives a UI element the same id when its cell runs again, and a
dropdown refuses a label that is not among its options (``ValueError: The
option name … is not a valid option``). So a choice made in a list that a
redraw has just replaced (an alert picked right after a drill-down) used to
do nothing. :func:`picker` makes dropdowns whose labels end with the item's
id (``… [outlier:OUT-1]``) and that read the id back from any such label, so
the choice counts whichever list it was made in; a stale label without an
id is taken as "nothing chosen" instead of an error.

Examples
--------
>>> p = picker({"N-P3 · high · 2026-03-12 19:46 CET · Unusual [outlier:OUT-2]": "outlier:OUT-2"})
>>> p._update(["N-P3 · high · 2026-03-12 02:18 CET · Unusual [outlier:OUT-1]"])  # an older list
>>> p.value
'outlier:OUT-1'
"""

from __future__ import annotations

import functools

from .alerts import alert_id_of
from .tables import rec_formats, recommendation_table


@functools.cache
def _picker_class():
    import marimo as mo

    class Picker(mo.ui.dropdown):
        """A dropdown that reads the item id from a label of an earlier list."""

        def _convert_value(self, value):
            if value and value[0] not in self.options:
                self._selected_key = None
                return alert_id_of(value[0])
            return super()._convert_value(value)

    return Picker


def picker(options: dict[str, str], *, value: str | None = None, label: str = "",
           full_width: bool = False, on_change=None):
    """A ``mo.ui.dropdown`` of ``label → id`` options (labels ending ``[id]``) whose
    value is the chosen id, also when the label came from an earlier list.

    ``value`` is an id (not a label) to start with, when it is among the options.
    ``on_change`` receives the chosen id: the app keeps it in a ``mo.state``, so a
    choice made just before a redraw re-created the picker is not lost either.
    """
    start = next((k for k, v in options.items() if v == value), None) if value else None
    return _picker_class()(options, value=start, label=label, full_width=full_width,
                           on_change=on_change)


def recommendation_ui(recs, currency: str, timezone: str, *, label: str = ""):
    """The recommendations as a sortable, searchable ``mo.ui.table`` with human headers,
    money in ``currency`` and the long titles wrapped in a wide column."""
    import marimo as mo

    table = recommendation_table(recs, currency, timezone)
    horizon = None
    if "horizon_days" in recs and recs["horizon_days"].notna().any():
        horizon = float(recs["horizon_days"].dropna().iloc[0])
    formats = rec_formats(currency, horizon if horizon is not None else 365)
    return mo.ui.table(table, selection=None, pagination=True, page_size=10,
                       format_mapping=formats, wrapped_columns=["Recommendation", "Status"],
                       column_widths={"Recommendation": 320, "Status": 180},
                       show_download=False,
                       show_column_summaries=False, show_data_types=False, label=label)
