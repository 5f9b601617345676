"""The live path: write-ahead log, payloads, committer, and MQTT end to end through mosquitto.

The end-to-end tests run a real mosquitto (``tests/broker.py``) and compare the
lake the live path commits with a batch ingest of the same samples (the same
code must give the same cells), through a crash (``kill -9`` of a running
``pumplib live run``), a broker restart and a concurrent batch ingest.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from pumplib import config
from pumplib.ingest import ingest
from pumplib.lake import Lake
from pumplib.live.committer import Committer
from pumplib.live.payload import Decoder, split_topic
from pumplib.live.service import LiveService, live_status, log_path
from pumplib.live.wal import Sample, SampleLog, read_stats

from .broker import Mosquitto, needs_mosquitto

T0 = pd.Timestamp("2026-03-02T00:00:00Z").value
S = 10**9
TAGS = ["N.P1.FLOW", "N.P1.PD", "N.P1.KW", "N.P2.FLOW", "N.P2.TB", "N.T1.LEVEL"]
SIGNALS = ["flow", "discharge_pressure", "power", "bearing_temperature", "level"]


def fleet(seconds: int, start_ns: int = T0, seed: int = 0) -> list[tuple[str, int, float]]:
    """``(tag, ts_ns, value)`` of every tag at 1 Hz, in time order."""
    rng = np.random.default_rng(seed)
    vals = rng.normal(50, 5, size=(seconds, len(TAGS))).round(3)
    return [(tag, start_ns + s * S, float(vals[s, j])) for s in range(seconds)
            for j, tag in enumerate(TAGS)]


def batch_lake(tmp_path, rows, registry, name="batch") -> Lake:
    """A batch ingest of ``rows`` (tag, ts_ns, value-or-text) from one CSV file."""
    df = pd.DataFrame({"timestamp": [pd.Timestamp(r[1], tz="UTC").isoformat() for r in rows],
                       "tag": [r[0] for r in rows], "value": [r[2] for r in rows]})
    path = tmp_path / f"{name}.csv"
    df.to_csv(path, index=False)
    ingest(path, "long_csv", store=str(tmp_path / name), registry=registry, progress=False)
    return Lake(str(tmp_path / name))


def cells(lake: Lake) -> dict[str, np.ndarray]:
    ds = lake.open_raw("1s").load().sortby("asset")   # rows in order of first arrival
    return {s: ds[s].values for s in SIGNALS if s in ds} | {"asset": ds.asset.values,
                                                             "time": ds.time.values}


def assert_same_cells(a: Lake, b: Lake) -> None:
    ca, cb = cells(a), cells(b)
    assert list(ca) == list(cb)
    for k in ca:
        np.testing.assert_array_equal(ca[k], cb[k], err_msg=k)


def publish(url: str, messages: list[tuple[str, dict | bytes]], client_id: str = "pub",
            pace: float = 0.0) -> None:
    """Publish ``(topic, payload)`` with QoS 1 (``pace`` seconds apart) and wait until the
    broker has each."""
    import paho.mqtt.client as mqtt

    from pumplib.live.mqtt import parse_broker_url

    u = parse_broker_url(url)
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.connect(u.host, u.port)
    c.loop_start()
    try:
        infos = []
        for t, p in messages:
            infos.append(c.publish(t, p if isinstance(p, bytes) else json.dumps(p), qos=1))
            if pace:
                time.sleep(pace)
        for info in infos:
            info.wait_for_publish(30)
    finally:
        c.disconnect()
        c.loop_stop()


def as_messages(rows, per_message: int = 60, station: str = "north") -> list[tuple[str, dict]]:
    """Batches of samples, epoch-ms times, one topic a station."""
    out = []
    for i in range(0, len(rows), per_message):
        out.append((f"pumplib/{station}/batch", {"samples": [
            {"tag": t, "ts": ts // 10**6, "value": v} for t, ts, v in rows[i:i + per_message]]}))
    return out


# -- the write-ahead log -----------------------------------------------------------------------

def test_log_is_idempotent_keeps_conflicts_and_truncates_what_was_committed(tmp_path):
    log = SampleLog(tmp_path / "wal.sqlite")
    assert log.append([Sample("a", 1, 1.0), Sample("a", 2, None, "bad"), Sample("b", 1, 2.0)],
                      "s1") == 3
    # a redelivery is stored once; another value for a stored key is kept as a conflict
    assert log.append([Sample("a", 1, 1.0), Sample("a", 1, 5.0)], "s2") == 0
    df = log.pending(2)
    assert list(df["ts_ns"]) == [1, 1, 1] and list(df["conflict"]) == [False, False, True]
    # a sample arriving between pending() and mark_committed() stays pending
    log.append([Sample("c", 0, 3.0)], "s1")
    log.mark_committed(2, "SNAP")
    left = log.pending()
    assert sorted(zip(left["tag"], left["ts_ns"], strict=True)) == [("a", 2), ("c", 0)]
    st = log.stats()
    assert st["depth"] == 2 and st["last_commit"]["snapshot"] == "SNAP"
    assert st["sources"]["s2"] == {**st["sources"]["s2"], "received": 2, "duplicates": 1,
                                   "conflicts": 1}
    log.close()
    # reading the log of a stopped service creates nothing beside it
    before = sorted(os.listdir(tmp_path))
    assert read_stats(tmp_path / "wal.sqlite")["depth"] == 2
    assert read_stats(tmp_path / "nothing.sqlite") is None
    assert sorted(os.listdir(tmp_path)) == before
    # samples survive a reopen (they are on disk when append returns)
    again = SampleLog(tmp_path / "wal.sqlite")
    assert len(again.pending()) == 2
    again.close()


def test_payloads_single_batch_iso_and_rejects():
    dec = Decoder(prefix="pumplib", timezone="Europe/Amsterdam",
                  timezones={"south": "UTC"})
    assert split_topic("pumplib/north/N/P1/FLOW", "pumplib") == ("north", "FLOW")
    got = dec.decode([
        ("pumplib/north/N.P1.FLOW", b'{"ts": 1772409600000, "value": 12.5}'),
        ("pumplib/north/x", json.dumps({"samples": [
            {"tag": "N.P1.PD", "ts": "2026-03-02T01:00:00", "value": 3},        # local time
            {"tag": "N.P1.KW", "ts": "2026-03-02T00:00:00Z", "value": "bad"},
            {"tag": "N.P1.RUN", "ts": 1772409600000.5, "value": True},
            {"tag": "N.P1.KW", "ts": "yesterday", "value": 1},
            {"tag": "N.P1.KW", "value": 1}]}).encode()),
        ("pumplib/south/y", b'{"tag": "S.X", "ts": "2026-03-02T01:00:00", "value": null}'),
        ("pumplib/north/z", b"not json"),
        ("other/north/z", b"{}"),
    ])
    north = {s.tag: s for s in got.samples["north"]}
    assert north["N.P1.FLOW"] == Sample("N.P1.FLOW", 1772409600000 * 10**6, 12.5)
    assert north["N.P1.PD"].ts_ns == T0                      # 01:00 CET is 00:00 UTC
    assert north["N.P1.KW"].value is None and north["N.P1.KW"].raw == "bad"
    assert north["N.P1.RUN"].value == 1.0 and north["N.P1.RUN"].ts_ns == T0 + 500_000
    assert got.samples["south"][0].ts_ns == T0 + 3600 * S    # south is on UTC
    reasons = sorted(r["reason"].split(" ")[0] for r in got.rejects)
    assert reasons == ["missing", "payload", "topic", "unparseable"], got.rejects


def test_broker_urls_and_cli_errors_are_one_line(tmp_path):
    from pumplib.errors import ArgumentError
    from pumplib.live.mqtt import parse_broker_url

    assert parse_broker_url("mqtt://u:p%40ss@host").password == "p@ss"
    assert parse_broker_url("mqtts://host").port == 8883
    for bad in ("http://h:1", "mqtt://h:99999", "mqtt://", "mqtt://h/topic"):
        with pytest.raises(ArgumentError):
            parse_broker_url(bad)
    from typer.testing import CliRunner

    from pumplib.cli import app

    runner = CliRunner()
    for args in (["run", "--broker", "http://h", "--store", str(tmp_path / "s")],
                 ["run", "--broker", "mqtt://h:1", "--store", str(tmp_path / "s"),
                  "--cadence", "7q"],
                 ["run", "--broker", "mqtt://h:1", "--store", str(tmp_path / "s"),
                  "--registry", str(tmp_path / "none.yaml")],
                 ["run", "--store", str(tmp_path / "s")],             # no source at all
                 ["status", "--store", str(tmp_path / "s")]):
        res = runner.invoke(app, ["live", *args])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.stderr and res.stderr.strip().count("\n") == 0, res.stderr
    # the command as people run it (one line on stderr, status 2), in a process where
    # `import pumplib` has not loaded paho (it is the live path's own import)
    code = ("import sys, pumplib, pumplib.live\n"
            "assert not [m for m in sys.modules if m.startswith('paho')], 'paho imported'\n"
            "from pumplib.cli import main\n"
            "sys.argv = ['pumplib', 'live', 'run', '--broker', 'mqtt://h:0']\n"
            "main()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PUMPLIB_STORE__URL": str(tmp_path / "s")})
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "port" in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []       # nothing created


def test_committer_equals_batch_ingest_with_late_bad_and_conflicting_samples(
        tmp_path, registry):
    rows = fleet(180)
    log = SampleLog(tmp_path / "wal.sqlite")
    com = Committer(log, str(tmp_path / "live"), registry, grace="10s")
    seen = []
    com.on_commit.append(lambda lake, a, b: seen.append((a, b)))
    late = [r for r in rows if r[1] < T0 + 30 * S and r[0] == "N.P1.FLOW"]
    first = [r for r in rows if r not in late]
    random.Random(1).shuffle(first)                          # out of order within the minute
    log.append([Sample(*r) for r in first], "mqtt:north")
    log.append([Sample("N.P1.KW", T0 + 5 * S, None, "Bad"), Sample("NOPE", T0, 1.0)],
               "mqtt:north")
    rep = com.commit_due()                   # watermark 00:02:49 → minutes 0 and 1 close
    assert rep.stop_ns == T0 + 120 * S and seen == [(T0, T0 + 120 * S)]
    # late samples of a committed minute merge in the next commit, by the same path
    log.append([Sample(*r) for r in late], "mqtt:north")
    assert com.commit_due().start_ns == T0   # same cut, late samples only
    assert com.commit(None).stop_ns == T0 + 179 * S + 1
    assert log.stats()["depth"] == 0
    expected = batch_lake(tmp_path, first + late + [("N.P1.KW", T0 + 5 * S, "Bad"),
                                                    ("NOPE", T0, 1.0)], registry)
    live = Lake(str(tmp_path / "live"))
    assert_same_cells(live, expected)
    q = live.quarantine()
    assert sorted(q["reason"].str.split(" ").str[0]) == ["unknown", "value"]
    assert set(q["source"]) == {"mqtt:north"}
    assert all(c.metadata.get("kind") == "live" for c in live.log()[:3])


def test_a_commit_interrupted_after_it_landed_is_not_written_twice(tmp_path, registry):
    log = SampleLog(tmp_path / "wal.sqlite")
    com = Committer(log, str(tmp_path / "live"), registry)
    log.append([Sample(*r) for r in fleet(30)], "mqtt:north")
    com.commit(None)
    n = len(com.lake.log())
    # the crash: the lake commit landed, the log was not told (its record is left)
    log.append([Sample(*r) for r in fleet(30, T0 + 30 * S)], "mqtt:north")
    frame = log.pending()
    log.set_state("inflight", f"live-x {T0 + 60 * S} {log.last_pending_seq}")
    with com.lake.transaction("live: the crashed one", {"kind": "live", "run_id": "live-x"}) as tx:
        from pumplib.live.committer import ingest_samples

        ingest_samples(tx, frame, registry, "1s", "live-x")
    assert com.recover() is not None and log.stats()["depth"] == 0
    assert com.commit(None) is None and len(com.lake.log()) == n + 1


# -- MQTT end to end ------------------------------------------------------------------------

def _service(broker, tmp_path, registry, **kw):
    svc = LiveService(broker.url, str(tmp_path / "live"), registry, **kw)
    ready = threading.Event()
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("rc", svc.run(ready=ready)),
                          daemon=True)
    th.start()
    assert ready.wait(30), "the live service did not subscribe"
    return svc, th, out


def _wait_logged(svc, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = svc.log.stats()
        got = sum(s["received"] - s["duplicates"] for s in st["sources"].values())
        if got >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"only {got} of {n} samples logged")


@needs_mosquitto
def test_mqtt_end_to_end_equals_batch_and_survives_a_broker_restart(tmp_path, registry):
    rows = fleet(240)
    half = len(rows) // 2
    with Mosquitto(tmp_path / "mq") as broker, config.set({"live.flush_idle": "1s"}):
        svc, th, out = _service(broker, tmp_path, registry)
        publish(broker.url, as_messages(rows[:half]))
        _wait_logged(svc, half)
        broker.restart()                      # the service reconnects with backoff
        publish(broker.url, as_messages(rows[half:]) + [
            ("pumplib/north/N.P2.TB", {"ts": "2026-03-02T01:00:30", "value": "n/a"}),
            ("pumplib/north/junk", b"{nope")])
        _wait_logged(svc, len(rows) + 1)
        st = live_status(str(tmp_path / "live"))
        assert st["running"] and st["sources"]["mqtt:north"]["received"] >= len(rows)
        svc.stop()
        th.join(60)
    assert out["rc"] == 0 and svc.source.connects >= 2
    live = Lake(str(tmp_path / "live"))
    # 01:00:30 Amsterdam (ingest.source_timezone is UTC here: the live zone defaults to it)
    expected = batch_lake(tmp_path, rows + [("N.P2.TB", T0 + 3630 * S, "n/a")], registry)
    assert_same_cells(live, expected)
    q = live.quarantine()
    assert {r.split(" ")[0] for r in q["reason"]} == {"value", "payload"}
    from typer.testing import CliRunner

    from pumplib.cli import app

    before = sorted(os.listdir(tmp_path))
    res = CliRunner().invoke(app, ["live", "status", "--store", str(tmp_path / "live"),
                                   "--json"])
    st = json.loads(res.stdout)
    assert not st["running"] and st["queue_depth"] == 0 and st["last_commit"] is not None
    assert st["sources"]["mqtt:north"]["received"] >= len(rows) and st["lag_s"] == 0.0
    res = CliRunner().invoke(app, ["live", "status", "--store", str(tmp_path / "live")])
    assert res.exit_code == 0 and "live: not running" in res.stdout, res.output
    assert "mqtt:north:" in res.stdout and "last commit:" in res.stdout
    assert sorted(os.listdir(tmp_path)) == before           # reading created nothing


@needs_mosquitto
def test_live_and_a_concurrent_batch_ingest_of_the_same_chunks_both_land(tmp_path, registry):
    live_rows = fleet(600, T0 + 3600 * S)                 # 01:00-01:10
    batch_rows = fleet(600, T0, seed=5)                   # 00:00-00:10, the same day chunk
    csvs = []
    for i in range(3):
        part = batch_rows[i * 1200:(i + 1) * 1200]
        df = pd.DataFrame({"timestamp": [pd.Timestamp(r[1], tz="UTC").isoformat()
                                         for r in part],
                           "tag": [r[0] for r in part], "value": [r[2] for r in part]})
        csvs.append(tmp_path / f"b{i}.csv")
        df.to_csv(csvs[-1], index=False)
    with Mosquitto(tmp_path / "mq") as broker, config.set({"live.flush_idle": "1s"}):
        svc, th, out = _service(broker, tmp_path, registry)
        pub = threading.Thread(target=publish, args=(broker.url, as_messages(live_rows, 30)))
        pub.start()
        for f in csvs:                        # batch ingests while live commits
            ingest(f, "long_csv", store=str(tmp_path / "live"), registry=registry,
                   progress=False)
        pub.join(60)
        _wait_logged(svc, len(live_rows))
        svc.stop()
        th.join(60)
    assert out["rc"] == 0
    expected = batch_lake(tmp_path, batch_rows + live_rows, registry)
    assert_same_cells(Lake(str(tmp_path / "live")), expected)


def _spawn(broker, store, registry_file, env, errors):
    with open(errors, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "pumplib", "live", "run", "--broker", broker.url, "--store",
             store, "--registry", str(registry_file), "--quiet"],
            env=env, stdout=subprocess.DEVNULL, stderr=err)


def _wait_connected(store, proc, errors, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"live exited {proc.returncode}: {errors.read_text()[-800:]}")
        try:
            st = live_status(store)
            if st["running"] and st["connected"] and st["pid"] == proc.pid:
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.05)
    raise AssertionError("the live process did not connect")


def _wait_drained(store: str, n: int, timeout: float = 60) -> None:
    """Until ``n`` samples were logged (each once) and the log is committed empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = live_status(store)
        if sum(s["received"] - s["duplicates"] for s in st["sources"].values()) >= n \
                and st["queue_depth"] == 0:
            return
        time.sleep(0.2)


@needs_mosquitto
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path, registry,
                                                               registry_file):
    rows = fleet(1200)                                     # 20 minutes × 6 tags
    messages = as_messages(rows, 40)
    store = str(tmp_path / "live")
    errors = tmp_path / "live.stderr"
    env = {**os.environ, "PUMPLIB_LIVE__FLUSH_IDLE": "1s", "PUMPLIB_INGEST__PROGRESS": "False"}
    rng = random.Random(26)
    with Mosquitto(tmp_path / "mq") as broker:
        proc = _spawn(broker, store, registry_file, env, errors)
        _wait_connected(store, proc, errors)
        # the publisher sends all along (about 0.1 s a message) while the live process is
        # killed at random moments and started again (6 starts of ~5 s on a loaded 2-core box)
        pub = threading.Thread(target=publish, args=(broker.url, messages, "sim", 0.15))
        pub.start()
        kills, orphans = 0, []
        while kills < 5:
            time.sleep(rng.uniform(0.1, 2.0))
            child = live_status(store)["committer_pid"]     # with live.commit_process
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kills += 1
            if child is not None:
                orphans.append(child)
            # every other start commits in a process of its own (live.commit_process)
            env["PUMPLIB_LIVE__COMMIT_PROCESS"] = "true" if kills % 2 else "false"
            proc = _spawn(broker, store, registry_file, env, errors)
            _wait_connected(store, proc, errors)
            while env["PUMPLIB_LIVE__COMMIT_PROCESS"] == "true" \
                    and live_status(store)["committer_pid"] is None:
                time.sleep(0.05)                          # its committer is up too
        pub.join(120)
        _wait_drained(store, len(rows))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, errors.read_text()[-800:]
    # a committer process never outlives its killed service
    assert len(orphans) >= 2
    assert not [pid for pid in orphans if os.path.exists(f"/proc/{pid}")]
    live = Lake(store)
    expected = batch_lake(tmp_path, rows, registry)
    assert_same_cells(live, expected)                     # nothing lost, nothing else there
    n = sum(int(np.isfinite(v).sum()) for k, v in cells(live).items() if k in SIGNALS)
    assert n == len(rows)
    assert live.quarantine().empty                        # no duplicate rows quarantined
    st = read_stats(log_path(store))
    assert st["depth"] == 0 and st["state"].get("inflight") is None
    redelivered = sum(s["duplicates"] for s in st["sources"].values())
    print(f"kill -9 ×{kills}: {len(rows)} samples, {st['commits']} commits, "
          f"{redelivered} redelivered samples stored once")


def test_the_watermark_waits_for_a_lagging_source_not_for_a_silent_one(tmp_path, registry):
    log = SampleLog(tmp_path / "wal.sqlite")
    with config.set({"live.source_active": "0.5s"}):
        com = Committer(log, str(tmp_path / "live"), registry, grace="10s", cadence="1s")
    log.append([Sample("N.P1.FLOW", T0 + 300 * S, 1.0)], "mqtt:north")
    log.append([Sample("N.P2.FLOW", T0 + 120 * S, 1.0)], "mqtt:south")   # its clock lags
    # a sample stamped a day ahead of the wall clock moves nothing (batch quarantines it)
    log.append([Sample("N.P2.FLOW", time.time_ns() + 86400 * S, 1.0)], "mqtt:south")
    assert com.due_cut() == T0 + 60 * S
    time.sleep(0.6)                                   # south falls silent
    log.append([Sample("N.P1.FLOW", T0 + 301 * S, 1.0)], "mqtt:north")
    assert com.due_cut() == T0 + 240 * S
    rep = com.commit(None)
    assert rep.quarantined == 1                       # the sample from the future
    q = Lake(str(tmp_path / "live")).quarantine()
    assert q["reason"].str.contains("future").all()


def test_an_opcua_source_commits_through_the_same_log_and_path(tmp_path):
    """``LiveService`` with an OPC UA source (no broker): served readings, committed."""
    import asyncio

    from pumplib.assets import AssetRegistry
    from pumplib.live.opcua import SimulatedServer
    from pumplib.simulate import make_registry

    reg = AssetRegistry.from_dict(make_registry(n_stations=1, pumps_per_station=1))
    tags = sorted(reg.tags)[:3]
    rows = [(t, T0 + s * S, float(10 * j + s)) for s in range(90) for j, t in enumerate(tags)]
    loop = asyncio.new_event_loop()                  # the server's, in a thread of its own
    server_thread = threading.Thread(target=loop.run_forever, daemon=True)
    server_thread.start()

    def on_server(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    srv = on_server(SimulatedServer(reg).start())
    spec = {"opcua": {"endpoint": srv.endpoint, "publishing_interval": 0.05,
                      "nodes": {k: v for k, v in srv.config().nodes.items() if v in tags}}}
    try:
        with config.set({"live.flush_idle": "1s"}):
            svc = LiveService(None, str(tmp_path / "live"), reg, opcua=spec)
            ready = threading.Event()
            th = threading.Thread(target=svc.run, kwargs={"ready": ready}, daemon=True)
            th.start()
            assert ready.wait(30)
            on_server(srv.write(rows))
            _wait_logged(svc, len(rows))
            svc.stop()
            th.join(60)
    finally:
        on_server(srv.stop())
        loop.call_soon_threadsafe(loop.stop)
        server_thread.join(10)
        loop.close()
    from pumplib import signals
    from pumplib.units import conversion

    ds = Lake(str(tmp_path / "live")).open_raw("1s").load()
    for t, ts, v in rows:                             # each reading, in canonical units
        info = reg.tag(t)
        scale, offset = conversion(info.unit, signals.get(info.signal).unit)
        got = float(ds[info.signal].sel(asset=info.asset, time=pd.Timestamp(ts)))
        assert got == v * scale + offset, (t, ts)
    assert int(sum(ds[s].notnull().sum() for s in ds.data_vars)) == len(rows)


# -- Sparkplug B ------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, body: bytes) -> bytes:
    return _varint(number << 3 | wire) + body


def _metric(name=None, alias=None, ts=None, datatype=None, **value) -> bytes:
    """A Sparkplug B Metric, encoded by hand from the field numbers of sparkplug_b.proto."""
    import struct

    b = b""
    if name is not None:
        b += _field(1, 2, _varint(len(name.encode())) + name.encode())
    if alias is not None:
        b += _field(2, 0, _varint(alias))
    if ts is not None:
        b += _field(3, 0, _varint(ts))
    if datatype is not None:
        b += _field(4, 0, _varint(datatype))
    for k, v in value.items():
        if k == "double_value":
            b += _field(13, 1, struct.pack("<d", v))
        elif k == "int_value":
            b += _field(10, 0, _varint(v))
        elif k == "is_null":
            b += _field(7, 0, _varint(int(v)))
        elif k == "string_value":
            b += _field(15, 2, _varint(len(v.encode())) + v.encode())
        elif k == "metadata":                    # a field the live path does not read
            b += _field(8, 2, _varint(len(v)) + v)
    return b


def _payload(ts: int, metrics: list[bytes], seq: int = 0) -> bytes:
    return (_field(1, 0, _varint(ts)) + b"".join(_field(2, 2, _varint(len(m)) + m)
                                                 for m in metrics) + _field(3, 0, _varint(seq)))


def test_sparkplug_b_births_aliases_and_values():
    from pumplib.live.sparkplug import SparkplugDecoder

    ms = T0 // 10**6
    dec = Decoder(prefix="pumplib")
    birth = _payload(ms, [_metric("N.P1.FLOW", 1, datatype=10, double_value=1.5,
                                  metadata=b"\x0a\x00"),
                          _metric("N.P1.PD", 2, datatype=3, int_value=2**32 - 5)])
    data = _payload(ms + 1000, [_metric(alias=1, ts=ms + 2000, datatype=10, double_value=2.5),
                                _metric(alias=2, datatype=3, is_null=True),
                                _metric(alias=7, datatype=10, double_value=1.0),
                                _metric("N.P1.KW", datatype=12, string_value="Bad")])
    got = dec.decode([("spBv1.0/plant/NBIRTH/north", birth),
                      ("spBv1.0/plant/NDATA/north", data),
                      ("spBv1.0/plant/NDEATH/north", b""),
                      ("spBv1.0/plant/NDATA/north", b"\xff\xff")])
    assert got.samples["north"] == [
        Sample("N.P1.FLOW", T0, 1.5), Sample("N.P1.PD", T0, -5.0),
        Sample("N.P1.FLOW", T0 + 2 * S, 2.5), Sample("N.P1.PD", T0 + S, None),
        Sample("N.P1.KW", T0 + S, None, "Bad")]
    assert [r["reason"].split(":")[0] for r in got.rejects] == [
        "metric alias 7 has no name", "not a Sparkplug B payload"]
    # the aliases outlive a restart through the log's state
    again = SparkplugDecoder(json.loads(dec.sparkplug.state()))
    out: dict = {}
    again.decode("spBv1.0/plant/NDATA/north", data, out, [])
    assert out["north"][0] == Sample("N.P1.FLOW", T0 + 2 * S, 2.5)


@needs_mosquitto
def test_sparkplug_b_over_mqtt_into_the_lake(tmp_path, registry):
    ms = T0 // 10**6
    tags = ["N.P1.FLOW", "N.P2.FLOW"]
    birth = _payload(ms, [_metric(t, i, datatype=10, double_value=float(i))
                          for i, t in enumerate(tags)])
    datas = [_payload(ms + 1000 * s, [_metric(alias=i, datatype=10, double_value=s + 0.5 * i)
                                      for i in range(2)], seq=s % 256) for s in range(1, 120)]
    rows = [(t, T0, float(i)) for i, t in enumerate(tags)] + [
        (tags[i], T0 + s * S, s + 0.5 * i) for s in range(1, 120) for i in range(2)]
    with Mosquitto(tmp_path / "mq") as broker, config.set({"live.flush_idle": "1s",
                                                            "live.sparkplug": True}):
        svc, th, out = _service(broker, tmp_path, registry)
        publish(broker.url, [("spBv1.0/plant/NBIRTH/north", birth)]
                + [("spBv1.0/plant/NDATA/north", d) for d in datas])
        _wait_logged(svc, len(rows))
        svc.stop()
        th.join(60)
    assert out["rc"] == 0
    live, expected = Lake(str(tmp_path / "live")), batch_lake(tmp_path, rows, registry)
    assert_same_cells(live, expected)
    assert "mqtt:north" in read_stats(log_path(str(tmp_path / "live")))["sources"]


def test_the_repeated_autumn_hour_is_told_apart_per_tag_in_arrival_order():
    dec = Decoder(prefix="pumplib", timezone="Europe/Amsterdam")
    wall = "2026-10-25T02:30:00"                  # happens twice in Amsterdam
    first = dec.decode([("pumplib/north/x", json.dumps({"samples": [
        {"tag": t, "ts": wall, "value": 1} for t in ("A", "B")]}).encode())])
    again = dec.decode([("pumplib/north/x", json.dumps({"samples": [
        {"tag": t, "ts": wall, "value": 2} for t in ("A", "B")]}).encode())])
    summer = pd.Timestamp("2026-10-25T00:30:00Z").value      # 02:30 CEST
    assert [s.ts_ns for s in first.samples["north"]] == [summer, summer]
    assert [s.ts_ns for s in again.samples["north"]] == [summer + 3600 * S] * 2   # CET


def test_a_backlog_is_committed_in_bounded_commits_oldest_windows_first(tmp_path, registry):
    rows = fleet(300)                                        # 5 minutes × 6 tags = 1,800
    log = SampleLog(tmp_path / "wal.sqlite")
    log.append([Sample(*r) for r in rows], "mqtt:north")
    com = Committer(log, str(tmp_path / "live"), registry, cadence="1s")
    seen = []
    com.on_commit.append(lambda lake, a, b: seen.append((a, b)))
    with config.set({"live.max_commit_samples": 500}):
        rep = com.commit(None)
    # 500 samples reach into the second minute: one window a commit (360 samples each)
    assert [b for _, b in seen] == [T0 + m * 60 * S for m in (1, 2, 3, 4)] + [rep.stop_ns]
    assert log.stats()["depth"] == 0
    assert_same_cells(Lake(str(tmp_path / "live")), batch_lake(tmp_path, rows, registry))

