"""Tables and tiles as people read them: human column names, money in the registry's
currency, local times, one mark for a missing value.

Both front ends use these: the marimo app puts :func:`recommendation_table`
into a sortable ``mo.ui.table`` (with :func:`rec_formats`); the ipywidgets
dashboard renders it with :func:`table_html` and sorts it with
:func:`sort_table`. Nothing here shows a raw column name (``saving_kwh``),
``None`` or ``NaN``: a missing value is always :data:`MISSING`.

Examples
--------
>>> money(1620.27, "EUR"), money(float("nan"), "EUR"), money(12.6, "NOK")
('€1,620', '–', '13 NOK')
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .views import View, local_text

#: the one mark of a missing value, everywhere
MISSING = "–"
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}

#: recommendation columns a page shows (library names, in order)
REC_VIEW_COLUMNS = ["title", "asset", "saving_kwh", "saving_money", "confidence", "status",
                    "verified_saving_money", "rec_id"]

#: the widths a long text column keeps (px), so it never squeezes into a narrow strip
WIDE_COLUMNS = {"Recommendation": 320, "Status": 180, "Meaning": 280, "What": 320}
#: short columns that read best on one line
NOWRAP_COLUMNS = {"ID", "Asset", "Confidence", "Written", "Snapshot", "Run", "Signal", "Flag"}

TABLE_CSS = """
<style>
.pumplib-scroll{overflow-x:auto;max-width:100%}
table.pumplib-table{border-collapse:collapse;font-size:13px;line-height:1.35}
table.pumplib-table th{background:#eef2f7;text-align:left;padding:6px 8px;
  border-bottom:2px solid #c9d2de;white-space:nowrap;position:sticky;top:0}
table.pumplib-table td{padding:5px 8px;border-bottom:1px solid #e3e8ef;vertical-align:top}
table.pumplib-table td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table.pumplib-table td.nowrap{white-space:nowrap}
table.pumplib-table tr:nth-child(even) td{background:#fafbfd}
table.pumplib-alerts td.high{color:#b00020;font-weight:600}
table.pumplib-alerts td.medium{color:#a15c00;font-weight:600}
</style>
"""


# -- values -----------------------------------------------------------------------------
def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in ("", "None", "nan", "NaN", "NaT")
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def currency_symbol(currency: str | None) -> str | None:
    """The sign of a currency code, or None when it is written as its code."""
    return CURRENCY_SYMBOLS.get(str(currency or "").upper())


def money(value, currency: str | None, decimals: int = 0) -> str:
    """An amount in ``currency``: ``€1,620`` (a known sign) or ``13 NOK`` (the code).

    Examples
    --------
    >>> money(-3.5, "USD", 2)
    '-$3.50'
    """
    if _missing(value):
        return MISSING
    v = float(value)
    text = f"{abs(v):,.{decimals}f}"
    sign = "-" if v < 0 and float(text.replace(",", "")) != 0 else ""
    sym = currency_symbol(currency)
    return f"{sign}{sym}{text}" if sym else f"{sign}{text} {currency or ''}".rstrip()


def number(value, decimals: int = 0, unit: str = "") -> str:
    """A number with thousands separators (and a unit), or :data:`MISSING`.

    Examples
    --------
    >>> number(8309.1, unit="kWh"), number(None)
    ('8,309 kWh', '–')
    """
    if _missing(value):
        return MISSING
    return f"{float(value):,.{decimals}f}" + (f" {unit}" if unit else "")


def text(value) -> str:
    """A text cell: the value, or :data:`MISSING` for None/NaN/empty."""
    return MISSING if _missing(value) else str(value)


def fmt_kpi(value: float, unit: str) -> str:
    """A KPI value with the precision its unit deserves."""
    if value is None or not np.isfinite(value):
        return MISSING
    if unit in ("", "kWh", "m³", "h") or (unit.isupper() and len(unit) == 3):
        return f"{value:,.0f}"
    if unit == "kWh/m³/m":
        return f"{value:.5f}"
    if unit == "kWh/m³":
        return f"{value:.3f}"
    if unit == "×":
        return f"{value:.2f}"
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


# -- KPI tiles --------------------------------------------------------------------------
def tiles_html(tiles: dict[str, dict]) -> str:
    """KPI tiles as one HTML block (each tile has ``data-kpi="<name>"``)."""
    cells = []
    for k, t in tiles.items():
        cov = t.get("coverage")
        cov_txt = f"coverage {cov:.0%}" if cov is not None and np.isfinite(cov) else ""
        cells.append(
            f'<div class="pumplib-kpi" data-kpi="{k}" style="border:1px solid #ccd;'
            f'border-radius:6px;padding:6px 10px;min-width:150px;background:#f7f9fc">'
            f'<div style="font-size:11px;color:#556">{html.escape(t["label"])}</div>'
            f'<div style="font-size:20px;font-weight:600">{fmt_kpi(t["value"], t["unit"])}'
            f' <span style="font-size:12px;font-weight:400">{html.escape(t["unit"])}</span></div>'
            f'<div style="font-size:10px;color:#889">{cov_txt}</div></div>')
    return ('<div class="pumplib-kpis" style="display:flex;flex-wrap:wrap;gap:8px">'
            + "".join(cells) + "</div>")


# -- recommendations --------------------------------------------------------------------
def rec_headers(currency: str, horizon_days: float | None = 365) -> dict[str, str]:
    """Library column → the header a person reads (money in ``currency``).

    Examples
    --------
    >>> rec_headers("EUR")["saving_money"]
    'Est. saving (EUR/year)'
    """
    per = "year" if horizon_days in (None, 365, 365.0) or _missing(horizon_days) \
        else f"{horizon_days:g} days"
    return {"title": "Recommendation", "asset": "Asset",
            "saving_kwh": f"Est. saving (kWh/{per})",
            "saving_money": f"Est. saving ({currency}/{per})",
            "confidence": "Confidence", "status": "Status",
            "verified_saving_money": f"Verified saving ({currency})", "rec_id": "ID"}


def status_text(rec, timezone: str) -> str:
    """What people decided about a recommendation, in one cell.

    Examples
    --------
    >>> status_text({"status": "accepted", "accepted_by": "ana", "n_comments": 2,
    ...              "accepted_at": pd.Timestamp("2026-04-01 08:00", tz="UTC")},
    ...             "Europe/Amsterdam")
    'accepted by ana, 2026-04-01 10:00 CEST · 2 comments'
    """
    get = rec.get if isinstance(rec, dict) else (lambda k, d=None: getattr(rec, k, d))
    status = text(get("status"))
    if status == "accepted" and not _missing(get("accepted_by")):
        status += f" by {get('accepted_by')}"
        if not _missing(get("accepted_at")):
            status += f", {local_text(get('accepted_at'), timezone)}"
    elif status == "dismissed" and not _missing(get("reason")):
        status += f": {get('reason')}"
    if not _missing(get("assignee")):
        status += f" · assigned to {get('assignee')}"
    n = get("n_comments", 0)
    if not _missing(n) and int(n):
        status += f" · {int(n)} comment{'s' if int(n) != 1 else ''}"
    return status


def recommendation_table(recs: pd.DataFrame, currency: str, timezone: str) -> pd.DataFrame:
    """Recommendations with human headers: numbers stay numbers (they sort), text
    cells hold :data:`MISSING` instead of None, the status says who decided and
    when (local time)."""
    horizon = None
    if "horizon_days" in recs and recs["horizon_days"].notna().any():
        horizon = float(recs["horizon_days"].dropna().iloc[0])
    heads = rec_headers(currency, horizon if horizon is not None else 365)
    rows = recs.reset_index(drop=True)
    out = pd.DataFrame(index=range(len(rows)))
    for c in REC_VIEW_COLUMNS:
        v = rows[c] if c in rows else pd.Series([None] * len(rows), dtype=object)
        if c in ("saving_kwh", "saving_money", "verified_saving_money"):
            out[heads[c]] = pd.to_numeric(v, errors="coerce").astype(float)
        elif c == "asset":
            st = rows["station"] if "station" in rows else [None] * len(rows)
            out[heads[c]] = [text(a) if _missing(s) or str(s) == str(a) else
                             f"{text(a)} · {s}" for a, s in zip(v, st, strict=True)]
        elif c == "status":
            out[heads[c]] = [status_text(r, timezone) for r in rows.to_dict("records")]
        else:
            out[heads[c]] = [text(x) for x in v]
    return out


def rec_formats(currency: str, horizon_days: float | None = 365) -> dict[str, Callable]:
    """Header → cell formatter of the numeric recommendation columns (for sorting
    tables that keep the numbers, such as ``mo.ui.table``'s ``format_mapping``)."""
    h = rec_headers(currency, horizon_days)
    return {h["saving_kwh"]: lambda v: number(v),
            h["saving_money"]: lambda v: money(v, currency),
            h["verified_saving_money"]: lambda v: money(v, currency)}


def sort_table(frame: pd.DataFrame, by: str | None, descending: bool = True) -> pd.DataFrame:
    """``frame`` sorted by one column (missing values last, whatever the direction)."""
    if not by or by not in frame:
        return frame
    key = frame[by].map(lambda v: np.nan if _missing(v) else v)
    order = key.sort_values(ascending=not descending, na_position="last", kind="stable").index
    return frame.loc[order]


# -- HTML tables ----------------------------------------------------------------------------
def table_html(rows, columns: Mapping[str, str] | list[str] | None = None, *,
               formats: Mapping[str, Callable] | None = None,
               empty: str = "nothing to show", max_rows: int = 200, css_class: str = "",
               row_class: Callable[[pd.Series], str] | None = None) -> str:
    """A readable HTML table: every column fully visible (long text wraps in a
    column that keeps its width; the table scrolls sideways on a narrow page),
    numbers right-aligned, :data:`MISSING` for anything missing.

    ``columns`` picks columns (a list) or picks and renames them (a mapping).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    if isinstance(columns, Mapping):
        frame = frame[[c for c in columns if c in frame]].rename(columns=dict(columns))
    elif columns is not None:
        frame = frame[[c for c in columns if c in frame]]
    if frame.empty:
        return f"<p><i>{html.escape(empty)}</i></p>"
    frame = frame.head(max_rows)
    formats = dict(formats or {})
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            if c in formats:
                shown = formats[c](v)
            elif _missing(v):
                shown = MISSING
            elif numeric:
                shown = number(v, 0 if float(v).is_integer() else 2)
            else:
                shown = str(v)
            width = WIDE_COLUMNS.get(str(c))
            style = f' style="min-width:{width}px"' if width else ""
            cls = "num" if numeric or c in formats else "nowrap" if c in NOWRAP_COLUMNS else ""
            cls_attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{cls_attr}{style}>{html.escape(shown)}</td>")
        rc = f' class="{html.escape(row_class(r))}"' if row_class is not None else ""
        body.append(f"<tr{rc}>" + "".join(cells) + "</tr>")
    return (TABLE_CSS + f'<div class="pumplib-scroll"><table class="pumplib-table {css_class}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


FLAG_HEADERS = {"signal": "Signal", "flag": "Flag", "samples": "Samples", "meaning": "Meaning"}


def flags_html(flags: pd.DataFrame) -> str:
    """The quality flags of an evidence window, human headers."""
    return table_html(flags, FLAG_HEADERS, empty="No flags: every sample checked good.")


def lineage_table(lineage: list[dict], timezone: str) -> pd.DataFrame:
    """The commits behind an alert: when (local), what, kind, run, snapshot."""
    rows = [{"Written": local_text(c.get("written_at"), timezone), "What": text(c.get("message")),
             "Kind": text(c.get("kind")), "Run": text(c.get("run_id")),
             "Snapshot": text(c.get("snapshot"))[:12]} for c in lineage or []]
    return pd.DataFrame(rows, columns=["Written", "What", "Kind", "Run", "Snapshot"])


def lineage_html(lineage: list[dict], timezone: str) -> str:
    return table_html(lineage_table(lineage, timezone), empty="No lineage recorded.")


# -- alerts ---------------------------------------------------------------------------------
def alert_groups_html(groups: pd.DataFrame) -> str:
    """Alerts per asset and severity (from :func:`pumplib.ops.alerts.alert_groups`)."""
    if groups.empty:
        return ""
    frame = groups.reset_index().rename(columns={"asset": "Asset", "high": "High",
                                                 "medium": "Medium", "low": "Low",
                                                 "total": "All"})
    return table_html(frame, css_class="pumplib-alerts")


def alert_header(alert: dict, timezone: str) -> str:
    """The evidence heading of an alert, in markdown (local times, its status)."""
    who = f", assigned to {alert['assignee']}" if not _missing(alert.get("assignee")) else ""
    return (f"### Evidence: {alert['title']}\n\n"
            f"{text(alert.get('explanation'))}\n\n"
            f"**{alert['severity']}** {alert['kind']} alert · {alert['asset']} · "
            f"{local_text(alert['start'], timezone)} → {local_text(alert['end'], timezone)} · "
            f"status **{text(alert.get('status'))}**{who}")


def alerts_caption(n: int, scope_label: str, view: View) -> str:
    """The line above an alert list (also what browser tests wait for)."""
    return f"{n} alert{'s' if n != 1 else ''} · {scope_label} · level {view.level}"


def recs_caption(n: int, scope_label: str) -> str:
    """The line above a recommendation list."""
    return f"{n} recommendation{'s' if n != 1 else ''} · {scope_label}"


def rec_label(rec) -> str:
    """A recommendation's label in a picker: title · asset [rec_id] (unique, no status)."""
    get = rec.get if isinstance(rec, dict) else (lambda k: getattr(rec, k))
    title = str(get("title"))
    title = title if len(title) <= 90 else title[:89].rstrip() + "…"
    return f"{title} · {text(get('asset'))} [{get('rec_id')}]"
