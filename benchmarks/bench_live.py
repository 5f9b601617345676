"""The live path end to end through a real mosquitto (issue 26): throughput, latencies,
kill -9, memory.

20 pumps (4 stations × 5 pumps of :func:`pumplib.simulate.make_registry`, 9–10 signals a
pump and the stations' tanks: 184 tags) at 1 s are published by the simulator
(:func:`pumplib.simulate.publish.publish`, payload format v1, QoS 1) into Debian's
mosquitto (persistence on, a free port), and ``pumplib live run`` (a child process, as in
production) logs and commits them. Three phases, each on a fresh store and broker:

1. **real time × 60** (``--realtime-s`` wall seconds, ``--rows --alerts``): event time
   runs 60 times faster than the clock (an hour a minute), starting in the past so no
   sample is from the future. A subscriber of its own records when the first message
   past each minute's close (its end + ``live.grace``) went out; a poller reads
   ``pumplib.query`` (``energy_coverage`` of ``features/1min``) four times a second and
   records when each minute's row first has data. ``minute_to_row`` = that read minus
   the close (also reported over the run's second half alone, ``second_half_…``: past
   the live process's start-up, its first commits and hook calls). Faults (dry running and out-of-range readings, at a high rate) are
   injected; ``fault_to_alert`` = the alert row's ``opened_at`` in the action log minus
   the wall time the fault's first sample was published (``PublishReport.faults
   .published_at``), for the faults that raised their rule's alert (a dry-running
   fault of a pump that was not running raises none). The first ``--warmup`` minutes
   (imports and kernels compiled in the live process) are left out of the percentiles.
2. **as fast as it goes** (``--fast-minutes`` of event time, raw commits only):
   ``samples_per_s`` = samples published / seconds from the first message to the commit
   that holds the last of them (the ``committed N samples`` lines of the live process).
3. **kill -9** (``--kill-minutes`` of event time at ``--kill-speed``, no faults):
   the live process is killed ``--kills`` times at random moments while the simulator
   publishes, and started again at once; at the end the raw lake is compared cell by
   cell with a batch ingest of exactly what was published: ``lost_samples`` (published,
   not in the lake, or another value there) and ``duplicated_samples`` (in the lake but
   never published, plus samples quarantined as duplicates).

``peak_rss_gb`` is the largest peak resident memory (``VmHWM``) of the live process and,
with ``--commit-process``, its committer, over phases 1 and 2; ``peak_rss_sum_gb`` adds
the two peaks. The last line is JSON. Run with ``nice -n 5``::

    .venv/bin/python benchmarks/bench_live.py                  # ~3 min wall
    .venv/bin/python benchmarks/bench_live.py --realtime-s 600 # the issue's 10 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("PUMPLIB_INGEST__PROGRESS", "False")
NS = 1_000_000_000


def p95(values) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return round(float(np.percentile(v, 95)), 3) if v else None


def p50(values) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return round(float(np.percentile(v, 50)), 3) if v else None


class LiveProc:
    """``pumplib live run`` in a child process; its commit lines stamped with wall time,
    its peak memory sampled."""

    def __init__(self, broker: str, store: Path, registry: Path, hooks: bool, env: dict,
                 errors: Path):
        cmd = [sys.executable, "-m", "pumplib", "live", "run", "--broker", broker,
               "--store", str(store), "--registry", str(registry), "--cadence", "1s",
               "--client-id", "bench-live"]
        if hooks:
            cmd += ["--rows", "--alerts"]
        self.err = open(errors, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, bufsize=1)
        self.commits: list[tuple[float, int]] = []      # (wall, samples)
        self.peaks: dict[int, int] = {}                  # pid → VmHWM kB
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._m = threading.Thread(target=self._mem, daemon=True)
        self._m.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("committed "):
                self.commits.append((time.time(), int(line.split()[1])))

    def _mem(self) -> None:
        pids = {self.proc.pid}
        while self.proc.poll() is None:
            try:     # the live process and a committer child of it, if any
                kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
                pids |= {int(p) for p in kids.split()}
            except OSError:
                pass
            for pid in list(pids):
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peaks[pid] = max(self.peaks.get(pid, 0),
                                                  int(line.split()[1]))
                except OSError:
                    pids.discard(pid)
            time.sleep(0.5)

    def wait_connected(self, store: Path, timeout: float = 120) -> None:
        from pumplib.live.service import live_status

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"live run exited {self.proc.returncode}")
            try:
                st = live_status(str(store))
                if st["running"] and st["connected"] and st["pid"] == self.proc.pid:
                    return
            except Exception:  # noqa: BLE001 - not there yet
                pass
            time.sleep(0.1)
        raise RuntimeError("live run did not connect")

    @property
    def peak_kb(self) -> int:
        """The largest process's peak (``VmHWM``), kB."""
        return max(self.peaks.values(), default=0)

    @property
    def peak_sum_kb(self) -> int:
        """The processes' peaks added (the service and its committer), kB: an upper
        bound of their peak together."""
        return sum(self.peaks.values())

    def committed(self) -> int:
        return sum(n for _, n in self.commits)

    def stop(self, sig=signal.SIGTERM, timeout: float = 300) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._t.join(5)
        self.err.close()
        return rc


#: settings of the live processes (``--commit-process`` adds live.commit_process)
EXTRA_ENV: dict[str, str] = {}


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUMPLIB_")}
    env.update(PUMPLIB_INGEST__PROGRESS="False", PUMPLIB_LIVE__FLUSH_IDLE="1s", **EXTRA_ENV,
               **extra)
    return env


def _closes(broker: str, grace_s: float, stop: threading.Event) -> dict[int, float]:
    """Subscribe to ``pumplib/#``: per event minute (ns of its start), the wall time of the
    first message holding a sample at or after the minute's end + grace."""
    import paho.mqtt.client as mqtt

    from pumplib.live.mqtt import parse_broker_url

    u = parse_broker_url(broker)
    seen: dict[int, float] = {}
    latest = [None]
    grace_ns = int(grace_s * NS)

    def on_message(_c, _u, msg):
        now = time.time()
        try:
            body = json.loads(msg.payload)
            ts = max(int(s["ts"]) for s in body["samples"]) * 1_000_000
        except (ValueError, KeyError, TypeError):
            return
        if latest[0] is not None and ts <= latest[0]:
            return
        latest[0] = ts
        # every minute whose end + grace this sample passes is closed now
        m = (ts - grace_ns) // (60 * NS) * 60 * NS - 60 * NS
        while m not in seen and m > ts - 3600 * NS:
            seen[m] = now
            m -= 60 * NS

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-closes-{os.getpid()}")
    c.on_message = on_message
    c.connect(u.host, u.port)
    c.subscribe("pumplib/#", qos=0)
    c.loop_start()
    stop.wait()
    c.loop_stop()
    c.disconnect()
    return seen


def _rows_seen(store: Path, registry, stop: threading.Event, out: dict[int, float]) -> None:
    """Poll ``pumplib.query``: the wall time each 1-minute row first has data."""
    import pumplib
    from pumplib.errors import PumplibError

    while not stop.is_set():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pumplib.query("energy_coverage", level="1min", store=str(store),
                                   registry=registry, timezone="UTC")
            cov = ds["energy_coverage"].max("asset").values
            now = time.time()
            for t, c in zip(ds.time.values.astype("datetime64[ns]").astype(np.int64), cov,
                            strict=True):
                if c > 0 and int(t) not in out:
                    out[int(t)] = now
        except (PumplibError, FileNotFoundError, OSError, KeyError, ValueError):
            pass
        stop.wait(0.25)


def _alerts(store: Path) -> pd.DataFrame:
    import sqlalchemy as sa

    db = Path(f"{store}.actions.sqlite")
    if not db.exists():
        return pd.DataFrame(columns=["rule", "asset", "start", "opened_at"])
    eng = sa.create_engine(f"sqlite:///{db}")
    with eng.connect() as conn:
        if not sa.inspect(conn).has_table("pumplib_live_alerts"):
            return pd.DataFrame(columns=["rule", "asset", "start", "opened_at"])
        frame = pd.read_sql("select rule, asset, start, opened_at from pumplib_live_alerts",
                            conn)
    eng.dispose()
    for c in ("start", "opened_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True, format="mixed")
    return frame


RULE_OF = {"dry_running": "dry_run", "out_of_range": "out_of_range", "stuck": "stuck",
           "dropout": "silent"}


def phase_realtime(args, reg_path: Path, work: Path, Broker) -> dict:
    from pumplib import config
    from pumplib.assets import AssetRegistry
    from pumplib.simulate.publish import publish

    registry = AssetRegistry.load(reg_path)
    store = work / "rt" / "store"
    store.parent.mkdir(parents=True)
    grace = pd.Timedelta(config.get("live.grace", "10s")).total_seconds()
    with Broker(work / "rt" / "broker") as broker:
        live = LiveProc(broker.url, store, reg_path, True, _env(), work / "rt" / "live.err")
        live.wait_connected(store)
        stop = threading.Event()
        closes: dict[int, float] = {}
        rows: dict[int, float] = {}
        sub = threading.Thread(target=lambda: closes.update(_closes(broker.url, grace, stop)))
        sub.start()
        poll = threading.Thread(target=_rows_seen, args=(store, registry, stop, rows))
        poll.start()
        minutes = args.realtime_s * args.speed / 60
        start = (pd.Timestamp.now("UTC") - pd.Timedelta(minutes=minutes + 60)).floor("h")
        t0 = time.time()
        rep = publish(broker.url, registry, speed=args.speed, start=start.tz_convert(None),
                      minutes=minutes, faults=args.faults, client_id="bench-sim-rt")
        pub_s = time.time() - t0
        deadline = time.monotonic() + 120          # the last minutes' rows and alerts
        last_min = rep.last_ns // (60 * NS) * 60 * NS - 60 * NS
        while time.monotonic() < deadline and last_min not in rows:
            time.sleep(0.5)
        time.sleep(2)
        stop.set()
        sub.join(30)
        poll.join(30)
        rc = live.stop()
    warm = rep.first_ns + args.warmup * 60 * NS
    half = warm + (rep.last_ns - warm) // 2       # the run's second half: past the start-up
    lat = [rows[m] - closes[m] for m in sorted(closes) if m in rows and m >= warm]
    lat2 = [rows[m] - closes[m] for m in sorted(closes) if m in rows and m >= half]
    missing = [m for m in closes if m >= warm and m not in rows]
    alerts = _alerts(store)
    f = rep.faults[rep.faults["published_at"].notna()]
    fault_lat, fault_lat2, matched, per_rule, unmatched = [], [], 0, {}, []
    for r in f.itertuples():
        rule = RULE_OF.get(r.kind)
        if rule is None or pd.Timestamp(r.start).value < warm:
            continue
        hit = alerts[(alerts["asset"] == r.asset) & (alerts["rule"] == rule)
                     & (alerts["start"] >= r.start - pd.Timedelta("10s"))
                     & (alerts["start"] <= r.end + pd.Timedelta("1min"))]
        if hit.empty:
            unmatched.append(f"{r.kind} {r.asset} {r.signal} {r.start:%H:%M:%S}-"
                             f"{r.end:%H:%M:%S}")
            continue
        matched += 1
        d = (hit["opened_at"].min() - r.published_at).total_seconds()
        fault_lat.append(d)
        if pd.Timestamp(r.start).value >= half:
            fault_lat2.append(d)
        per_rule.setdefault(rule, []).append(d)
    return {"speed": args.speed, "wall_s": round(pub_s, 1), "samples": rep.samples,
            "event_minutes": round(minutes, 1), "minutes_measured": len(lat),
            "minutes_never_readable": len(missing),
            "minute_to_row_p50_s": p50(lat), "minute_to_row_p95_s": p95(lat),
            "minute_to_row_max_s": round(max(lat), 3) if lat else None,
            "second_half_minute_to_row_p95_s": p95(lat2),
            "second_half_fault_to_alert_p95_s": p95(fault_lat2),
            "faults_published": int(len(f)), "faults_alerted": matched,
            "fault_to_alert_p50_s": p50(fault_lat), "fault_to_alert_p95_s": p95(fault_lat),
            "fault_to_alert_p95_by_rule": {k: p95(v) for k, v in per_rule.items()},
            "faults_without_alert": unmatched,
            "commits": len(live.commits), "peak_rss_gb": round(live.peak_kb * 1024 / 1e9, 3),
            "peak_rss_sum_gb": round(live.peak_sum_kb * 1024 / 1e9, 3), "exit": rc}


def phase_fast(args, reg_path: Path, work: Path, Broker) -> dict:
    from pumplib.simulate.publish import publish

    store = work / "fast" / "store"
    store.parent.mkdir(parents=True)
    with Broker(work / "fast" / "broker") as broker:
        live = LiveProc(broker.url, store, reg_path, args.fast_hooks, _env(),
                        work / "fast" / "live.err")
        live.wait_connected(store)
        start = (pd.Timestamp.now("UTC") - pd.Timedelta(hours=3)).floor("h")
        rep = publish(broker.url, reg_path, speed=None, start=start.tz_convert(None),
                      minutes=args.fast_minutes, faults=(), client_id="bench-sim-fast")
        t_end_pub = time.time()
        t_first = t_end_pub - rep.wall_s
        deadline = time.monotonic() + 600
        while live.committed() < rep.samples and time.monotonic() < deadline:
            time.sleep(0.1)
        t_done = next((t for t, _ in _cumulative(live.commits, rep.samples)), None)
        rc = live.stop()
    secs = (t_done - t_first) if t_done else None
    return {"samples": rep.samples, "publish_s": round(rep.wall_s, 2),
            "publish_samples_per_s": round(rep.samples_per_s),
            "first_message_to_last_commit_s": None if secs is None else round(secs, 2),
            "samples_per_s": None if not secs else round(rep.samples / secs),
            "committed": live.committed(), "commits": len(live.commits),
            "hooks": bool(args.fast_hooks),
            "peak_rss_gb": round(live.peak_kb * 1024 / 1e9, 3),
            "peak_rss_sum_gb": round(live.peak_sum_kb * 1024 / 1e9, 3), "exit": rc}


def _cumulative(commits, target):
    total = 0
    for t, n in commits:
        total += n
        if total >= target:
            yield t, total
            return


def phase_kill(args, reg_path: Path, work: Path, Broker) -> dict:
    from pumplib.assets import AssetRegistry
    from pumplib.ingest import ingest
    from pumplib.lake import Lake
    from pumplib.simulate import simulate
    from pumplib.simulate.publish import publish

    registry = AssetRegistry.load(reg_path)
    root = work / "kill"
    store = root / "store"
    root.mkdir(parents=True)
    start = (pd.Timestamp.now("UTC") - pd.Timedelta(hours=5)).floor("h").tz_convert(None)
    rng = random.Random(26)
    kills = 0
    with Broker(root / "broker") as broker:
        live = LiveProc(broker.url, store, reg_path, False, _env(), root / "live.err")
        live.wait_connected(store)
        out = {}
        pub = threading.Thread(target=lambda: out.update(rep=publish(
            broker.url, registry, speed=args.kill_speed, start=start,
            minutes=args.kill_minutes, faults=(), client_id="bench-sim-kill")))
        pub.start()
        while kills < args.kills:
            time.sleep(rng.uniform(0.5, 4.0))
            live.stop(signal.SIGKILL, 30)
            kills += 1
            live = LiveProc(broker.url, store, reg_path, False, _env(), root / "live.err")
            live.wait_connected(store)
        pub.join(600)
        rep = out["rep"]
        from pumplib.live.service import live_status

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:     # everything queued at the broker logged
            st = live_status(str(store))
            got = sum(s["received"] - s["duplicates"] for s in st["sources"].values())
            if got >= rep.samples and st["queue_depth"] == 0:
                break
            time.sleep(0.3)
        live.stop()
    # what was published: the simulator's rows of the window, ingested by the batch path
    sim = simulate(registry, start=start, days=1, freq="1s", faults=())
    frame = pd.concat([c.frame for c in sim])
    t0 = pd.Timestamp(start, tz="UTC")
    frame = frame[(frame.timestamp >= t0)
                  & (frame.timestamp < t0 + pd.Timedelta(minutes=args.kill_minutes))]
    frame.to_parquet(root / "published.parquet", index=False)
    batch = Lake(root / "batch", create=True)
    ingest([root / "published.parquet"], store=batch, registry=registry, cadence="1s",
           progress=False)
    a = Lake(store).open_raw("1s").load()
    b = batch.open_raw("1s").load()
    a = a.sel(asset=sorted(a.asset.values)).reindex(time=b.time)
    b = b.sel(asset=sorted(b.asset.values))
    lost = dup = n_pub = 0
    for v in b.data_vars:
        if str(v).endswith("_sq"):
            continue
        bv = b[v].values
        av = a[v].reindex(asset=b.asset).values if v in a else np.full_like(bv, np.nan)
        fb, fa = np.isfinite(bv), np.isfinite(av)
        n_pub += int(fb.sum())
        lost += int((fb & ~fa).sum() + (fb & fa & (av != bv)).sum())
        dup += int((fa & ~fb).sum())
    extra = [v for v in a.data_vars if v not in b.data_vars and not str(v).endswith("_sq")]
    dup += sum(int(np.isfinite(a[v].values).sum()) for v in extra)
    q = Lake(store).quarantine()
    dup_q = int(q["reason"].astype(str).str.contains("duplicate").sum()) if len(q) else 0
    return {"kills": kills, "samples_published": rep.samples, "cells_expected": n_pub,
            "rows_in_window": int(len(frame)), "lost_samples": lost,
            "duplicated_samples": dup + dup_q, "quarantined": int(len(q))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realtime-s", type=float, default=60.0,
                    help="wall seconds of the real time × speed phase (600: the issue's run)")
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--warmup", type=int, default=3, help="event minutes left out (phase 1)")
    ap.add_argument("--faults", default="dry_running=1000,out_of_range=1000")
    ap.add_argument("--fast-minutes", type=float, default=10.0)
    ap.add_argument("--fast-hooks", action="store_true",
                    help="phase 2 with --rows --alerts too")
    ap.add_argument("--kill-minutes", type=float, default=10.0)
    ap.add_argument("--kill-speed", type=float, default=30.0)
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--commit-process", action="store_true",
                    help="live.commit_process: commits and hooks in a process of their own")
    ap.add_argument("--phases", default="realtime,fast,kill")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)
    if args.commit_process:
        EXTRA_ENV["PUMPLIB_LIVE__COMMIT_PROCESS"] = "true"

    from pumplib.live.demo import Broker
    from pumplib.simulate import make_registry

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_live_"))
    work.mkdir(parents=True, exist_ok=True)
    from pumplib.assets import AssetRegistry

    reg_path = work / "assets.yaml"
    reg_path.write_text(AssetRegistry.from_dict(
        make_registry(n_stations=4, pumps_per_station=5)).to_yaml())
    phases = args.phases.split(",")
    res: dict = {"load_before": round(os.getloadavg()[0], 1),
                 "commit_process": bool(args.commit_process)}
    t = time.time()
    if "realtime" in phases:
        res["realtime"] = phase_realtime(args, reg_path, work, Broker)
        print("realtime", json.dumps(res["realtime"]), flush=True)
    if "fast" in phases:
        res["fast"] = phase_fast(args, reg_path, work, Broker)
        print("fast", json.dumps(res["fast"]), flush=True)
    if "kill" in phases:
        res["kill"] = phase_kill(args, reg_path, work, Broker)
        print("kill", json.dumps(res["kill"]), flush=True)
    res["load_after"] = round(os.getloadavg()[0], 1)
    res["wall_s"] = round(time.time() - t, 1)
    rt, fa, ki = res.get("realtime", {}), res.get("fast", {}), res.get("kill", {})
    res.update(samples_per_s=fa.get("samples_per_s"),
               minute_to_row_p95_s=rt.get("minute_to_row_p95_s"),
               fault_to_alert_p95_s=rt.get("fault_to_alert_p95_s"),
               lost_samples=ki.get("lost_samples"), duplicated_samples=ki.get("duplicated_samples"),
               peak_rss_gb=max(rt.get("peak_rss_gb") or 0, fa.get("peak_rss_gb") or 0) or None)
    last = {k: res[k] for k in ("samples_per_s", "minute_to_row_p95_s", "fault_to_alert_p95_s",
                                "lost_samples", "duplicated_samples", "peak_rss_gb")}
    print(json.dumps({**last, "details": res}))
    return res


if __name__ == "__main__":
    main()
