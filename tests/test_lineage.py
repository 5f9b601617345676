"""pumplib.lineage: stamps, the lineage graph, upstream/downstream views, SVG, OpenLineage."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import jsonschema
import pandas as pd
import pytest
from typer.testing import CliRunner

from pumplib import lineage
from pumplib.errors import ArgumentError, SchemaError, UnknownNameError
from pumplib.lake import Lake


def test_stamp_records_versions_inputs_sources_and_record_merges(tmp_path):
    src = tmp_path / "x.csv"
    src.write_bytes(b"a,b\n1,2\n")
    lake = Lake("memory://lineage-stamp-test")
    with lake.transaction("first") as tx:
        tx.write_table("t", "one", pd.DataFrame({"x": [1]}), {})
    s = lineage.stamp("forecast", inputs=[lake, "SNAPX"], params={"horizon": "1D"},
                      sources=[src], definitions={"energy": "abc"}, outputs=["forecasts/1h"])
    assert s["kind"] == "forecast" and s["inputs"]["snapshots"] == [lake.tip(), "SNAPX"]
    assert s["sources"] == [{"path": str(src), "sha256": lineage.file_sha256(src)}]
    assert lineage.file_sha256(src) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert {"pumplib", "numpy", "xarray", "zarr", "icechunk"} <= set(s["versions"])
    assert s["definition_hashes"] == {"energy": "abc"} and s["outputs"] == ["forecasts/1h"]
    json.dumps(s)                                     # JSON-safe, ready for commit metadata
    with pytest.raises(ArgumentError, match="snapshot id"):
        lineage.stamp("x", inputs=[3.5])
    with lake.transaction("second") as tx:
        tx.metadata["sources"] = [{"path": "mine", "sha256": "f" * 64}]
        lineage.record(tx, "outliers", params={"w": 60})
        tx.write_table("t", "two", pd.DataFrame({"x": [2]}), {})
    meta = lake.log(1)[0].metadata
    assert meta["kind"] == "outliers" and meta["params"] == {"w": 60} and meta["run_id"]
    assert meta["sources"] == [{"path": "mine", "sha256": "f" * 64}]     # kept


def test_upstream_reaches_the_source_files(demo_store):
    lake = Lake(demo_store)
    build = lake.log()[0]
    up = lineage.upstream("specific_energy", "1D", demo_store)
    files = up.files()
    want = {s["sha256"]: s["path"] for c in lake.log() if c.metadata.get("kind") == "ingest"
            for s in c.metadata["sources"] if s["cadence"] == "1min"}
    assert dict(zip(files.sha256, files.path, strict=True)) == want    # the 1 s file is not
    h = build.metadata["definition_hashes"]["specific_energy"]
    assert f"definition:specific_energy@{h}" in up.graph
    assert {"signal:power", "signal:flow", "signal:run_state"} <= set(up.nodes())
    assert "signal:level" not in up.graph
    kinds = set(up.commits().kind)
    assert kinds == {"ingest", "quality", "features"}
    text = up.text()
    assert text.startswith("upstream of specific_energy at 1D") and "pumps_1min_4w" in text
    svg = up.to_svg()
    root = ET.fromstring(svg)                          # well-formed SVG
    assert root.tag.endswith("svg") and "pumps_1min_4w.parquet" in svg
    # a feature built from other features reaches them too
    up2 = lineage.upstream("specific_energy_vs_floor", None, demo_store)
    assert "feature:normalised_specific_energy" in up2.graph
    with pytest.raises(UnknownNameError, match="specific_energy"):
        lineage.upstream("specific_enrgy", "1D", demo_store)


def test_downstream_names_features_periods_and_artefacts(demo_store_copy):
    lake = Lake(demo_store_copy)
    h = lake.log()[0].metadata["definition_hashes"]["energy"]
    # a later artefact that stamped its lineage with the energy feature, and one without
    with lake.transaction("forecast N-P1", lineage.stamp(
            "forecast", inputs=[lake], definitions={"energy": h},
            params={"asset": "N-P1"}, outputs=["forecasts/1h"])) as tx:
        tx.write_table("forecasts_meta", "f1", pd.DataFrame({"asset": ["N-P1"]}), {})
    with lake.transaction("unrelated", lineage.stamp("report", params={"x": 1})) as tx:
        tx.write_table("reports", "r1", pd.DataFrame({"x": [1]}), {})
    # made for another pump only: not affected
    with lake.transaction("outliers S-P2", lineage.stamp(
            "outliers", definitions={"energy": h}, params={"assets": ["S-P2"]})) as tx:
        tx.write_table("outliers_meta", "o1", pd.DataFrame({"x": [1]}), {})
    # names a column of an affected feature in its own words (no stamp)
    with lake.transaction("forecast 2", {"kind": "forecast", "target": "specific_energy_mean",
                                         "source_snapshot": lake.tip()}) as tx:
        tx.write_table("forecasts_meta", "f2", pd.DataFrame({"x": [1]}), {})
    imp = lineage.downstream("power", "N-P1", "2026-03-23", "2026-03-30", lake)
    feats = set(imp.features.feature)
    assert {"energy", "energy_cost", "specific_energy", "wire_to_water_efficiency"} <= feats
    assert not {"head", "runtime", "starts"} & feats
    day = imp.features[(imp.features.feature == "energy") & (imp.features.level == "1D")]
    # 7 UTC days touch 8 local (Europe/Amsterdam) days
    assert day.periods.iloc[0] == 8
    hour = imp.features[(imp.features.feature == "energy") & (imp.features.level == "1h")]
    assert hour.periods.iloc[0] == 7 * 24
    assert imp.artefacts.message.tolist() == ["forecast N-P1", "forecast 2"]
    assert imp.artefacts.reason.tolist() == ["its lineage names feature(s) energy",
                                             "its lineage names feature(s) specific_energy"]
    assert "forecast" in imp.text() and "energy at 1D" in imp.text()
    assert "signal:power" in imp.lineage.graph
    labels = {a["label"] for _, a in imp.lineage.graph.nodes(data=True)}
    assert {"features/1D: 8 period(s)", "features/1h: 168 period(s)"} <= labels
    ET.fromstring(imp._repr_svg_())
    events = imp.lineage.to_openlineage()
    assert [e["job"]["name"] for e in events] == ["pumplib.forecast"] * 2
    lineage.validate_openlineage(events[0])
    with pytest.raises(UnknownNameError, match="power"):
        lineage.downstream("powr", "N-P1", "2026-03-23", "2026-03-30", lake)
    with pytest.raises(ArgumentError, match="not after"):
        lineage.downstream("power", "N-P1", "2026-03-30", "2026-03-23", lake)


def test_openlineage_events_validate_against_the_vendored_schema(demo_store, tmp_path):
    events = lineage.openlineage_events(demo_store)
    lake = Lake(demo_store)
    assert len(events) == len(lake.log()) - 1                 # every commit but the root
    schema = lineage.openlineage_schema()
    for e in events:
        lineage.validate_openlineage(e)
        jsonschema.validate(e, schema, cls=jsonschema.Draft202012Validator,
                            format_checker=jsonschema.FormatChecker())
    build = events[-1]
    assert build["job"]["name"] == "pumplib.features" and build["eventType"] == "COMPLETE"
    outs = {o["name"] for o in build["outputs"]}
    assert {"features/1D", "features/1M"} <= outs
    ins = {i["name"] for i in build["inputs"]}
    assert {"raw/1min", "quality/1min", "specific_energy"} <= ins
    ingest = events[0]
    assert any(i["namespace"] == "file" for i in ingest["inputs"])
    # broken events are refused, naming what is wrong
    bad = json.loads(json.dumps(build))
    del bad["run"]["runId"]
    with pytest.raises(SchemaError, match="runId"):
        lineage.validate_openlineage(bad)
    bad = dict(build, eventType="DONE")
    with pytest.raises(SchemaError, match="DONE"):
        lineage.validate_openlineage(bad)
    bad = dict(build, run={"runId": "not-a-uuid"})
    with pytest.raises(SchemaError, match="uuid"):
        lineage.validate_openlineage(bad)
    p = lineage.write_openlineage(events, tmp_path / "ol.jsonl")
    assert len(p.read_text().splitlines()) == len(events)


def test_graph_links_files_to_ingests_to_builds(demo_store):
    g = lineage.graph(demo_store)
    files = [n for n, a in g.nodes(data=True) if a["kind"] == "file"]
    assert len(files) == 3
    for f in files:
        (succ,) = g.successors(f)
        assert g.nodes[succ]["commit_kind"] == "ingest"
    build = f"commit:{Lake(demo_store).log()[0].snapshot}"
    import networkx as nx

    assert all(nx.has_path(g, f, build) for f in files
               if g.nodes[f]["path"].endswith(("4w.parquet", "wide.csv")))
    assert nx.is_directed_acyclic_graph(g)


def test_cli_lineage(demo_store, tmp_path):
    from pumplib.cli import app

    r = CliRunner()
    svg, ol, png = tmp_path / "e.svg", tmp_path / "e.jsonl", tmp_path / "e.png"
    res = r.invoke(app, ["lineage", "energy", "--level", "1D", "--store", demo_store,
                         "--svg", str(svg), "--png", str(png), "--openlineage", str(ol)])
    assert res.exit_code == 0, res.output
    assert "upstream of energy" in res.stdout and svg.read_text().startswith("<svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for line in ol.read_text().splitlines():
        lineage.validate_openlineage(json.loads(line))
    res = r.invoke(app, ["lineage", "--downstream", "flow", "--asset", "S-P1", "--start",
                         "2026-03-20", "--end", "2026-03-21", "--store", demo_store])
    assert res.exit_code == 0 and "bep_flow_ratio" in res.stdout
    res = r.invoke(app, ["lineage", "--downstream", "flow", "--store", demo_store])
    assert res.exit_code == 2 and "--asset" in res.output
    res = r.invoke(app, ["features", "versions", "energy", "--store", demo_store])
    assert res.exit_code == 0 and "v1" in res.stdout and "created" in res.stdout, res.stdout
