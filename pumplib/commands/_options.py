"""Options shared by the commands of several modules, declared once, and the checks
every command makes of what a person typed before anything is read or written.

A mistyped time, time zone or store is one line naming the option, the value
and what is expected (exit status 2), never a traceback from deep inside.
"""

from __future__ import annotations

from typing import Annotated

import typer

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", help="Store URL or folder "
                                              "(default: setting store.url).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ProgressOpt = Annotated[bool | None, typer.Option(
    "--progress/--no-progress",
    help="Draw progress bars on stderr (default: only on a terminal, never with --json).")]

#: how a time may be written on the command line (said by every time error)
TIME_FORMATS = ("YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or either with an offset such as "
                "+01:00 or Z")


def _name(param) -> str:
    """``--start`` for an option, ``START`` for an argument."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or \
        list(getattr(param, "opts", []))
    if opts and opts[0].startswith("-"):
        return opts[0]
    return str(getattr(param, "name", None) or "value").upper()


def check_time(value: str | None, option: str) -> str | None:
    """``value`` unchanged if pandas reads it as a time; else one clear error.

    Parameters
    ----------
    value : str or None
        What was typed (None passes).
    option : str
        How the person named it (``--start``, ``START``), for the message.

    Raises
    ------
    ArgumentError
        Not a time (``2026-03-32``, ``2026-13-01``, ``yesterday``).

    Examples
    --------
    >>> check_time("2026-03-10T06:00", "--start")
    '2026-03-10T06:00'
    >>> check_time("2026-03-32", "--start")
    Traceback (most recent call last):
    ...
    pumplib.errors.ArgumentError: --start '2026-03-32' is not a time (day is out of range for month); expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or either with an offset such as +01:00 or Z
    """
    if value is None:
        return None
    import pandas as pd

    from pumplib.errors import ArgumentError

    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        why = str(exc).split(":")[0].strip() if str(exc) else ""
        why = "" if not why or why.lower().startswith("unknown") else f" ({why})"
        raise ArgumentError(f"{option} {value!r} is not a time{why}; expected "
                            f"{TIME_FORMATS}") from None
    if ts is pd.NaT:
        raise ArgumentError(f"{option} {value!r} is not a time; expected {TIME_FORMATS}")
    if not 1900 <= ts.year <= 2200:
        raise ArgumentError(f"{option} {value!r} is year {ts.year}: expected a time between "
                            f"1900 and 2200, written {TIME_FORMATS}")
    return value


def check_timezone(value: str | None, option: str) -> str | None:
    """``value`` unchanged if it names an IANA time zone; else one line with close matches."""
    if value is None:
        return None
    import zoneinfo

    from pumplib.errors import UnknownNameError, close_matches

    try:
        zoneinfo.ZoneInfo(value)
        return value
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    near = close_matches(value, zoneinfo.available_timezones())
    hint = f" Did you mean {', '.join(repr(z) for z in near)}?" if near else ""
    raise UnknownNameError(f"{option}: unknown time zone {value!r}.{hint} Valid choices: IANA "
                           "names such as 'UTC', 'Europe/Amsterdam', 'America/New_York'")


def check_period(value: str | None, option: str) -> str | None:
    """``value`` unchanged if pandas reads it as a fixed period (``15min``, ``1h``, ``1D``)."""
    if value is None:
        return None
    import pandas as pd

    from pumplib.errors import ArgumentError

    try:
        pd.tseries.frequencies.to_offset(value)
        return value
    except (ValueError, TypeError):
        raise ArgumentError(f"{option} {value!r} is not a period; expected a number and a unit "
                            "such as '15min', '30min', '1h' or '1D'") from None


def check_cadence(value: str | None, option: str) -> str | None:
    """``value`` unchanged unless it is blank (the lake names the valid cadences itself)."""
    if value is not None and not value.strip():
        from pumplib.errors import ArgumentError

        raise ArgumentError(f"{option} is empty: give a cadence such as '1s' or '1min'")
    return value


def _cadence_callback(ctx, param, value):
    return check_cadence(value, _name(param))


def cadence_option(*decls: str, help: str) -> typer.models.OptionInfo:
    """A ``typer.Option`` for a raw grid's cadence (a blank value is refused when parsed)."""
    return typer.Option(*decls, help=help, callback=_cadence_callback)


def _time_callback(ctx, param, value):
    return check_time(value, _name(param))


def _zone_callback(ctx, param, value):
    return check_timezone(value, _name(param))


def time_option(*decls: str, help: str) -> typer.models.OptionInfo:
    """A ``typer.Option`` whose value must read as a time (checked when parsed)."""
    return typer.Option(*decls, help=help, callback=_time_callback)


def time_argument(help: str) -> typer.models.ArgumentInfo:
    """A ``typer.Argument`` whose value must read as a time (checked when parsed)."""
    return typer.Argument(help=help, callback=_time_callback)


def zone_option(*decls: str, help: str) -> typer.models.OptionInfo:
    """A ``typer.Option`` whose value must name a time zone (checked when parsed)."""
    return typer.Option(*decls, help=help, callback=_zone_callback)


def open_lake(store: str | None, *, data: bool = False):
    """The lake at ``store`` for reading: nothing is ever created.

    Parameters
    ----------
    store : str or None
        The ``--store`` value (None: setting ``store.url``).
    data : bool
        Require raw data: a lake with only its initial commit (a first ingest
        that failed or was killed) is one line, "no data yet: ingest files first".

    Raises
    ------
    LakeError
        No lake there (nothing is created), or no data yet when ``data`` is set.
    """
    from pumplib.errors import LakeError
    from pumplib.lake import Lake

    lake = Lake(store, create=False)
    if data and not lake_cadences(lake):
        raise LakeError(f"no data yet in the lake at {lake.url!r}: ingest files first "
                        f"(`pumplib ingest FILE… --store {lake.url}`)")
    return lake


def lake_cadences(lake) -> list[str]:
    """Cadences of raw data in ``lake``; ``[]`` for a lake with only its initial commit."""
    from zarr.errors import GroupNotFoundError

    try:
        return lake.cadences()
    except (GroupNotFoundError, FileNotFoundError):   # no root group yet
        return []


def check_output(path, option: str):
    """``path`` unchanged if a file can be written there (its folder exists)."""
    if path is None:
        return None
    from pathlib import Path

    from pumplib.errors import ArgumentError

    p = Path(path)
    if p.is_dir():
        raise ArgumentError(f"{option} {str(p)!r} is a folder; give a file name")
    if not p.parent.is_dir():
        raise ArgumentError(f"{option} {str(p)!r}: folder {str(p.parent)!r} does not exist")
    return path


def check_input(path, option: str, what: str = "file"):
    """``path`` unchanged if it is an existing file; else one line naming it."""
    if path is None:
        return None
    from pathlib import Path

    from pumplib.errors import ArgumentError

    p = Path(path)
    if not p.exists():
        raise ArgumentError(f"{option} {str(p)!r}: no such {what}")
    if p.is_dir():
        raise ArgumentError(f"{option} {str(p)!r} is a folder; give a {what}")
    return path
