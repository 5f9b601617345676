"""CLI: ``pumplib query`` (golden tables as CSV, Parquet or a table) and
``pumplib scorecard`` (a feature's quality and predictive power)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("table", "csv", "parquet")


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
        start: Annotated[str | None, typer.Option(help="First period (utility local time "
                                                  "unless an offset is given).")] = None,
        end: Annotated[str | None, typer.Option(help="End, exclusive.")] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | parquet")
                       ] = "table",
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here "
                                                    "(parquet needs it; csv defaults to "
                                                    "stdout).")] = None,
        store: Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                                  "(default: setting store.url).")] = None,
        max_points: Annotated[int, typer.Option(help="Points per series for --level auto.")
                              ] = 5000,
        as_of: Annotated[str | None, typer.Option(help="Read the lake as it was then.")
                         ] = None,
    ) -> None:
        """Golden-table values for some assets and a time range.

        Example: pumplib query energy_integral --assets NORTH --level 1D
        --start 2026-03-10 --end 2026-03-17 --format csv
        """
        from pumplib.errors import ArgumentError, UnknownNameError, choices_message
        from pumplib.query import query, to_frame

        with _exit_on_error():
            if fmt not in FORMATS:
                raise UnknownNameError(choices_message("format", fmt, FORMATS))
            if fmt == "parquet" and output is None:
                raise ArgumentError("--format parquet needs --output PATH")
            ids = None
            if assets:
                ids = [a.strip() for item in assets for a in item.split(",") if a.strip()]
            ds = query(features, assets=ids, level=level, start=start, end=end, store=store,
                       max_points=max_points, as_of=as_of)
            frame = to_frame(ds)
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
        else:
            from rich.table import Table

            if output is not None:
                output.write_text(frame.to_string(index=False) + "\n")
                return
            t = Table(title=f"query · {ds.attrs['level']}")
            for c in frame.columns:
                t.add_column(str(c), justify="left" if c in ("time", "asset") else "right")
            shown = frame.head(200)
            for row in shown.itertuples(index=False):
                t.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
            out.print(t)
            if len(frame) > len(shown):
                err.print(f"… {len(frame) - len(shown):,} more rows (use --format csv)")

    @app.command("scorecard")
    def scorecard_cmd(
        feature: Annotated[str, typer.Argument(help="Feature or column to score, e.g. "
                                               "runtime_mean.")],
        target: Annotated[str, typer.Option(help="Column to predict.")] = "energy_integral",
        level: Annotated[str, typer.Option(help="Level of feature and target.")] = "1h",
        horizon: Annotated[int, typer.Option(help="Periods ahead.")] = 1,
        assets: Annotated[list[str] | None, typer.Option("--assets", "-a")] = None,
        start: Annotated[str | None, typer.Option()] = None,
        end: Annotated[str | None, typer.Option()] = None,
        store: Annotated[str | None, typer.Option("--store", "-s")] = None,
        save: Annotated[bool, typer.Option(help="Store it in the lake (group scorecards).")
                        ] = False,
        backtest: Annotated[bool, typer.Option(help="Run the Darts back-test.")] = True,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Quality, stability and predictive power of a feature; refuses leaky ones."""
        from pumplib.validation import save_scorecard, scorecard

        with _exit_on_error():
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
