"""Serve the operations app (marimo) or dashboard (Voila) on a store.

:func:`serve_ops` starts ``marimo run notebooks/apps/operations.py`` or
``voila notebooks/dashboards/operations.ipynb`` in a child process (its own
process group), waits until it answers, and returns the URL. The server goes
down with the process that started it, however that process ends (also
``kill -9``: :func:`guard_parent`), and its token never appears on a command
line (:func:`token_channel`). The store, the
asset registry and the action log reach the app through the environment
(``PUMPLIB_STORE__URL``, ``PUMPLIB_ASSETS__REGISTRY``,
``PUMPLIB_OPS__ACTIONS_URL``), as absolute paths.

Bound to anything but localhost, the server is protected: a token (random
unless ``token=`` is given) that the returned URL carries; on localhost no
token is used unless one is given.

Nothing is loaded from the internet: the apps' charts inline their scripts
and stylesheets (:func:`pumplib.ui.charts.setup`), and Voila runs with the
template ``pumplib`` (:func:`voila_template_root`): Voila's ``lab`` template
with its two CDN stylesheet links (Font Awesome, which Voila also bundles)
taken out.

Examples
--------
>>> url = serve_ops("./store", port=2718, block=False)        # doctest: +SKIP
>>> stop(url)                                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path

from . import config
from .errors import ArgumentError, PumplibError, choices_message

KINDS = ("marimo", "voila")
LOCALHOSTS = ("127.0.0.1", "localhost", "::1")
ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "notebooks" / "apps" / "operations.py"
DASHBOARD = ROOT / "notebooks" / "dashboards" / "operations.ipynb"

#: servers started with ``block=False`` in this process, URL → process
SERVERS: dict[str, subprocess.Popen] = {}


class ServeError(PumplibError, RuntimeError):
    """The app server did not start or answer."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def command(kind: str, port: int, host: str = "127.0.0.1", token: str | None = None,
            preheat: bool = False) -> list[str]:
    """The command line that serves ``kind`` (``marimo`` or ``voila``).

    The line never holds the token (any user can read a command line with ``ps``):
    :func:`serve_ops` hands it to marimo on its standard input
    (``--token-password-file -``) and to Voila in ``JUPYTER_TOKEN``
    (:func:`token_channel`). Both servers start through a Python launcher that
    first calls :func:`guard_parent`.
    """
    if kind == "marimo":
        # marimo runs each app session as a thread of its server: a launcher that first
        # imports pumplib and computes the first page (:func:`preload`) makes every page fast
        cmd = [sys.executable, "-c", _LAUNCHER, "run", str(APP), "--headless",
               "--port", str(port), "--host", host, "--no-sandbox", "--no-check"]
        cmd += ["--token", "--token-password-file", "-"] if token else ["--no-token"]
        return cmd
    if kind == "voila":
        cmd = [sys.executable, "-c", _VOILA_LAUNCHER, str(DASHBOARD), "--no-browser",
               f"--port={port}", f"--Voila.ip={host}", "--Voila.open_browser=False",
               f"--template={VOILA_TEMPLATE}", "--theme=light"]
        # with a token, Voila's identity provider reads it from JUPYTER_TOKEN
        cmd.append("--Voila.auto_token=True" if token else "--token=")
        if preheat:
            cmd += ["--preheat_kernel=True", "--pool_size=1"]
        return cmd
    raise ArgumentError(choices_message("app kind", kind, KINDS))


def token_channel(kind: str, token: str | None) -> tuple[dict, bytes | None]:
    """How ``token`` reaches a server of ``kind``: extra environment, bytes for its stdin.

    Examples
    --------
    >>> token_channel("voila", "pw")
    ({'JUPYTER_TOKEN': 'pw'}, None)
    >>> token_channel("marimo", "pw")
    ({}, b'pw')
    >>> token_channel("marimo", None)
    ({}, None)
    """
    if not token:
        return {}, None
    if kind == "voila":
        return {"JUPYTER_TOKEN": token}, None
    return {}, token.encode()


#: the Voila template that serves the dashboard (Voila's ``lab`` without CDN links)
VOILA_TEMPLATE = "pumplib"
_VOILA_INDEX = """{%- extends 'lab/index.html.j2' -%}
{#- pumplib: Voila's lab template without its CDN stylesheet links (Font Awesome is also in
    Voila's own bundle); an air-gapped browser loads nothing from the internet -#}
{%- block notebook_css -%}
{{ super() | replace('href="https://', 'href="data:text/css,') | replace('href="http://', 'href="data:text/css,') }}
{%- endblock notebook_css -%}
"""


def voila_template_root() -> Path:
    """A Jupyter data folder holding the Voila template ``pumplib``; the server gets it
    on ``JUPYTER_PATH``. Written once per version of the template (it is tiny)."""
    body = _VOILA_INDEX.encode()
    root = Path(tempfile.gettempdir()) / f"pumplib-voila-{hashlib.sha1(body).hexdigest()[:10]}"
    folder = root / "voila" / "templates" / VOILA_TEMPLATE
    if not (folder / "index.html.j2").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".index.{os.getpid()}.tmp"
        tmp.write_bytes(body)
        (folder / "conf.json").write_text(json.dumps({"base_template": "lab"}))
        os.replace(tmp, folder / "index.html.j2")
    return root


def server_env(kind: str, env: dict | None = None) -> dict:
    """The environment a server of ``kind`` needs beyond the settings (Voila: the
    template folder on ``JUPYTER_PATH``)."""
    env = dict(os.environ if env is None else env)
    if kind == "voila":
        paths = [str(voila_template_root())]
        if env.get("JUPYTER_PATH"):
            paths.append(env["JUPYTER_PATH"])
        env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


_LAUNCHER = """\
import sys
from pumplib.serve import guard_parent, preload
guard_parent()
preload()
from marimo._cli.cli import main
sys.argv[0] = "marimo"
sys.exit(main())
"""

_VOILA_LAUNCHER = """\
import sys
from pumplib.serve import guard_parent
guard_parent()
from voila.app import main
sys.argv[0] = "voila"
sys.exit(main())
"""

#: environment variable naming the process whose death takes the server down
PARENT_ENV = "PUMPLIB_SERVE_PARENT"


def guard_parent(poll: float = 0.5, grace: float = 5.0) -> bool:
    """In a server started by :func:`serve_ops`: end the server's process group when the
    process that started it dies, however it dies (also ``kill -9``).

    A daemon thread compares the parent's pid with the one :func:`serve_ops` put in
    ``PUMPLIB_SERVE_PARENT`` every ``poll`` seconds; once the parent is gone it sends
    SIGTERM to the server's process group (the server and its kernels), then SIGKILL
    after ``grace`` seconds. (Linux's ``PR_SET_PDEATHSIG`` is not used: it fires when
    the *thread* that started the server ends, which would stop a server started from
    a worker thread that finished.) Returns whether the guard runs.
    """
    want = os.environ.pop(PARENT_ENV, None)
    if not want:
        return False
    parent = int(want)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGTERM)
        time.sleep(grace)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGKILL)

    import threading

    threading.Thread(target=watch, name="pumplib-parent-guard", daemon=True).start()
    return True


def preload() -> None:
    """Import what the operations app uses and compute its first page in this process.

    The marimo launcher calls it before the server starts; the app's
    :func:`pumplib.ops.open_operations` then finds the same cached
    :class:`~pumplib.ops.Operations` (store, registry and action log from the
    environment). A failure here is left for the page to show.
    """
    from . import ops

    if not config.get("ops.preload", True):
        return
    try:
        o = ops.open_operations()
        view = ops.View("1M")
        o.kpis("utility", view)
        chart = ops.kpi_chart(o.chart_data("utility", view), timezone=o.timezone,
                              currency=o.currency)
        chart.get_root()                         # Panel and Bokeh imported and warm
        alerts = o.alerts("utility", view)
        recs = o.recommendations("utility")
    except PumplibError:  # the app shows the same error on its page
        return
    # the marimo elements of the page (its table plugin costs ~0.3 s on first use)
    from .ops import app as papp
    from .ui.marimo import asset_picker

    papp.recommendation_ui(recs, o.currency, o.timezone)
    ops.alert_options(alerts, o.timezone)
    asset_picker(o.selection(), label="")
    with contextlib.suppress(ImportError):
        import pumplib.qa.widgets  # noqa: F401  (the Q&A panel's module)


def serve_ops(store: str | os.PathLike | None = None, *, port: int | None = None,
              host: str = "127.0.0.1", kind: str = "marimo", open_browser: bool = False,
              block: bool = True, registry: str | os.PathLike | None = None,
              actions: str | None = None, token: str | None = None, protect: bool | None = None,
              timeout: float = 120.0, warm: bool = True, preheat: bool | None = None,
              log=None) -> str:
    """Serve the operations app on ``store``; return its URL.

    Parameters
    ----------
    store : str or path, optional
        The lake (default: ``store.url``).
    port : int, optional
        TCP port (default: a free one).
    host : str
        Interface to bind; anything but localhost turns protection on.
    kind : {"marimo", "voila"}
    open_browser : bool
        Open the URL in the default browser once the server answers.
    block : bool
        Wait for the server to end (Ctrl-C stops it); else return at once and
        leave it running (stop it with :func:`stop`).
    registry : path, optional
        Asset registry (default: ``assets.registry``).
    actions : str, optional
        SQLAlchemy URL of the action log (default: SQLite beside the store).
    token : str, optional
        Access token (password) to require; a random one when protection is on.
    protect : bool, optional
        Force protection on or off (default: on unless ``host`` is localhost).
    timeout : float
        Seconds to wait for the server to answer.
    warm : bool
        Compute the daily quality scores (the slowest part of a first page)
        before serving (they are cached on disk per lake snapshot), and let the
        marimo server compute the first page before it answers (:func:`preload`).
    preheat : bool, optional
        Voila: keep one kernel that has run the dashboard ready for the next
        visitor (``--preheat_kernel``; default: ``warm``).
    log : callable, optional
        Where to print the URL (default: ``print`` when blocking).
    """
    if kind not in KINDS:
        raise ArgumentError(choices_message("app kind", kind, KINDS))
    store = os.fspath(config.get("store.url", override_with=store))
    if "://" not in store:
        if not Path(store).exists():
            raise ArgumentError(f"store {store!r} does not exist; run `pumplib demo` first "
                                "or pass --store")
        store = str(Path(store).resolve())
    registry = Path(config.get("assets.registry", override_with=registry)).resolve()
    token = access_token(host, token, protect)
    port = int(port or free_port(host if host not in ("0.0.0.0", "::") else "127.0.0.1"))
    env = server_env(kind)
    env.update(PUMPLIB_STORE__URL=store, PUMPLIB_ASSETS__REGISTRY=str(registry),
               PUMPLIB_INGEST__PROGRESS="False")
    if actions:
        env["PUMPLIB_OPS__ACTIONS_URL"] = str(actions)
    env["PUMPLIB_OPS__PRELOAD"] = str(bool(warm))
    cache_dir = config.get("ops.cache_dir", None)
    if cache_dir:
        env["PUMPLIB_OPS__CACHE_DIR"] = str(Path(cache_dir).resolve())
    if warm:
        # compute what the first page needs once (cached on disk per lake snapshot)
        from .ops import Operations

        Operations(store, registry, actions).quality_days()
    cmd = command(kind, port, host, token, preheat=warm if preheat is None else preheat)
    extra, stdin = token_channel(kind, token)
    env.update(extra)
    env[PARENT_ENV] = str(os.getpid())      # the server ends when this process does
    proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, start_new_session=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL if not block else None,
                            stderr=subprocess.DEVNULL if not block else None)
    if stdin:
        proc.stdin.write(stdin)
        proc.stdin.close()
    url = url_for(kind, host, port, token)
    base = url.split("?")[0]
    try:
        wait_ready(base, proc, timeout=timeout)
    except BaseException:
        _kill(proc)
        raise
    if warm and kind == "marimo":
        warm_session(base, token)
    (log or (print if block else (lambda _m: None)))(f"pumplib operations ({kind}) at {url}")
    if open_browser:
        webbrowser.open(url)
    if not block:
        SERVERS[url] = proc
        return url
    import threading

    if threading.current_thread() is threading.main_thread():
        # a terminated `pumplib serve` takes its server (own process group) with it
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _kill(proc)
    return url


def warm_session(base: str, token: str | None = None, timeout: float = 60.0) -> bool:
    """Run the marimo app once in a throwaway session, so the first visitor does not pay
    for the server's first session (marimo's runtime and formatters, ~1.5 s here).

    Opens the app's websocket, waits until the run completes, and leaves. Returns
    whether it did (False without the ``websockets`` package or on any failure: the
    app then simply warms on its first visitor).
    """
    try:
        import asyncio

        import websockets
    except ImportError:  # pragma: no cover - installed with marimo's server
        return False
    query = f"session_id=pumplib-warm-{secrets.token_hex(4)}"
    if token:
        query += f"&access_token={token}"
    ws_url = base.replace("http://", "ws://").rstrip("/") + f"/ws?{query}"

    async def run() -> bool:
        async with websockets.connect(ws_url, max_size=None, open_timeout=timeout) as ws:
            while True:
                msg = await asyncio.wait_for(ws.recv(), timeout)
                text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
                if '"completed-run"' in text[:200]:
                    return True

    done: list[bool] = []

    def thread() -> None:       # its own event loop: the caller may be running one
        try:
            done.append(asyncio.run(run()))
        except Exception:  # noqa: BLE001 - warming is best effort
            done.append(False)

    import threading

    t = threading.Thread(target=thread, name="pumplib-warm-session", daemon=True)
    t.start()
    t.join(timeout + 5)
    return bool(done and done[0])


def _exit_on_sigterm(_signum, _frame):
    raise SystemExit(143)


def access_token(host: str, token: str | None, protect: bool | None) -> str | None:
    """The token a server on ``host`` requires: ``token``, or a random one when
    protection is on (by default anywhere but localhost), else None.

    Examples
    --------
    >>> access_token("127.0.0.1", None, None) is None
    True
    >>> len(access_token("0.0.0.0", None, None)) >= 20
    True
    """
    if protect is None:
        protect = host not in LOCALHOSTS
    if protect and not token:
        return secrets.token_urlsafe(18)
    return token or None


def url_for(kind: str, host: str, port: int, token: str | None) -> str:
    """The URL a browser opens (with the token when there is one).

    Examples
    --------
    >>> url_for("voila", "127.0.0.1", 8866, "abc")
    'http://127.0.0.1:8866/?token=abc'
    """
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/"
    if token:
        url += f"?access_token={token}" if kind == "marimo" else f"?token={token}"
    return url


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers (any HTTP status below 500)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServeError(f"the app server exited with status {proc.returncode} before "
                             f"answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - local URL
                if r.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            last = exc
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.3)
    raise ServeError(f"the app server did not answer at {url} within {timeout:.0f} s ({last})")


def stop(url: str) -> None:
    """Stop a server started with ``block=False``."""
    proc = SERVERS.pop(url, None)
    if proc is None:
        raise ArgumentError(choices_message("running server", url, SERVERS))
    _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
