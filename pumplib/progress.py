"""Progress bars of long commands: on a terminal, never when piped or with ``--json``.

One rule decides whether a bar is drawn (:func:`wanted`), so every command
behaves alike:

1. ``--json`` output: never (the output is for a program);
2. an explicit ``--progress`` / ``--no-progress``: as asked;
3. otherwise: only when stderr is a terminal (not piped, not a log file,
   not a Jupyter kernel).

Bars go to stderr (tqdm), so they never mix with stdout. They are drawn
with ``leave=False``: a finished bar clears its line. :func:`close_all`
clears every bar still drawn, so an error printed next starts on a fresh
line (:func:`pumplib.cli._exit_on_error` calls it before printing an error).
Lines logged while a bar is drawn go above it (:func:`above`).

Examples
--------
>>> wanted(True, as_json=True)
False
>>> with task("validate", show=False) as tick:
...     tick(1, 2)
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator

#: seconds between redraws of a bar's elapsed time while nothing else moves it
REFRESH_S = 0.5


def wanted(show: bool | None = None, *, as_json: bool = False, stream=None) -> bool:
    """Whether a long command draws progress bars (the one rule above).

    Parameters
    ----------
    show : bool, optional
        ``--progress`` (True) or ``--no-progress`` (False); None decides by
        the terminal.
    as_json : bool
        The command prints JSON: never a bar.
    stream : file, optional
        Where bars go (default ``sys.stderr``).

    Examples
    --------
    >>> import io
    >>> wanted(None, stream=io.StringIO()), wanted(True, stream=io.StringIO())
    (False, True)
    """
    if as_json:
        return False
    if show is not None:
        return bool(show)
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):   # closed or not a real file
        return False


def _tqdm():
    from tqdm.std import tqdm  # the terminal bar, never a notebook widget

    return tqdm


class _Refresher(threading.Thread):
    """Redraws a bar every :data:`REFRESH_S` so its elapsed time moves during a long step."""

    def __init__(self, bar) -> None:
        super().__init__(name="pumplib-progress", daemon=True)
        self.bar, self.stop = bar, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(REFRESH_S):
            if self.bar.disable:
                return
            self.bar.refresh()


def bar(desc: str, *, total: int | None = None, unit: str = "it", show: bool = True,
        bar_format: str | None = None):
    """A tqdm bar on stderr (disabled when ``show`` is false) that clears its line when closed."""
    return _tqdm()(desc=desc, total=total, unit=unit, leave=False, file=sys.stderr,
                   disable=not show, dynamic_ncols=True, bar_format=bar_format)


@contextlib.contextmanager
def _drawn(b) -> Iterator:
    ticker = _Refresher(b) if not b.disable else None
    if ticker is not None:
        ticker.start()
    try:
        yield b
    finally:
        if ticker is not None:
            ticker.stop.set()
            ticker.join()
        b.close()


@contextlib.contextmanager
def task(desc: str, show: bool, unit: str = "block") -> Iterator[Callable[[int, int], None]]:
    """A bar fed by ``tick(done, total)`` callbacks (the library's ``progress=`` hooks).

    The bar is closed (its line cleared) when the block ends, also on an error.
    """
    with _drawn(bar(desc, unit=unit, show=show)) as b:
        def tick(done: int, total: int) -> None:
            if b.total != total:
                b.total = total
            b.update(done - b.n)

        yield tick


@contextlib.contextmanager
def activity(desc: str, show: bool) -> Iterator:
    """A bar for a step that reports no progress of its own: its name and the time it runs."""
    with _drawn(bar(desc, show=show, bar_format="{desc} … {elapsed}")) as b:
        yield b


class _DaskTasks:
    """A dask callback moving a bar by finished tasks (local schedulers only)."""

    def __init__(self, b) -> None:
        from dask.callbacks import Callback

        def posttask(key, result, dsk, state, worker_id):
            done = len(state["finished"])
            total = done + sum(len(state[k]) for k in ("ready", "waiting", "running"))
            b.total = total
            b.update(done - b.n)

        self.callback = Callback(posttask=posttask)


@contextlib.contextmanager
def dask_tasks(desc: str, show: bool) -> Iterator:
    """A bar of the dask tasks computed in the block (elapsed time only on a cluster)."""
    with _drawn(bar(desc, unit="task", show=show)) as b:
        if b.disable:
            yield b
            return
        with _DaskTasks(b).callback:
            yield b


def close_all() -> None:
    """Close (clear) every bar still drawn, so the next line printed starts fresh.

    A bar left open by an error (an iterator bar the error escaped from) would
    otherwise share its line with the error message.
    """
    tqdm = _tqdm()
    for b in list(getattr(tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            b.close()


def above(print_line: Callable[[str], None]) -> Callable[[str], None]:
    """``print_line`` wrapped so each line goes above the bars drawn, never into them."""
    def write(msg: str) -> None:
        with _tqdm().external_write_mode(file=sys.stderr):
            print_line(msg)

    return write


__all__ = ["above", "activity", "bar", "close_all", "dask_tasks", "task", "wanted"]
