"""CLI: ``pumplib query`` (golden tables as CSV, Parquet or a table) and
``pumplib scorecard`` (a feature's quality and predictive power).

The table format labels periods in the utility's local time (the zone heads
the time column), puts each column's units under its name, and never cuts a
header: long names wrap at ``_``, and columns that do not fit the terminal go
on to a further table that repeats ``time`` and ``asset`` (see
:func:`render_tables`).
"""

from __future__ import annotations

import json
import math
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._options import check_output, open_lake, time_option

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

FORMATS = ("table", "csv", "parquet")
#: rows the table format shows on a terminal (CSV and Parquet have them all)
MAX_TABLE_ROWS = 200
#: exit status of ``pumplib query`` when the range asked for holds no data
EXIT_NO_DATA = 1
_KEYS = ("time", "asset")
_DAY_LEVELS = ("1D", "1W", "1M")


def _pieces(text: str) -> list[str]:
    """``'specific_energy_mean'`` → ``['specific_', 'energy_', 'mean']`` (break after ``_``/``/``)."""
    return re.findall(r"[^_/]+[_/]*|[_/]+", text) or [text]


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` (or one piece, if longer), broken only after ``_`` or ``/``."""
    lines: list[str] = []
    for piece in _pieces(text):
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return lines


def _units_line(units: str | None) -> str:
    if units is None or units == "":
        return ""
    return "[-]" if units == "1" else f"[{units}]"


def _cells(frame: pd.DataFrame, column: str, level: str | None) -> list[str]:
    import pandas as pd

    values = frame[column]
    if column == "time" and isinstance(values.dtype, pd.DatetimeTZDtype):
        local = values.dt
        dates = level in _DAY_LEVELS and bool((local.normalize() == values).all())
        return list(local.strftime("%Y-%m-%d" if dates else "%Y-%m-%d %H:%M %Z"))
    out = []
    for v in values:
        if isinstance(v, float):
            out.append("–" if math.isnan(v) else f"{v:.4g}")
        else:
            out.append(str(v))
    return out


def render_tables(frame: pd.DataFrame, *, width: int = 80, title: str = "query",
                  max_rows: int | None = MAX_TABLE_ROWS) -> list[Table]:
    """A query table as rich Tables that fit ``width`` with every header whole.

    Each header is the column name, wrapped after ``_`` where it is longer
    than its values, with its units (``frame.attrs['units']``) on a line below;
    the ``time`` header names the zone of its labels (``frame.attrs['timezone']``),
    which are local dates for day, week and month levels and local times with
    the zone's abbreviation below that. Value columns that do not fit beside
    ``time`` and ``asset`` go on to another table (like pandas wraps wide
    frames), so no header is ever cut short and two columns never look alike.

    Examples
    --------
    >>> import pandas as pd
    >>> from rich.console import Console
    >>> f = pd.DataFrame({"time": pd.to_datetime(["2026-03-09 23:00"]).tz_localize("UTC")
    ...                   .tz_convert("Europe/Amsterdam"), "asset": ["N-P1"],
    ...                   "energy_integral": [704.97]})
    >>> f.attrs = {"units": {"energy_integral": "kWh"}, "timezone": "Europe/Amsterdam",
    ...            "level": "1D"}
    >>> Console(width=80).print(*render_tables(f, width=80))      # doctest: +NORMALIZE_WHITESPACE
                   query · 1D
    ┏━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━┓
    ┃ time       ┃       ┃                 ┃
    ┃ Europe/    ┃       ┃ energy_integral ┃
    ┃ Amsterdam  ┃ asset ┃           [kWh] ┃
    ┡━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━┩
    │ 2026-03-10 │ N-P1  │             705 │
    └────────────┴───────┴─────────────────┘
    """
    from rich.table import Table
    from rich.text import Text

    attrs = dict(frame.attrs)
    units = attrs.get("units") or {}
    level = attrs.get("level")
    shown = frame if max_rows is None else frame.head(max_rows)
    cells = {str(c): _cells(shown, c, level) for c in shown.columns}
    widths: dict[str, int] = {}       # the narrowest each column can be without cutting
    extras: dict[str, str] = {}
    for c in map(str, shown.columns):
        extras[c] = str(attrs["timezone"]) if c == "time" and attrs.get("timezone") \
            else _units_line(units.get(c))
        pieces = _pieces(c) + (_pieces(extras[c]) if c == "time" else [extras[c]])
        widths[c] = max(len(x) for x in cells[c] + pieces)
    keys = [c for c in _KEYS if c in cells]
    rest = [c for c in cells if c not in keys]
    room = width - (sum(widths[c] + 3 for c in keys) + 1)
    blocks: list[list[str]] = []
    for c in rest:
        if blocks and sum(widths[b] + 3 for b in blocks[-1]) + widths[c] + 3 <= room:
            blocks[-1].append(c)
        else:
            blocks.append([c])
    blocks = blocks or [[]]
    tables = []
    for block in blocks:
        wide = dict(widths)
        for cap in range(max(len(c) for c in block) if block else 0, 0, -1):
            # room to spare: the widest common line length that fits (names on fewer lines)
            trial = {c: max(widths[c], min(len(c), cap)) for c in block}
            if sum(w + 3 for w in trial.values()) <= room:
                wide.update(trial)
                break
        name = f"{title} · {level}" if level else title
        if len(blocks) > 1:
            first, last = rest.index(block[0]) + 1, rest.index(block[-1]) + 1
            name += (f" · column {first}" if first == last else f" · columns {first}–{last}") \
                + f" of {len(rest)}"
        t = Table(title=name)
        for c in keys + block:
            head = [c, *_wrap(extras[c], wide[c])] if c == "time" else \
                _wrap(c, wide[c]) + ([extras[c]] if extras[c] else [])
            t.add_column(Text("\n".join(head)), overflow="fold",
                         justify="left" if c in keys else "right")
        for r in range(len(shown)):
            t.add_row(*(Text(cells[c][r]) for c in keys + block))
        tables.append(t)
    return tables


def _write(frame, ds, fmt: str, output: Path | None, err, out) -> None:
    """Write a query table as ``fmt`` to ``output`` (or the terminal); a summary to ``err``."""
    err.print(f"{len(frame):,} rows · level {ds.attrs['level']}"
              f"{' (auto)' if ds.attrs.get('level_chosen') == 'auto' else ''} · snapshot "
              f"{ds.attrs.get('snapshot', '?')}", highlight=False)
    if fmt == "parquet":
        frame.to_parquet(output, index=False)
        err.print(f"wrote {output}")
    elif fmt == "csv":
        if output is not None:
            frame.to_csv(output, index=False)
            err.print(f"wrote {output}")
        else:
            frame.to_csv(sys.stdout, index=False)
    elif output is not None:
        from rich.console import Console

        with output.open("w", encoding="utf-8") as fh:
            Console(file=fh, width=out.width, no_color=True, highlight=False).print(
                *render_tables(frame, width=out.width, max_rows=None))
        err.print(f"wrote {output}")
    else:
        out.print(*render_tables(frame, width=out.width))
        if len(frame) > MAX_TABLE_ROWS:
            err.print(f"… {len(frame) - MAX_TABLE_ROWS:,} more rows (use --format csv)")


def register(app) -> None:
    from pumplib.cli import _exit_on_error, err, out

    @app.command("query")
    def query_cmd(
        features: Annotated[list[str], typer.Argument(help="Feature names (all their columns) "
                                                      "or exact columns, e.g. energy "
                                                      "runtime_duration.")],
        assets: Annotated[list[str] | None, typer.Option(
            "--assets", "-a", help="Asset ids, stations, types, tags or a phrase like "
            "'variable-speed pumps at NORTH' (repeat or comma-separate; default: all).")] = None,
        level: Annotated[str, typer.Option(help="1min, 15min, 1h, 1D, 1W, 1M or auto.")
                         ] = "auto",
        start: Annotated[str | None, time_option(help="First period (utility local time "
                                                 "unless an offset is given).")] = None,
        end: Annotated[str | None, time_option(help="End, exclusive.")] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | parquet")
                       ] = "table",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here "
                                                    "(parquet needs it; csv defaults to "
                                                    "stdout).")] = None,
        store: Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                                  "(default: setting store.url).")] = None,
        max_points: Annotated[int, typer.Option(help="Points per series for --level auto.")
                              ] = 5000,
        as_of: Annotated[str | None, time_option(help="Read the lake as it was then.")
                         ] = None,
    ) -> None:
        """Golden-table values for some assets and a time range.

        Times are the utility's local time: --start/--end without an offset
        are local, and every format labels periods in local time with the zone
        (the table format names it above the time column; CSV and Parquet keep
        the offset). Table headers carry the units.

        Exit status: 0 with data; 1 when the range holds no value (no period,
        or every value missing: one line on stderr says why and names the range
        that has data; rows without values are still written); 2 on bad input,
        a missing lake or a lake with no data yet.

        Example: pumplib query energy_integral --assets NORTH --level 1D
        --start 2026-03-10 --end 2026-03-17 --format csv
        """
        from pumplib.errors import ArgumentError, NoDataWarning, UnknownNameError, choices_message
        from pumplib.query import query, to_frame

        with _exit_on_error(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NoDataWarning)
            if fmt not in FORMATS:
                raise UnknownNameError(choices_message("format", fmt, FORMATS))
            if fmt == "parquet" and output is None:
                raise ArgumentError("--format parquet needs --output PATH")
            check_output(output, "--output")
            open_lake(store, data=True)
            ids = None
            if assets:
                ids = [a.strip() for item in assets for a in item.split(",") if a.strip()]
            ds = query(features, assets=ids, level=level, start=start, end=end, store=store,
                       max_points=max_points, as_of=as_of)
            frame = to_frame(ds)
        no_data = [w for w in caught if issubclass(w.category, NoDataWarning)]
        for w in caught:
            if w not in no_data:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if no_data:
            from rich.markup import escape

            reason = escape(str(no_data[0].message).removeprefix("query: "))
            err.print(f"[bold yellow]no data:[/] {reason}", highlight=False, soft_wrap=True)
            if not len(frame):
                raise typer.Exit(EXIT_NO_DATA)
        _write(frame, ds, fmt, output, err, out)
        if no_data:                      # rows without a value (their coverage says why)
            raise typer.Exit(EXIT_NO_DATA)

    @app.command("scorecard")
    def scorecard_cmd(
        feature: Annotated[str, typer.Argument(help="Feature or column to score, e.g. "
                                               "runtime_mean.")],
        target: Annotated[str, typer.Option(help="Column to predict.")] = "energy_integral",
        level: Annotated[str, typer.Option(help="Level of feature and target.")] = "1h",
        horizon: Annotated[int, typer.Option(help="Periods ahead.")] = 1,
        assets: Annotated[list[str] | None, typer.Option("--assets", "-a")] = None,
        start: Annotated[str | None, time_option(help="First period (utility local time).")
                         ] = None,
        end: Annotated[str | None, time_option(help="End, exclusive.")] = None,
        store: Annotated[str | None, typer.Option("--store", "-s")] = None,
        save: Annotated[bool, typer.Option(help="Store it in the lake (group scorecards).")
                        ] = False,
        backtest: Annotated[bool, typer.Option(help="Run the Darts back-test.")] = True,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Quality, stability and predictive power of a feature; refuses leaky ones."""
        from pumplib.validation import save_scorecard, scorecard

        with _exit_on_error():
            open_lake(store, data=True)
            ids = [a.strip() for item in assets for a in item.split(",")] if assets else None
            card = scorecard(feature, target=target, level=level, assets=ids, start=start,
                             end=end, horizon=horizon, store=store, backtest=backtest)
            key = save_scorecard(card, store) if save else None
        if as_json:
            sys.stdout.write(json.dumps({**card.to_dict(), "saved_as": key}, indent=2,
                                        default=str) + "\n")
            return
        from rich.table import Table

        t = Table(title=f"scorecard {card.key}")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for k, v in card.summary().items():
            t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
        out.print(t)
        if key:
            err.print(f"saved as scorecards/{key}")
