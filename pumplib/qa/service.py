"""The warm answer service shared by the command line and the apps.

``pumplib qa serve`` keeps one process with the registry, the golden tables and — loaded in
the background once it listens — the golden-table columns data questions read (every metric of
:mod:`pumplib.qa.metrics` at the levels answers use) and, for document questions, the index and
the embedding model, and answers
``POST /ask`` on ``127.0.0.1`` (a free port unless one is given). It records itself in a
small state file per store (:func:`state_file`); ``pumplib ask`` looks there first and, when
a live service answers, prints its answer, else answers in-process. The client half of this
module imports only the standard library, so asking a running service costs no more than
starting Python.

Examples
--------
>>> ask_server("/no/such/store", "energy of N-P1 last week") is None
True
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


# -- client (standard library only) ---------------------------------------------------------
def _store_key(store) -> str:
    s = str(store)
    if "://" not in s:
        s = str(Path(s).expanduser().resolve())
    return hashlib.sha1(s.encode()).hexdigest()[:16]


def state_dir() -> Path:
    """Where running services record themselves (``PUMPLIB_QA_SERVE_DIR``, else a folder of
    this user in the temporary directory)."""
    env = os.environ.get("PUMPLIB_QA_SERVE_DIR")
    if env:
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"pumplib-qa-{uid}"


def state_file(store) -> Path:
    """The state file of the service of ``store``."""
    return state_dir() / f"{_store_key(store)}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def find_server(store) -> dict | None:
    """``{pid, port, store, registry, started}`` of a live service of ``store``, or None."""
    path = state_file(store)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _alive(int(info.get("pid", -1))):
        return None
    return info


def ask_server(store, question: str, *, now=None, k: int = 5, registry=None,
               timeout: float = 60.0) -> dict | None:
    """The answer (:meth:`~pumplib.qa.answer.Answer.to_dict`) of the running service of
    ``store``; None when none runs, it serves another registry, or it cannot be reached."""
    info = find_server(store)
    if info is None:
        return None
    if registry is not None and str(Path(registry).resolve()) != info.get("registry"):
        return None
    body = json.dumps({"question": question, "now": None if now is None else str(now),
                       "k": k}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=timeout)
    try:
        conn.request("POST", "/ask", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return data if resp.status == 200 and isinstance(data, dict) else None


# -- server -------------------------------------------------------------------------------
class Service:
    """Answers questions about one store with everything loaded once.

    Parameters
    ----------
    store : str
    registry : path, optional
    index_dir : path, optional
    preload_index : bool
        Load (or build) the index and the embedding model in a background thread, so the
        first document question does not wait for them.

    Attributes
    ----------
    columns_ready : threading.Event
        Set once :meth:`preload_columns` has run (or failed); :func:`serve` starts it in
        the background once the server listens (:meth:`start_preload`).
    """

    #: the golden-table levels a data answer reads (a day, week or month of one level; every
    #: other period is rolled up from the day table)
    PRELOAD_LEVELS = ("1D", "1W", "1M")

    def __init__(self, store, registry=None, index_dir=None, preload_index: bool = True):
        from ..assets import AssetRegistry

        self.store = str(store)
        self.registry_path = None if registry is None else str(Path(registry).resolve())
        self.registry = AssetRegistry.load(registry)
        if self.registry_path is None:
            self.registry_path = str(Path(self.registry.source).resolve())
        self.index_dir = index_dir
        self.index = None
        self._lock = threading.Lock()
        self._index_ready = threading.Event()
        self.columns_ready = threading.Event()
        self.preloaded: dict = {}
        self.warm()
        if preload_index:
            threading.Thread(target=self._load_index, daemon=True).start()
        else:
            self._index_ready.set()

    def warm(self) -> None:
        """Open the golden tables and read the data's span (a data question's first costs)."""
        from ..lake import Lake
        from .answer import _tables

        t = _tables(Lake(self.store, create=False), None)
        t.data_end()
        t.data_start()

    def preload_columns(self) -> dict:
        """Read every column a data answer reads, so the first data question does not pay it.

        For each metric of :data:`~pumplib.qa.metrics.METRICS`, its column and its feature's
        coverage at each of :attr:`PRELOAD_LEVELS` (levels the lake lacks are skipped), and
        the day partials' group. One column at a time under the service's lock: a question
        asked meanwhile waits for at most one column read.

        Returns
        -------
        dict
            ``columns`` (read), ``seconds``; also kept as :attr:`preloaded`.
        """
        from ..errors import PumplibError
        from ..lake import Lake
        from .metrics import METRICS
        from .tables import _tables

        t0 = time.perf_counter()
        read = 0
        try:
            with self._lock:
                tables = _tables(Lake(self.store, create=False), None)
            for level in self.PRELOAD_LEVELS:
                try:
                    with self._lock:
                        tables.ds(level)
                except PumplibError:            # no golden table at this level
                    continue
                for m in METRICS:
                    for col in (m.column, f"{m.feature}_coverage"):
                        with self._lock:
                            tables.frame(level, col)
                        read += 1
            with self._lock, contextlib.suppress(PumplibError):
                tables.ds("_partials/1D")
        finally:
            self.preloaded = {"columns": read, "seconds": round(time.perf_counter() - t0, 3)}
            self.columns_ready.set()
        return self.preloaded

    def start_preload(self) -> threading.Thread:
        """Run :meth:`preload_columns` in a daemon thread (returned); a failure there is kept
        in :attr:`preloaded` (``error``), and the question that needs the column meets it."""
        def run():
            try:
                self.preload_columns()
            except Exception as exc:            # noqa: BLE001 - a warm-up never stops the service
                self.preloaded = {**self.preloaded, "error": f"{type(exc).__name__}: {exc}"}

        th = threading.Thread(target=run, name="qa-preload-columns", daemon=True)
        th.start()
        return th

    def _load_index(self) -> None:
        from .index import build_index

        try:
            idx = build_index(self.store, index_dir=self.index_dir, registry=self.registry)
            idx.search("warm up the embedding model", 1)
            self.index = idx
        finally:
            self._index_ready.set()

    def ask(self, question: str, now=None, k: int = 5):
        """The :class:`~pumplib.qa.answer.Answer` to ``question`` (document questions wait for
        the index being loaded)."""
        from .answer import ask

        def index_needed():
            self._index_ready.wait()
            return self.index

        with self._lock:
            return ask(question, self.store, index=None, index_dir=self.index_dir,
                       registry=self.registry, now=now, k=k, on_build=index_needed)


def _handler(service: Service):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):           # quiet
            pass

        def _send(self, status: int, obj) -> None:
            data = json.dumps(obj, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path == "/health":
                self._send(200, {"ok": True, "store": service.store,
                                 "index": service.index is not None,
                                 "columns": service.columns_ready.is_set()})
            else:
                self._send(404, {"error": f"no such path {self.path!r}; use POST /ask"})

        def do_POST(self):  # noqa: N802
            from ..errors import PumplibError

            if self.path != "/ask":
                self._send(404, {"error": f"no such path {self.path!r}; use POST /ask"})
                return
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                a = service.ask(str(req["question"]), now=req.get("now"), k=int(req.get("k", 5)))
            except (ValueError, KeyError, TypeError, PumplibError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, a.to_dict())
    return Handler


def serve(store, *, registry=None, index_dir=None, host: str = "127.0.0.1", port: int = 0,
          preload_index: bool = True, preload_columns: bool = True, on_ready=None) -> None:
    """Run the service of ``store`` until interrupted; its state file is removed on exit.

    ``on_ready(port)`` is called once it listens. Once it listens, the golden-table columns
    of data answers are read in the background (:meth:`Service.preload_columns`) unless
    ``preload_columns`` is false.
    """
    service = Service(store, registry, index_dir, preload_index=preload_index)
    httpd = ThreadingHTTPServer((host, port), _handler(service))
    if preload_columns:
        service.start_preload()
    else:
        service.columns_ready.set()
    path = state_file(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": httpd.server_address[1],
                               "store": service.store, "registry": service.registry_path,
                               "started": time.time()}), encoding="utf-8")
    os.replace(tmp, path)
    if threading.current_thread() is threading.main_thread():
        import signal

        def stop(*_):                     # SIGTERM ends it like Ctrl-C: the state file goes
            raise SystemExit(0)
        signal.signal(signal.SIGTERM, stop)
    try:
        if on_ready is not None:
            on_ready(httpd.server_address[1])
        httpd.serve_forever()
    finally:
        httpd.server_close()
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
