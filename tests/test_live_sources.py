"""Live sources: the simulator publishing through a real mosquitto, and OPC UA.

The publisher is checked against the simulator's own export rows (the same
multiset of tag, timestamp and value over a whole day, faults included), the
command line against its one-line errors, and the OPC UA source against an
asyncua server on a free port writing into the live path's SampleLog.
"""

from __future__ import annotations

import collections
import json
import threading
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pumplib.cli import app
from pumplib.simulate import make_registry, registry_yaml, simulate
from pumplib.simulate.publish import encode_batch, parse_broker, parse_faults, publish

from .broker import Mosquitto, free_port, needs_mosquitto

runner = CliRunner()
REG = make_registry(n_stations=2, pumps_per_station=(2, 1))
START = "2026-03-09"


class Subscriber:
    """Collect every message under ``pumplib/#`` (QoS 1) from a broker."""

    def __init__(self, broker: Mosquitto):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        ready = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{free_port()}")
        c.on_message = lambda cl, u, m: self._got(m.topic, m.payload)
        c.on_subscribe = lambda *a: ready.set()
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        c.subscribe("pumplib/#", qos=1)
        assert ready.wait(10)
        self.client = c

    def _got(self, topic, payload):
        with self._lock:
            self.messages.append((topic, payload))

    def wait_for(self, n_messages: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n_messages and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)           # anything beyond the expected count shows up too

    def samples(self) -> list[tuple[str, str, int, float | None]]:
        out = []
        for topic, payload in self.messages:
            for s in json.loads(payload)["samples"]:
                out.append((topic, s["tag"], s["ts"], s["value"]))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def expected_rows(reg=None, **kw) -> tuple[collections.Counter, dict[str, str]]:
    """The simulator's long export rows as a multiset of (tag, epoch ms, value or None)."""
    sim = simulate(REG if reg is None else reg, **kw)
    rows = collections.Counter()
    for chunk in sim:
        ts, code, value, _ = chunk.long_arrays()
        for t, c, v in zip((ts // 1_000_000).tolist(), code.tolist(), value.tolist(), strict=True):
            rows[(chunk.tags[c], t, None if v != v else v)] += 1
    return rows, {s.tag: s.station for s in sim.specs}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with Mosquitto(tmp_path_factory.mktemp("mq")) as b:
        yield b


def test_parsers_and_encoding():
    assert parse_broker("mqtt://localhost") == ("localhost", 1883)
    assert parse_faults("dry_running=30,stuck") == {"dry_running": 30.0, "stuck": 1.0}
    payload = encode_batch(['{"tag":"A.B","ts":'], np.array([1_773_014_400_000_000_000, 0]),
                           np.array([0, 0]), np.array([1.25, np.nan]))
    assert json.loads(payload) == {"samples": [
        {"tag": "A.B", "ts": 1_773_014_400_000, "value": 1.25},
        {"tag": "A.B", "ts": 0, "value": None}]}


def test_payloads_decode_with_the_live_decoder():
    """The contract: what the publisher encodes, pumplib.live decodes to the same samples."""
    from pumplib.live.payload import Decoder
    from pumplib.live.wal import Sample
    from pumplib.simulate.publish import second_batches

    sim = simulate(REG, start=START, days=1, freq="1min", seed=7, faults=None)
    messages, want = [], []
    for _, batch in second_batches(sim):
        for rows, sl in batch:
            messages.append((f"pumplib/{rows.station}/samples",
                             encode_batch(rows.prefixes, rows.ts[sl], rows.code[sl],
                                          rows.value[sl])))
            want += [Sample(rows.tags[c], t, None if v != v else v) for c, t, v in
                     zip(rows.code[sl].tolist(), rows.ts[sl].tolist(), rows.value[sl].tolist(),
                         strict=True)]
    decoded = Decoder(prefix="pumplib").decode(messages)
    assert decoded.rejects == []
    got = [s for station in decoded.samples.values() for s in station]
    assert collections.Counter(got) == collections.Counter(want)
    assert set(decoded.samples) == {s.station for s in sim.specs}


@needs_mosquitto
def test_a_day_arrives_exactly_as_the_simulator_exports_it(broker):
    """Every export row of a faulty day, once per row (duplicates twice), nothing else."""
    kw = dict(start=START, days=1, freq="1min", seed=7, faults=None)
    want, station_of = expected_rows(**kw)
    sub = Subscriber(broker)
    try:
        report = publish(broker.url, REG, speed="max", **kw)
        sub.wait_for(report.messages)
        got = sub.samples()
    finally:
        sub.close()
    assert report.acked_messages == report.messages == len(sub.messages)
    assert report.samples == len(got) == sum(want.values())
    assert collections.Counter((tag, ts, v) for _, tag, ts, v in got) == want
    # one station per topic; one message per station per second
    assert all(topic == f"pumplib/{station_of[tag]}/samples" for topic, tag, _, _ in got)
    assert report.messages <= 2 * 1440
    # the faults: every kind was drawn, and each start was sent and reported
    truth = simulate(REG, **kw).truth
    assert set(report.faults.fault_id) == set(truth.fault_id)
    assert {"dropout", "duplicate", "out_of_order", "clock_skew", "gap"} <= set(truth.kind)
    assert report.faults.published_at.notna().all()
    assert (report.faults.station == report.faults.asset.map(
        {s.asset: s.station for s in simulate(REG, **kw).specs})).all()
    assert any(v is None for _, _, _, v in got)                        # dropouts as null
    assert max(want.values()) == 2                                     # duplicated rows


@needs_mosquitto
def test_a_window_at_a_speed(broker):
    """--minutes cuts the window; event time runs at `speed` times real time."""
    sub = Subscriber(broker)
    try:
        report = publish(broker.url, REG, speed=600, start=START, minutes=10, freq="1min",
                         faults=())
        sub.wait_for(report.messages)
        got = sub.samples()
    finally:
        sub.close()
    want, _ = expected_rows(start=START, days=1, freq="1min", faults=())
    end = pd.Timestamp(START, tz="UTC").value // 1_000_000 + 10 * 60_000
    want = collections.Counter({k: n for k, n in want.items() if k[1] < end})
    assert collections.Counter((tag, ts, v) for _, tag, ts, v in got) == want
    assert report.samples == sum(want.values()) == 10 * len(REG_TAGS())
    assert 0.85 <= report.wall_s < 5          # 9 minutes of event time at 600×: 0.9 s
    assert report.last_ns - report.first_ns == 9 * 60 * 10**9


@needs_mosquitto
def test_days_follow_each_other(broker):
    """Two simulated days in a row, from mid-morning: nothing lost or doubled at the seam."""
    reg = make_registry(n_stations=1, pumps_per_station=1)
    kw = dict(start="2026-03-09T09:30", freq="10min", seed=11, faults=("spike", "stuck"))
    sub = Subscriber(broker)
    try:
        report = publish(broker.url, reg, speed=None, days=2, **kw)
        sub.wait_for(report.messages)
        got = sub.samples()
    finally:
        sub.close()
    want, _ = expected_rows(reg, days=2, **kw)
    assert collections.Counter((tag, ts, v) for _, tag, ts, v in got) == want
    assert report.messages == 2 * 144 and report.last_ns - report.first_ns == (288 - 1) * 600e9


def REG_TAGS() -> list[str]:
    return simulate(REG, start=START, days=1, freq="1min", faults=()).tags


@needs_mosquitto
def test_publisher_rides_out_a_broker_restart(tmp_path):
    """The broker restarts mid-run: the publisher reconnects with backoff and sends again
    what was not acknowledged; a persistent subscriber misses nothing."""
    import paho.mqtt.client as mqtt

    with Mosquitto(tmp_path / "mq") as b:
        got, ready = [], threading.Event()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="keeper",
                          clean_session=False)
        sub.on_connect = lambda c, *a: c.subscribe("pumplib/#", qos=1)
        sub.on_subscribe = lambda *a: ready.set()
        sub.on_message = lambda c, u, m: got.append(m.payload)
        sub.reconnect_delay_set(0.1, 0.5)
        sub.connect("127.0.0.1", b.port)
        sub.loop_start()
        try:
            assert ready.wait(10)
            restarted = threading.Event()
            timer = threading.Timer(0.7, lambda: (b.restart(), restarted.set()))
            timer.start()
            report = publish(b.url, REG, speed=1800, start=START, minutes=60, freq="1min",
                             faults=())
            timer.join()
            assert restarted.is_set()
            want, _ = expected_rows(start=START, days=1, freq="1min", faults=())
            end = pd.Timestamp(START, tz="UTC").value // 1_000_000 + 60 * 60_000
            want = {k for k in want if k[1] < end}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                have = {(s["tag"], s["ts"], s["value"]) for p in list(got)
                        for s in json.loads(p)["samples"]}
                if have >= want:
                    break
                time.sleep(0.1)
        finally:
            sub.disconnect()
            sub.loop_stop()
    assert have == want                      # at least once each (QoS 1), nothing else
    assert report.acked_messages == report.messages == 2 * 60 and report.reconnects >= 1
    assert report.wall_s >= 59 * 60 / 1800 * 0.9


@needs_mosquitto
def test_stop_event_ends_the_run_early(broker):
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    report = publish(broker.url, REG, speed=60, start=START, days=1, freq="1min", faults=(),
                     stop_event=stop)
    assert report.stopped and 0 < report.messages < 2 * 1440
    assert report.acked_messages == report.messages


@needs_mosquitto
def test_cli_publishes_and_prints_faults(broker, tmp_path):
    reg = tmp_path / "assets.yaml"
    reg.write_text(registry_yaml(REG))
    res = runner.invoke(app, ["simulate", "publish", "--broker", broker.url, "--registry",
                              str(reg), "--speed", "max", "--start", START, "--minutes", "1440",
                              "--freq", "1min", "--faults", "dry_running,stuck", "--seed", "3"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    truth = simulate(REG, start=START, days=1, freq="1min", seed=3,
                     faults=("dry_running", "stuck")).truth
    assert [ln.split()[1] for ln in lines[:-1]] == truth.fault_id.tolist()
    assert lines[0].split()[2] in ("dry_running", "stuck")
    n = 1440 * len(REG_TAGS())
    assert lines[-1].startswith(f"published {n:,} samples")
    res = runner.invoke(app, ["simulate", "publish", "--broker", broker.url, "--registry",
                              str(reg), "--speed", "max", "--start", START, "--minutes", "5",
                              "--freq", "1min", "--faults", "none", "--json"])
    assert json.loads(res.stdout)["samples"] == 5 * len(REG_TAGS())


@pytest.mark.parametrize(("args", "match"), [
    (["--speed", "fast"], "speed 'fast' is not valid"),
    (["--speed", "0"], "expected a number > 0"),
    (["--days", "1", "--minutes", "3"], "either days or minutes"),
    (["--faults", "stuk"], "Did you mean 'stuck'"),
    (["--faults", "stuck=often"], "rate 'often' of 'stuck' is not a number"),
    (["--start", "2026-13-01"], "--start '2026-13-01' is not a time"),
    (["--freq", "7s"], "option 'freq' given an invalid value"),
    (["--broker", "http://127.0.0.1:1883"], "expected mqtt://HOST[:PORT]"),
    (["--broker", "mqtt://127.0.0.1:{closed}"], "cannot connect to the MQTT broker"),
])
def test_cli_bad_options_give_one_line(tmp_path, args, match):
    reg = tmp_path / "assets.yaml"
    reg.write_text(registry_yaml(REG))
    args = [a.format(closed=free_port()) for a in args]
    base = ["--broker", "mqtt://127.0.0.1:1"] if "--broker" not in args else []
    res = runner.invoke(app, ["simulate", "publish", *base, *args, "--registry", str(reg),
                              "--minutes", "1"] if "--minutes" not in args else
                        ["simulate", "publish", *base, *args, "--registry", str(reg)])
    assert res.exit_code == 2, res.output
    assert match in " ".join(res.output.split())
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output


# -- OPC UA ------------------------------------------------------------------------------------

OPC_REG = make_registry(n_stations=1, pumps_per_station=1)


def test_opcua_config_is_checked_with_one_clear_line(tmp_path):
    from pumplib.errors import PumplibError
    from pumplib.live.opcua import load_config

    tags = sorted(simulate(OPC_REG, days=1, freq="1min", faults=()).tags)
    path = tmp_path / "sources.yaml"
    path.write_text("opcua:\n  endpoint: opc.tcp://127.0.0.1:4840/\n"
                    "  node_template: 'ns=2;s={tag}'\n  publishing_interval: 0.2\n"
                    f"  nodes: {{'ns=3;i=1001': {tags[0]}}}\n")
    cfg = load_config(path, registry=OPC_REG)
    assert cfg.nodes["ns=3;i=1001"] == tags[0] and cfg.publishing_interval == 0.2
    from pumplib import config
    from pumplib.live.opcua import configured

    assert configured(OPC_REG) is None                     # no OPC UA source by default
    with config.set({"live.opcua": str(path)}):
        assert configured(OPC_REG) == cfg
    assert {f"ns=2;s={t}": t for t in tags}.items() <= cfg.nodes.items()
    for block, match in [
        ({"endpont": "opc.tcp://h:1/"}, "opcua: unknown key 'endpont'. Did you mean 'endpoint'?"),
        ({"endpoint": "http://h:1/", "nodes": {"ns=2;s=X": tags[0]}}, "opcua.endpoint"),
        ({"endpoint": "opc.tcp://h:1/", "nodes": {"ns=2;s=X": tags[0] + "X"}},
         f"unknown tag '{tags[0]}X'. Did you mean '{tags[0]}'"),
        ({"endpoint": "opc.tcp://h:1/", "nodes": {"ns=x;q=1": tags[0]}}, "is not a node id"),
        ({"endpoint": "opc.tcp://h:1/", "nodes": {"ns=2;s=X": tags[0]}, "queue_size": 0},
         "opcua.queue_size 0 is not valid"),
        ({"endpoint": "opc.tcp://h:1/"}, "no nodes"),
    ]:
        path.write_text(yaml_dump({"opcua": block}))
        with pytest.raises(PumplibError) as exc:
            load_config(path, registry=OPC_REG)
        msg = str(exc.value)
        assert msg.startswith(str(path)) and match in msg and "\n" not in msg, msg


def yaml_dump(obj) -> str:
    import yaml

    return yaml.safe_dump(obj)


def test_opcua_subscription_fills_the_sample_log(tmp_path):
    """Served readings arrive in the SampleLog with their source timestamps, exactly;
    after the server goes away and comes back, the source reconnects by itself."""
    import asyncio

    from pumplib.live.opcua import OpcUaSource, SimulatedServer
    from pumplib.live.wal import SampleLog

    log = SampleLog(tmp_path / "wal.sqlite")
    t0 = pd.Timestamp(START, tz="UTC").value

    async def until(cond, timeout=20):
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert cond()

    async def main():
        srv = await SimulatedServer(OPC_REG).start()
        src = OpcUaSource(srv.config(publishing_interval=0.05, reconnect_max=0.5), log,
                          flush_interval=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(src.run(stop))
        try:
            await until(src.connected.is_set)
            played = await srv.play(speed=None, start=START, minutes=10, freq="1min", faults=())
            tag = next(iter(srv.config().nodes.values()))
            extra = [(tag, t0 + 600 * 10**9, None),            # a bad-status reading
                     (tag, t0 + 601 * 10**9, 5.0), (tag, t0 + 602 * 10**9, 5.0)]  # same value
            await srv.write(extra)
            await until(lambda: src.appended == played + len(extra))
            back = asyncio.create_task(srv.restart(down_s=1.0))  # goes away, comes back
            await until(lambda: not src.connected.is_set())
            await back
            await until(src.connected.is_set)
            await srv.write([(tag, t0 + 700 * 10**9, 7.5)])
            await until(lambda: src.appended == played + len(extra) + 1)
        finally:
            stop.set()
            await task
            await srv.stop()
        return played, extra, src

    played, extra, src = asyncio.run(main())
    assert src.connects == 2 and played == 10 * len(OPC_REG_TAGS())
    got = log.pending()
    want, _ = expected_rows(OPC_REG, start=START, days=1, freq="1min", faults=())
    end = (t0 + 600 * 10**9) // 1_000_000
    want = collections.Counter({k: n for k, n in want.items() if k[1] < end})
    want.update([(t, ts // 1_000_000, v)
                 for t, ts, v in [*extra, (extra[0][0], t0 + 700 * 10**9, 7.5)]])
    assert collections.Counter(
        (r.tag, r.ts_ns // 1_000_000, None if r.value != r.value else r.value)
        for r in got.itertuples()) == want
    assert set(got.source) == {src.config.source}
    assert (got.ts_ns % 1_000_000 == 0).all()


def OPC_REG_TAGS() -> list[str]:
    return simulate(OPC_REG, start=START, days=1, freq="1min", faults=()).tags


def test_opcua_blocking_wrappers_in_threads(tmp_path):
    """serve_simulated and run_source, each in its own thread as a service runs them; the
    node ids come from node_template over the registry."""
    from pumplib.live.opcua import load_config, run_source, serve_simulated
    from pumplib.live.wal import SampleLog

    port, ready, stop_srv, stop_src = free_port(), threading.Event(), threading.Event(), \
        threading.Event()
    served, sources = [], []
    srv = threading.Thread(target=lambda: served.append(serve_simulated(
        OPC_REG, port=port, speed=400, start=START, minutes=20, freq="1min", faults=(),
        stop_event=stop_srv, ready=ready, linger=0.5)))
    srv.start()
    assert ready.wait(60)
    cfg = load_config({"opcua": {"endpoint": f"opc.tcp://127.0.0.1:{port}/pumplib/",
                                 "node_template": "ns=2;s={tag}", "publishing_interval": 0.05}},
                      registry=OPC_REG)
    log = SampleLog(tmp_path / "wal.sqlite")
    src = threading.Thread(target=lambda: sources.append(run_source(cfg, log, stop_src,
                                                                    flush_interval=0.05)))
    src.start()
    srv.join(60)
    time.sleep(0.5)
    stop_src.set()
    src.join(30)
    stop_srv.set()
    assert served == [20 * len(OPC_REG_TAGS())] and sources[0].connects >= 1
    want, _ = expected_rows(OPC_REG, start=START, days=1, freq="1min", faults=())
    got = collections.Counter((r.tag, r.ts_ns // 1_000_000, r.value)
                              for r in log.pending().itertuples())
    t12 = pd.Timestamp(START, tz="UTC").value // 1_000_000 + 12 * 60_000
    t20 = t12 + 8 * 60_000
    assert not got - want                     # nothing but served readings, each once
    assert {k for k in want if t12 <= k[1] < t20} <= set(got)   # all of them once subscribed
