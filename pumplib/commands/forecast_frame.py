"""``pumplib forecast frame``: forecast a plain CSV table of series (no lake needed).

Registered on the ``forecast`` group of :mod:`pumplib.commands.run` (this module
is imported first, by name order, and adds its command to that group).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .run import forecast_app


def register(app) -> None:
    forecast_app.command("frame")(forecast_frame_cmd)


def forecast_frame_cmd(
    history: Annotated[Path, typer.Argument(help="CSV: a 'time' column (ISO 8601 with UTC "
                                            "offset) and one column per series.")],
    horizon: Annotated[int, typer.Option("--horizon", help="Periods to forecast.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV: time, <series>, "
                                           "<series>_q10, <series>_q90.")],
    covariates: Annotated[Path | None, typer.Option("--covariates", help="CSV: 'time' "
                          "covering history and horizon, numeric columns (weather).")] = None,
    holidays: Annotated[str | None, typer.Option("--holidays", help="Country code of the "
                        "holidays package, e.g. IT.")] = None,
) -> None:
    """Forecast every series of HISTORY.csv; the model is chosen by back-test on it."""
    from pumplib.cli import _exit_on_error, out

    with _exit_on_error():
        from pumplib.forecast import forecast_frame

        table = forecast_frame(history, horizon, covariates=covariates, holidays=holidays)
        table = table.copy()
        if table.attrs.get("level") != "1D":
            table["time"] = table["time"].map(lambda t: t.isoformat())
        else:
            table["time"] = table["time"].dt.strftime("%Y-%m-%d")
        table.to_csv(out_path, index=False)
    models = table.attrs.get("models", {})
    out.print(f"{out_path}: {len(table)} periods × {len(models)} series; models "
              + ", ".join(f"{s}={m}" for s, m in models.items()), highlight=False)
