"""Headless Chromium for the browser tests and ``benchmarks/bench_apps.py``: Debian's
chromium driven by Playwright, every request that leaves localhost failed and counted
(utilities run air-gapped).

``offline_browser(profile)`` yields ``(context, blocked)``: a persistent context with a
fresh profile, and the list of URLs it refused (a test asserts it stays empty).
Screenshots go under ``test-artifacts/<name>/`` (git-ignored), kept after the run.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-extension"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    u = urlparse(url)
    return u.scheme in LOCAL_SCHEMES or u.hostname in LOCAL_HOSTS


def artifacts(name: str) -> Path:
    path = ARTIFACTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


#: every request that does not go to loopback is sent to a dead local proxy and fails;
#: Chromium never proxies loopback. Nothing is intercepted, so the HTTP cache works and
#: timings are not inflated (Playwright's request routing disables the cache and adds a
#: round trip per request: ~0.5 s on a marimo page of 250 files)
OFFLINE_FLAGS = ["--proxy-server=http://127.0.0.1:9"]

#: canvases inside Bokeh roots, through open shadow roots and same-origin iframes
COUNT_CANVASES = """() => {
  let n = 0;
  const walk = (root) => {
    root.querySelectorAll('*').forEach((el) => {
      if (el.tagName === 'CANVAS' && el.closest('.bk-Canvas, [class*="bk-"]') !== null) n++;
      else if (el.tagName === 'CANVAS' && el.getRootNode() instanceof ShadowRoot) n++;
      if (el.shadowRoot) walk(el.shadowRoot);
    });
    root.querySelectorAll('iframe').forEach((f) => {
      try { walk(f.contentDocument); } catch (e) {}
    });
  };
  walk(document);
  return n;
}"""


def launch_offline(playwright, profile: Path, *, width: int = 1400, height: int = 1000,
                   timeout_ms: int = 180_000):
    """A Chromium context (persistent ``profile``) that reaches only localhost; returns
    ``(context, blocked)``, ``blocked`` the URLs it tried to reach elsewhere (all failed)."""
    blocked: list[str] = []
    ctx = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True,
        args=FLAGS + OFFLINE_FLAGS, viewport={"width": width, "height": height})
    ctx.set_default_timeout(timeout_ms)
    ctx.on("request", lambda r: None if is_local(r.url) else blocked.append(r.url))
    return ctx, blocked


@contextlib.contextmanager
def offline_browser(profile: Path, *, width: int = 1400, height: int = 1000,
                    timeout_ms: int = 180_000):
    """A Chromium context in which every request off localhost fails and is recorded."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (the Makefile installs Debian chromium in CI)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        ctx, blocked = launch_offline(p, profile, width=width, height=height,
                                      timeout_ms=timeout_ms)
        try:
            yield ctx, blocked
        finally:
            ctx.close()


def wait_for_http(url: str, proc, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers (any status); fail if ``proc`` exits first."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


# --- JupyterLab ---------------------------------------------------------------------
#: settings a fresh JupyterLab gets: every cell kept in the page (no virtual scrolling),
#: no news or update checks (they would ask the internet)
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


@contextlib.contextmanager
def jupyterlab(root: Path, workdir: Path, *, env: dict | None = None):
    """A JupyterLab server started in ``root`` (its working directory and root folder),
    on a free port, with private settings and workspaces; yields its base URL with token."""
    import json
    import os
    import secrets
    import subprocess
    import sys

    settings, workspaces = workdir / "lab-settings", workdir / "lab-workspaces"
    for name, values in LAB_SETTINGS.items():
        f = settings / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    workspaces.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(12)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUMPLIB_")}
    proc_env = {**base, "JUPYTERLAB_SETTINGS_DIR": str(settings),
                "JUPYTERLAB_WORKSPACES_DIR": str(workspaces), **(env or {})}
    log = open(workdir / f"jupyterlab-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
         "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={workspaces}"],
        cwd=root, env=proc_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        yield f"http://127.0.0.1:{port}", token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def open_notebook(page, base: str, token: str, path: str) -> None:
    """Open a notebook in JupyterLab (fresh layout) and wait for its kernel to be ready."""
    page.goto(f"{base}/lab/tree/{path}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function("""() => { const w = window.jupyterapp?.shell?.currentWidget;
        const k = w?.sessionContext?.session?.kernel;
        return w?.sessionContext?.isReady && k?.connectionStatus === 'connected'
               && k?.status === 'idle'; }""")


def run_all_cells(page, timeout_ms: int = 300_000) -> None:
    """Run every cell of the current notebook, as the Run menu does, and wait for the end."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function("""() => {
        const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                  .map(e => e.textContent);
        return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }""", timeout=timeout_ms)
    page.wait_for_function("""() => window.jupyterapp.shell.currentWidget
        .sessionContext.session.kernel.status === 'idle'""")


def save_notebook(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")


def stop_kernels(base: str, token: str) -> None:
    """Shut down every kernel session of the server (the REST API, no dialog)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/sessions?token={token}") as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}?token={token}",
                                     method="DELETE")
        urllib.request.urlopen(req).close()
