"""Scheduled runs: the pipeline notebooks executed in order with papermill.

The pipeline is the parameterised notebooks in ``notebooks/pipelines/``
(``01_ingest`` → ``02_validate`` → ``03_features`` → ``04_forecast`` →
``05_outliers`` → ``06_recommendations``); each is thin and calls pumplib.
:func:`run_pipeline` executes them with papermill on the ``python3`` kernel
of the running interpreter (Jupyter maps the kernel's ``python`` to
``sys.executable``, so a venv runs its own ipykernel), one run folder per
run::

    <runs_dir>/<run_id>/
        manifest.json              params, status per step, timings, error
        01_ingest.ipynb …          the executed notebooks (outputs kept)
        01_ingest.json …           what each step reported (``step_result``)
        01_ingest.kernel.log …     the kernel's own output, kept only when there is some

``runs_dir`` defaults to ``runs/`` beside a local store folder
(``<store>/../runs``), else ``./runs``. A failed step stops the run; the
manifest names the step, the cell and the error, and
``run_pipeline(resume=run_id)`` (``pumplib run pipeline --resume RUN_ID``)
runs again from that step with the same parameters. ``pumplib schedule``
prints the cron lines.

Examples
--------
>>> res = run_pipeline(store="./store", params={"targets": ["energy"]})  # doctest: +SKIP
>>> res.status, [s.status for s in res.steps]                            # doctest: +SKIP
('ok', ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .errors import ArgumentError, PumplibError, UnknownNameError, choices_message

STEPS = ("01_ingest", "02_validate", "03_features", "04_forecast", "05_outliers",
         "06_recommendations")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks" / "pipelines"
MANIFEST = "manifest.json"
STATUSES = ("pending", "running", "ok", "failed", "skipped")


class PipelineError(PumplibError, RuntimeError):
    """A pipeline step failed (the message names the run, step, cell and error)."""


@dataclass
class StepResult:
    """One executed notebook."""

    step: str
    status: str = "pending"
    started: str | None = None
    seconds: float | None = None
    notebook: str | None = None
    result: dict = field(default_factory=dict)
    error: dict | None = None


@dataclass
class RunResult:
    """What a pipeline run did; ``manifest`` is the JSON file that records it."""

    run_id: str
    status: str
    run_dir: Path
    params: dict
    steps: list[StepResult]
    started: str
    seconds: float = 0.0
    attempts: int = 1

    @property
    def manifest(self) -> Path:
        return self.run_dir / MANIFEST

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def error_message(self) -> str:
        """One line: run, step, cell and error (empty when the run succeeded)."""
        s = self.failed
        if s is None or not s.error:
            return ""
        e = s.error
        where = f" ({e['source']!r})" if e.get("source") else ""
        klog = f"; kernel log {e['kernel_log']}" if e.get("kernel_log") else ""
        return (f"run {self.run_id}: step {s.step} failed in cell {e.get('cell')}{where}: "
                f"{e.get('ename')}: {e.get('evalue')} (notebook {s.notebook}{klog}; resume "
                f"with `pumplib run pipeline --resume {self.run_id}`)")

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "status": self.status, "run_dir": str(self.run_dir),
                "params": self.params, "started": self.started, "seconds": self.seconds,
                "attempts": self.attempts, "python": sys.executable,
                "steps": [asdict(s) for s in self.steps]}

    def save(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        os.replace(tmp, self.manifest)

    @classmethod
    def load(cls, run_dir: Path) -> RunResult:
        d = json.loads((Path(run_dir) / MANIFEST).read_text())
        steps = [StepResult(**s) for s in d["steps"]]
        return cls(run_id=d["run_id"], status=d["status"], run_dir=Path(run_dir),
                   params=d.get("params", {}), steps=steps, started=d["started"],
                   seconds=float(d.get("seconds", 0.0)), attempts=int(d.get("attempts", 1)))


def default_runs_dir(store: str | os.PathLike | None = None) -> Path:
    """``<store>/../runs`` for a local store folder, else ``./runs``."""
    from . import config

    url = os.fspath(config.get("store.url", override_with=store))
    parsed = urlparse(url)
    if parsed.scheme in ("", "file") and not url.startswith("memory://"):
        path = Path(parsed.path if parsed.scheme == "file" else url).expanduser().resolve()
        return path.parent / "runs"
    return Path("runs").resolve()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _check_steps(steps: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    if steps is None:
        return list(available)
    for s in steps:
        if s not in available:
            raise UnknownNameError(choices_message("pipeline step", s, available))
    return [s for s in available if s in steps]


def parse_params(items: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings into a dict; values are parsed as JSON when they can be.

    Examples
    --------
    >>> parse_params(["targets=[\\"energy\\"]", "horizon=24", "store=./store"])
    {'targets': ['energy'], 'horizon': 24, 'store': './store'}
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ArgumentError(f"parameter {item!r} is not KEY=VALUE")
        k, v = item.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise ArgumentError(f"parameter name {k!r} is not a Python identifier")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def run_pipeline(store: str | os.PathLike | None = None, params: Mapping | None = None,
                 runs_dir: str | os.PathLike | None = None, *, resume: str | None = None,
                 steps: Sequence[str] | None = None,
                 notebooks_dir: str | os.PathLike | None = None, kernel_name: str = "python3",
                 timeout: int = 1800, run_id: str | None = None,
                 log: Callable[[str], None] = print,
                 progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Execute the pipeline notebooks in order; stop at the first failure.

    Parameters
    ----------
    store : str or path, optional
        Store URL (default the ``store.url`` setting); given to every step.
    params : mapping, optional
        More notebook parameters (``registry``, ``sample``, ``targets``,
        ``levels``, ``model`` …); papermill injects them after each
        notebook's ``parameters`` cell.
    runs_dir : path, optional
        Where run folders go (default :func:`default_runs_dir`).
    resume : str, optional
        A run id: run its failed (or not yet run) steps again, with its
        parameters updated by ``params``; steps already ``ok`` are kept.
    steps : sequence of str, optional
        Run only these steps (of :data:`STEPS`).
    notebooks_dir : path, optional
        Folder of the pipeline notebooks (default ``notebooks/pipelines``).
    kernel_name : str
        Jupyter kernel (``python3``: this interpreter's ipykernel).
    timeout : int
        Seconds a cell may run.
    progress : callable, optional
        Called as ``progress(steps_done, steps_to_run)`` before the first
        step and after each one (a progress bar's hook).

    Returns
    -------
    RunResult
        ``status`` is ``"ok"`` or ``"failed"`` (then ``error_message()`` says
        where); the manifest is written after every step.
    """
    import papermill as pm

    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS
    available = [p.stem for p in sorted(nb_dir.glob("*.ipynb"))]
    if not available:
        raise PipelineError(f"no pipeline notebooks in {nb_dir}")
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir(store)
    if resume is not None:
        res, todo = _resumed(runs, resume, store, params, log)
    else:
        res = _new_run(runs, run_id, store, params, _check_steps(steps, available))
        todo = [s.step for s in res.steps]
    res.status = "running"
    res.save()
    t_run = time.perf_counter()
    n_done, n_todo = 0, sum(s.step in todo for s in res.steps)
    if progress is not None:
        progress(0, n_todo)
    for step in res.steps:
        if step.step not in todo:
            continue
        _run_step(pm, res, step, nb_dir / f"{step.step}.ipynb", kernel_name, timeout, log)
        n_done += 1
        if progress is not None:
            progress(n_done, n_todo)
        if step.status == "failed":
            break
        log(f"[{res.run_id}] {step.step} {step.status} in {step.seconds:.1f} s")
    res.seconds = round(res.seconds + time.perf_counter() - t_run, 3)
    res.status = "failed" if res.failed else "ok"
    res.save()
    if res.failed:
        log(res.error_message())
    return res


def _resumed(runs: Path, resume: str, store, params: Mapping | None,
             log: Callable[[str], None]) -> tuple[RunResult, list[str]]:
    """The run ``resume`` read back, its parameters updated; the steps still to run."""
    run_dir = runs / resume
    if not (run_dir / MANIFEST).is_file():
        known = sorted(p.name for p in runs.glob("*") if (p / MANIFEST).is_file()) \
            if runs.is_dir() else []
        raise UnknownNameError(f"{runs}: no run to resume. "
                               + choices_message("run id", resume, known))
    res = RunResult.load(run_dir)
    res.params.update(dict(params or {}))
    if store is not None:
        res.params["store"] = os.fspath(store)
    res.attempts += 1
    todo = [s.step for s in res.steps if s.status != "ok"]
    log(f"resuming run {res.run_id} from step {todo[0] if todo else '(none left)'}")
    return res, todo


def _new_run(runs: Path, run_id: str | None, store, params: Mapping | None,
             selected: list[str]) -> RunResult:
    """A new run of the ``selected`` steps, its parameters the store and ``params``."""
    from . import config
    from .lake import new_run_id

    run_id = run_id or new_run_id("pipeline")
    p = {"store": os.fspath(config.get("store.url", override_with=store))}
    p.update(dict(params or {}))
    return RunResult(run_id=run_id, status="running", run_dir=runs / run_id, params=p,
                     steps=[StepResult(s) for s in selected], started=_now())


def _run_step(pm, res: RunResult, step: StepResult, src: Path, kernel_name: str, timeout: int,
              log: Callable[[str], None]) -> None:
    """Execute one step's notebook into the run folder; record its status, error and result."""
    run_dir = res.run_dir
    out_nb = run_dir / f"{step.step}.ipynb"
    result_file = run_dir / f"{step.step}.json"
    result_file.unlink(missing_ok=True)
    kernel_log = run_dir / f"{step.step}.kernel.log"
    kernel_log.unlink(missing_ok=True)
    step.status, step.started, step.error = "running", _now(), None
    step.notebook = str(out_nb)
    res.save()
    log(f"[{res.run_id}] {step.step} …")
    t0 = time.perf_counter()
    given = {**res.params, "run_id": res.run_id, "run_dir": str(run_dir),
             "result_path": str(result_file)}
    # each notebook gets the parameters its parameters cell declares
    declared = declared_parameters(src)
    nb_params = {k: v for k, v in given.items() if k in declared}
    try:
        pm.execute_notebook(str(src), str(out_nb), parameters=nb_params,
                            kernel_name=kernel_name, language="python", progress_bar=False,
                            execution_timeout=timeout, cwd=os.getcwd(),
                            log_output=False,
                            kernel_manager_class=_kernel_manager_class(kernel_log))
    except pm.PapermillExecutionError as exc:
        step.status = "failed"
        step.error = {**_cell_of(out_nb, exc.cell_index),
                      "execution_count": exc.exec_count, "ename": exc.ename,
                      "evalue": exc.evalue}
    except Exception as exc:  # noqa: BLE001  (kernel died, timeout, bad notebook: all recorded)
        step.status = "failed"
        step.error = {"cell": None, "execution_count": None,
                      "ename": type(exc).__name__, "evalue": str(exc)}
    else:
        step.status = "ok"
    step.seconds = round(time.perf_counter() - t0, 3)
    if kernel_log.is_file() and not kernel_log.stat().st_size:
        kernel_log.unlink()
    elif step.error is not None and kernel_log.is_file():
        step.error["kernel_log"] = str(kernel_log)
    if result_file.is_file():
        step.result = json.loads(result_file.read_text())
        if step.status == "ok" and step.result.get("status") == "skipped":
            step.status = "skipped"
    res.save()


def _kernel_manager_class(log_path: Path):
    """nbclient's kernel manager for one step: encrypted sockets, the kernel's output in a log.

    * Transport encryption: without it every ipykernel prints ``[IPKernelApp]
      WARNING | Kernel is running over TCP without encryption …`` once per
      step. The manager provisions CurveZMQ keys when the kernelspec declares
      support (ipykernel's does), which is what that warning asks for.
    * The kernel process writes its own stdout and stderr (its log lines, such
      as ``KeyboardInterrupt caught in kernel`` when jupyter_client interrupts
      it before shutting it down, or a crash report) to ``log_path`` in the run
      folder instead of the terminal, where they broke the progress bar and,
      on stdout, ``--json`` output. Nothing is lost: the log is kept when it
      has content, and a failed step's error names it. Cell output and cell
      errors travel through the notebook as before.
    """
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    curve = zmq.has("curve")

    class StepKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _transport_encryption_default(self) -> str:
            return "auto" if curve else "disabled"

        async def start_kernel(self, **kw):
            with open(log_path, "ab") as out:   # the kernel holds its own copy of the fd
                kw.setdefault("stdout", out)
                kw.setdefault("stderr", out)
                return await super().start_kernel(**kw)

    return StepKernelManager


def _cell_of(executed: Path, index: int) -> dict:
    """The failing cell: its index in the source notebook (papermill's injected
    parameters cell not counted), its index in the executed one, its first line."""
    import nbformat

    nb = nbformat.read(os.fspath(executed), as_version=4)
    # papermill puts an error banner cell on top after the run: not counted in its index
    nb.cells = [c for c in nb.cells
                if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    injected = sum("injected-parameters" in t for t in tags[:index])
    src = nb.cells[index].source.strip().splitlines() if index < len(nb.cells) else []
    return {"cell": index - injected, "executed_cell": index,
            "source": src[0] if src else ""}


def list_runs(runs_dir: str | os.PathLike | None = None, *,
              store: str | os.PathLike | None = None):
    """Runs found in ``runs_dir``, newest first: id, status, started, seconds, failed step."""
    import pandas as pd

    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir(store)
    rows = []
    for m in sorted(runs.glob(f"*/{MANIFEST}")) if runs.is_dir() else []:
        r = RunResult.load(m.parent)
        f = r.failed
        rows.append({"run_id": r.run_id, "status": r.status, "started": r.started,
                     "seconds": r.seconds, "attempts": r.attempts,
                     "steps_ok": sum(s.status in ("ok", "skipped") for s in r.steps),
                     "steps": len(r.steps), "failed_step": f.step if f else None})
    cols = ["run_id", "status", "started", "seconds", "attempts", "steps_ok", "steps",
            "failed_step"]
    return pd.DataFrame(rows, columns=cols).sort_values("started", ascending=False,
                                                         ignore_index=True)


#: named schedules → cron expressions (UTC of the machine's cron)
SCHEDULES = {"hourly": "5 * * * *", "daily": "30 2 * * *", "weekly": "30 3 * * 1"}


def cron_lines(schedule: str = "daily", *, store: str | os.PathLike | None = None,
               params: Mapping | None = None, runs_dir: str | os.PathLike | None = None,
               workdir: str | os.PathLike | None = None, command: str | None = None,
               log_file: str | None = None) -> list[str]:
    """Crontab lines that run the pipeline on a schedule.

    Parameters
    ----------
    schedule : str
        ``hourly``, ``daily``, ``weekly`` or a five-field cron expression.
    store, params, runs_dir
        As for :func:`run_pipeline`.
    workdir : path, optional
        Folder the job runs in (default the current one).
    command : str, optional
        The ``pumplib`` executable (default the one beside this interpreter).

    Examples
    --------
    >>> cron_lines("daily", store="/srv/store", workdir="/srv/pumplib",
    ...            command="/srv/pumplib/.venv/bin/pumplib")[-1]
    '30 2 * * * cd /srv/pumplib && /srv/pumplib/.venv/bin/pumplib run pipeline --store /srv/store >> /srv/pumplib/runs/cron.log 2>&1'
    """
    expr = SCHEDULES.get(schedule, schedule)
    if len(expr.split()) != 5:
        raise ArgumentError(f"schedule {schedule!r} is neither a cron expression (5 fields) "
                            f"nor a name. Valid names: {', '.join(SCHEDULES)}")
    wd = Path(workdir) if workdir is not None else Path.cwd()
    exe = command or str(Path(sys.executable).with_name("pumplib"))
    args = [exe, "run", "pipeline"]
    if store is not None:
        args += ["--store", os.fspath(store)]
    if runs_dir is not None:
        args += ["--runs-dir", os.fspath(runs_dir)]
    for k, v in (params or {}).items():
        args += ["--params", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    logf = log_file or str(wd / "runs" / "cron.log")
    line = (f"{expr} cd {shlex.quote(str(wd))} && {' '.join(shlex.quote(a) for a in args)} "
            f">> {shlex.quote(logf)} 2>&1")
    return ["# pumplib pipeline (ingest, validate, features, forecast, outliers, "
            "recommendations)", "SHELL=/bin/bash", line]


def declared_parameters(path: str | os.PathLike) -> set[str]:
    """Names assigned in a notebook's ``parameters`` cell (empty set if it has none)."""
    import ast

    import nbformat

    nb = nbformat.read(os.fspath(path), as_version=4)
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def write_step_result(path: str | os.PathLike | None, **result) -> dict:
    """What a pipeline notebook reports to the runner (its last cell calls this).

    ``status="skipped"`` marks the step skipped in the manifest (e.g. an
    optional module is not installed). Returns ``result``.
    """
    if path:
        Path(path).write_text(json.dumps(result, indent=2, default=str))
    return result


def features_stale(lake) -> bool:
    """Whether raw data or flags were committed after the last golden-table build."""
    for c in lake.log():
        kind = c.metadata.get("kind")
        if kind == "features":
            return False
        if kind in ("ingest", "quality") or c.message.startswith(("ingest", "validate")):
            return True
    return True


def optional(module: str, attr: str):
    """``module.attr`` if it can be imported, else None (for optional pipeline steps)."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise
    return getattr(mod, attr, None)


__all__ = ["MANIFEST", "SCHEDULES", "STEPS", "PipelineError", "RunResult", "StepResult",
           "cron_lines", "declared_parameters", "default_runs_dir", "features_stale", "list_runs", "optional",
           "parse_params", "run_pipeline", "write_step_result"]
