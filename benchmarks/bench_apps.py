"""The operations apps as people meet them: first render and a selector change, in Chromium.

Each case is a function ``case_<name>(env, runs) -> dict`` registered in
:data:`CASES` (add one, e.g. a JupyterLab notebook's first chart, by writing
a function and listing it). Every run starts a fresh server
(:func:`pumplib.serve.serve_ops`, the way ``pumplib serve ops`` does) and a
fresh Chromium profile, with every request that leaves localhost aborted and
counted (it must stay 0). Times:

* ``server_start``: from starting the server process until it is ready
  (marimo: its first HTTP answer; the launcher imports pumplib and computes the
  first page before listening; Voila: its kept ("preheated") kernel has run the
  dashboard, as ``pumplib serve ops --voila`` does by default;
  ``voila_first_render_at_start`` opens the page at the first HTTP answer instead);
* ``first_render``: from ``page.goto`` to the KPI tiles *and* the four
  interactive charts on screen (a rendered Bokeh canvas each);
* ``interaction``: on a loaded page, one change of the scope selector until
  the page says the new scope and the charts are drawn anew.

Baseline in the same run: ``marimo_floor``, a one-cell marimo app with four
empty Bokeh panels served the same way (what marimo, Panel and Bokeh cost on
this machine before any pumplib work). The app as it was before the charts
became interactive cannot be run against today's library.

p50/p95 over the runs (5 by default; ``--quick``: a smoke run, 1 run and 2
changes). Targets: app first render ≤ 3 s, interaction p95 ≤ 1 s, Voila first
render ≤ 5 s. The daily quality scores a first page needs are cached on disk
per lake snapshot (``ops.cache_dir``); the cache is filled once before the
runs and its filling is reported apart (``cache_fill_s``).

Run: ``.venv/bin/python benchmarks/bench_apps.py [--store PATH] [--runs 5] [--quick]
[--cases marimo_first_render,voila_first_render,…]``. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))               # tests/browser.py: the offline Chromium

from tests.browser import COUNT_CANVASES  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "apps"
REGISTRY = ROOT / "catalogs" / "assets.yaml"
TIMEOUT_MS = 300_000
TARGETS = {"marimo_first_render": 3.0, "marimo_interaction": 1.0, "voila_first_render": 5.0}

#: mark the canvases on screen, so a redraw (new canvases) can be told from the old picture
MARK_CHARTS = """() => {
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'CANVAS') el.dataset.benchOld = '1';
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document);
}"""
NEW_CHARTS = """(n) => {
  let fresh = 0;
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'CANVAS' && !el.dataset.benchOld) fresh++;
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document);
  return fresh >= n;
}"""


# -- the environment the cases share ---------------------------------------------------------
class Env:
    """Store, registry, cache folder and the Chromium launcher of one benchmark run."""

    def __init__(self, store: str, cache: str):
        self.store = store
        self.cache = cache
        self.blocked: list[str] = []

    def serve(self, kind: str, *, wait_preheated: bool = True, **kw) -> tuple[str, float]:
        """Start a fresh server; return its URL and the seconds until it was ready.

        Voila keeps one kernel that has run the dashboard ready for the next
        visitor (``serve_ops`` preheats by default); with ``wait_preheated`` the
        server counts as ready once that kernel is idle (``/api/kernels``), as it
        is for anyone who comes after the start.
        """
        from pumplib import config
        from pumplib.serve import serve_ops

        t0 = time.perf_counter()
        with config.set({"ops.cache_dir": self.cache}):
            url = serve_ops(self.store, kind=kind, block=False, registry=REGISTRY,
                            actions="sqlite://", timeout=TIMEOUT_MS / 1000, **kw)
        if kind == "voila" and wait_preheated and kw.get("preheat", True):
            _wait_idle_kernel(url)
        return url, time.perf_counter() - t0

    @staticmethod
    def stop(url: str) -> None:
        from pumplib.serve import stop

        stop(url)

    def browser(self, playwright, profile: str | None = None):
        """A Chromium that reaches only localhost (``tests/browser.py``: requests elsewhere
        fail at a dead local proxy and are counted; nothing is intercepted, so the HTTP
        cache works as in an operator's browser). A fresh profile unless one is given."""
        from tests.browser import launch_offline

        fresh = profile is None
        profile = profile or tempfile.mkdtemp(prefix="bench-apps-chromium-")
        ctx, blocked = launch_offline(playwright, Path(profile), height=1100,
                                      timeout_ms=TIMEOUT_MS)
        ctx.on("close", lambda _c: self.blocked.extend(blocked))
        ctx._bench_profile = profile if fresh else None
        return ctx

    @staticmethod
    def close(ctx) -> None:
        profile = getattr(ctx, "_bench_profile", None)
        ctx.close()
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def _wait_idle_kernel(url: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Wait until the Voila server's preheated kernel has run the dashboard: a kernel
    process exists and the server's processes have been idle (< 5 % CPU) for a second."""
    import psutil

    from pumplib.serve import SERVERS

    root = psutil.Process(SERVERS[url].pid)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        procs = [root, *root.children(recursive=True)]
        _cpu(procs)
        time.sleep(0.5)
        busy = _cpu(procs)
        kernels = [pr for pr in procs[1:] if "ipykernel" in " ".join(_cmdline(pr))]
        quiet = quiet + 1 if kernels and busy < 5.0 else 0
        if quiet >= 2:
            return
    raise TimeoutError(f"the Voila server at {url} did not settle within {timeout:.0f} s")


def _cpu(procs) -> float:
    """CPU percent of ``procs`` since the last call (processes that ended count 0)."""
    import psutil

    total = 0.0
    for pr in procs:
        with contextlib.suppress(psutil.Error):
            total += pr.cpu_percent(interval=None)
    return total


def _cmdline(proc) -> list[str]:
    try:
        return proc.cmdline()
    except Exception:  # noqa: BLE001 - a process that just ended
        return []


def _wait_charts(page, n: int = 4) -> None:
    page.wait_for_function(f"() => ({COUNT_CANVASES})() >= {n}", timeout=TIMEOUT_MS)


def _first_render(env: Env, kind: str, runs: int, *, wait_preheated: bool = True,
                  returning: bool = False, **serve_kw) -> dict:
    """Fresh server per run; a fresh browser profile, or (``returning``) the profile of a
    browser that opened the app before, at the same address (an operator's screen after
    the server restarted: the app's files come from the browser's cache)."""
    from playwright.sync_api import sync_playwright

    from pumplib.serve import free_port

    profile = tempfile.mkdtemp(prefix="bench-apps-returning-") if returning else None
    if returning:
        serve_kw["port"] = free_port()
    starts, tiles, renders = [], [], []
    with sync_playwright() as p:
        if returning:                                   # the earlier visit
            url, _ = env.serve(kind, wait_preheated=wait_preheated, **serve_kw)
            try:
                ctx = env.browser(p, profile)
                page = ctx.new_page()
                page.goto(url, timeout=TIMEOUT_MS)
                _wait_charts(page)
                ctx.close()
            finally:
                env.stop(url)
        for _ in range(runs):
            url, started = env.serve(kind, wait_preheated=wait_preheated, **serve_kw)
            try:
                ctx = env.browser(p, profile)
                page = ctx.new_page()
                t0 = time.perf_counter()
                page.goto(url, timeout=TIMEOUT_MS)
                page.locator("[data-kpi=energy]").first.wait_for(timeout=TIMEOUT_MS)
                t_tiles = time.perf_counter() - t0
                _wait_charts(page)
                renders.append(time.perf_counter() - t0)
                tiles.append(t_tiles)
                starts.append(started)
                Env.close(ctx)
            finally:
                env.stop(url)
    if profile:
        shutil.rmtree(profile, ignore_errors=True)
    return {"first_render_s": _stats(renders), "tiles_s": _stats(tiles),
            "server_start_s": _stats(starts)}


def _interaction(env: Env, kind: str, changes: int, **serve_kw) -> dict:
    """One loaded page; the scope selector changed ``changes`` times (pumps in turn)."""
    import re

    from playwright.sync_api import sync_playwright

    scopes = ["Pump N-P3 (NORTH)", "Pump S-P1 (SOUTH)", "Pump N-P1 (NORTH)",
              "Pump S-P2 (SOUTH)", "Pump N-P2 (NORTH)"]
    times = []
    with sync_playwright() as p:
        url, _started = env.serve(kind, **serve_kw)
        try:
            ctx = env.browser(p)
            page = ctx.new_page()
            page.goto(url, timeout=TIMEOUT_MS)
            page.locator("[data-kpi=energy]").first.wait_for(timeout=TIMEOUT_MS)
            _wait_charts(page)
            page.wait_for_timeout(1000)
            for i in range(changes):
                label = scopes[i % len(scopes)]
                sel = page.locator("select", has=page.locator("option", has_text=label)).first
                option = next(o for o in sel.locator("option").all_inner_texts()
                              if o.replace("\xa0", " ").strip() == label)
                page.evaluate(MARK_CHARTS)
                t0 = time.perf_counter()
                sel.select_option(label=option)
                page.get_by_text(re.compile(re.escape(label) + r" · level")).first.wait_for(
                    timeout=TIMEOUT_MS)
                page.wait_for_function(NEW_CHARTS, arg=4, timeout=TIMEOUT_MS)
                times.append(time.perf_counter() - t0)
                page.wait_for_timeout(300)
            Env.close(ctx)
        finally:
            env.stop(url)
    return {"interaction_s": _stats(times)}


# -- the cases ----------------------------------------------------------------------------------
def case_marimo_first_render(env: Env, runs: int) -> dict:
    """The marimo operations app: fresh server, fresh browser, first page with charts."""
    return _first_render(env, "marimo", runs)


def case_marimo_first_render_returning(env: Env, runs: int) -> dict:
    """The marimo operations app: fresh server, a browser that opened it before (same
    address), first page with charts: what an operator's screen sees after a restart."""
    return _first_render(env, "marimo", runs, returning=True)


def case_marimo_interaction(env: Env, runs: int) -> dict:
    """The marimo app: one scope change until the new charts are drawn."""
    return _interaction(env, "marimo", max(runs, 2))


FLOOR_APP = """import marimo
app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo
    import panel as pn
    from bokeh.layouts import gridplot
    from bokeh.plotting import figure

    from pumplib.ui.charts import setup

    setup()
    figs = []
    for _k in range(4):
        _f = figure(width=900, height=170, x_axis_type="datetime")
        _f.quad(left=[0], right=[1], top=[1], bottom=[0])
        figs.append(_f)
    mo.vstack([mo.Html('<div data-kpi="energy">floor</div>'),
               pn.pane.Bokeh(gridplot([[f] for f in figs]))])
    return


if __name__ == "__main__":
    app.run()
"""


def case_marimo_floor(env: Env, runs: int) -> dict:
    """The baseline: a one-cell marimo app with the same four (empty) Bokeh panels, served
    the same way: what marimo, Panel and Bokeh cost on this machine before any pumplib work."""
    import subprocess

    from playwright.sync_api import sync_playwright

    from pumplib.serve import _kill, free_port, wait_ready, warm_session

    folder = Path(tempfile.mkdtemp(prefix="bench-apps-floor-"))
    app = folder / "floor.py"
    app.write_text(FLOOR_APP)
    launcher = "import sys\nimport pumplib.ui.charts\nfrom marimo._cli.cli import main\nsys.exit(main())\n"
    starts, renders = [], []
    try:
        with sync_playwright() as p:
            for _ in range(runs):
                port = free_port()
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    [sys.executable, "-c", launcher, "run", str(app), "--headless", "--port",
                     str(port), "--no-token", "--no-check"], cwd=ROOT,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                base = f"http://127.0.0.1:{port}/"
                try:
                    wait_ready(base, proc, timeout=TIMEOUT_MS / 1000)
                    warm_session(base)
                    starts.append(time.perf_counter() - t0)
                    ctx = env.browser(p)
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    page.goto(base, timeout=TIMEOUT_MS)
                    page.locator("[data-kpi=energy]").first.wait_for(timeout=TIMEOUT_MS)
                    _wait_charts(page)
                    renders.append(time.perf_counter() - t0)
                    Env.close(ctx)
                finally:
                    _kill(proc)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"first_render_s": _stats(renders), "server_start_s": _stats(starts)}


def case_voila_first_render(env: Env, runs: int) -> dict:
    """The Voila dashboard (as ``pumplib serve ops --voila`` serves it)."""
    return _first_render(env, "voila", runs)


def case_voila_first_render_at_start(env: Env, runs: int) -> dict:
    """The Voila dashboard opened the moment its server answers (the preheated kernel is
    still running the dashboard, so the visitor waits for it)."""
    return _first_render(env, "voila", runs, wait_preheated=False)


def case_voila_interaction(env: Env, runs: int) -> dict:
    """The Voila dashboard: one scope change until the new charts are drawn."""
    return _interaction(env, "voila", max(runs, 2))


def case_jupyterlab_first_chart(env: Env, runs: int) -> dict:
    """A data scientist's first chart: a fresh JupyterLab (started in ``notebooks/`` of a
    copy of the project whose store is the benchmark lake) and a fresh browser; open
    ``02_explore_station``, Run All Cells. Times: the notebook open with its kernel
    ready, and from Run All until the first chart cell (``line_chart``) is drawn."""
    from playwright.sync_api import sync_playwright

    from tests.browser import jupyterlab, open_notebook, stop_kernels

    opened, charted = [], []
    work = Path(tempfile.mkdtemp(prefix="bench-apps-lab-"))
    try:
        top = work / "utility"
        (top / "notebooks").mkdir(parents=True)
        shutil.copy(ROOT / "pumplib-project.yaml", top)
        (top / "catalogs").symlink_to(ROOT / "catalogs")
        (top / "store").symlink_to(Path(env.store).resolve())
        shutil.copy(ROOT / "notebooks" / "02_explore_station.ipynb", top / "notebooks")
        with sync_playwright() as p:
            for i in range(runs):
                with jupyterlab(top / "notebooks", work / f"run{i}") as (base, token):
                    ctx = env.browser(p)
                    page = ctx.new_page()
                    t0 = time.perf_counter()
                    open_notebook(page, base, token, "02_explore_station.ipynb")
                    t1 = time.perf_counter()
                    page.evaluate("() => { window.jupyterapp.commands.execute("
                                  "'notebook:run-all-cells'); }")
                    page.locator(".jp-OutputArea canvas").first.wait_for(timeout=TIMEOUT_MS)
                    t2 = time.perf_counter()
                    opened.append(t1 - t0)
                    charted.append(t2 - t1)
                    stop_kernels(base, token)
                    Env.close(ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"first_render_s": _stats(charted), "notebook_open_s": _stats(opened)}


#: name → case; a new case is a function of (env, runs) returning a dict of stats
CASES: dict[str, Callable[[Env, int], dict]] = {
    "marimo_floor": case_marimo_floor,
    "marimo_first_render": case_marimo_first_render,
    "marimo_interaction": case_marimo_interaction,
    "voila_first_render": case_voila_first_render,
    "voila_first_render_at_start": case_voila_first_render_at_start,
    "voila_interaction": case_voila_interaction,
    "marimo_first_render_returning": case_marimo_first_render_returning,
    "jupyterlab_first_chart": case_jupyterlab_first_chart,
}


# -- helpers ------------------------------------------------------------------------------------
def _stats(xs: list[float]) -> dict:
    xs = sorted(float(x) for x in xs)
    if not xs:
        return {"n": 0}
    p95 = xs[min(len(xs) - 1, max(0, round(0.95 * (len(xs) - 1))))] if len(xs) > 1 else xs[0]
    return {"n": len(xs), "p50": round(statistics.median(xs), 2), "p95": round(p95, 2),
            "min": round(xs[0], 2), "max": round(xs[-1], 2)}


def _store(path: str | None) -> str:
    if path:
        return path
    store = WORK / "store"
    if not (store / "repo").exists() and not any(store.glob("*")):
        from pumplib import outliers, recommend
        from pumplib.pipeline import run_demo

        WORK.mkdir(parents=True, exist_ok=True)
        print(f"building the sample lake in {store} …", flush=True)
        run_demo(store=str(store), sample=ROOT / "data_samples", registry=REGISTRY,
                 log=lambda _m: None, progress=False)
        recommend.recommend(str(store), REGISTRY, write=True)
        outliers.detect_lake(str(store), assets=["N-P3", "S-P1"], start="2026-03-12",
                             end="2026-03-16", method="none")
    return str(store)


def _fill_cache(store: str, cache: str) -> float:
    from pumplib.ops import Operations

    t0 = time.perf_counter()
    Operations(store, REGISTRY, "sqlite://", cache_dir=cache).quality_days()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="a lake built by `pumplib demo` with recommendations "
                                    "and outlier events (default: build one)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 run per case")
    ap.add_argument("--cases", default=",".join(CASES),
                    help=f"comma-separated, of {', '.join(CASES)}")
    args = ap.parse_args()
    os.environ.setdefault("PUMPLIB_INGEST__PROGRESS", "False")
    runs = 1 if args.quick else args.runs
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    store = _store(args.store)
    cache = tempfile.mkdtemp(prefix="bench-apps-cache-")
    env = Env(store, cache)
    res: dict = {"bench": "apps", "runs": runs, "store": store,
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_1m": round(os.getloadavg()[0], 2)},
                 "targets_s": TARGETS}
    try:
        res["cache_fill_s"] = round(_fill_cache(store, cache), 2)
        for name in names:
            t0 = time.perf_counter()
            out = CASES[name](env, runs)
            out["wall_s"] = round(time.perf_counter() - t0, 1)
            res[name] = out
            key = "interaction_s" if "interaction" in name else "first_render_s"
            stat = out[key]
            line = f"{name}: p50 {stat['p50']} s, p95 {stat['p95']} s (n={stat['n']})"
            if "server_start_s" in out:
                line += f"; server start p50 {out['server_start_s']['p50']} s"
            if name in TARGETS:
                ok = stat["p95" if "interaction" in name else "p50"] <= TARGETS[name]
                out["meets_target"] = ok
                line += f"; target ≤ {TARGETS[name]} s: {'met' if ok else 'MISSED'}"
            print(line, flush=True)
        res["blocked_requests"] = len(env.blocked)
        res["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps(res))
    if env.blocked:
        print(f"requests that left localhost: {env.blocked[:5]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
