from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from pumplib import SchemaError, UnknownNameError
from pumplib.assets import AssetRegistry

from .conftest import small_registry_dict


def test_lookups(registry):
    assert registry.tag("N.P1.FLOW").asset == "N-P1"
    assert [p.id for p in registry.pumps()] == ["N-P1", "N-P2"]
    assert [a.id for a in registry.station_assets("north")] == ["N-P1", "N-P2", "N-T1"]
    assert registry.to_frame().loc["N-P2", "pump_type"] == "variable_speed"
    with pytest.raises(UnknownNameError, match=r"test-registry: unknown tag 'N.P1.FLW'.*"
                                               r"Did you mean 'N.P1.FLOW'"):
        registry.tag("N.P1.FLW")
    with pytest.raises(UnknownNameError, match="unknown station 'south'"):
        registry.station_assets("south")


def test_pump_curves_follow_affinity_laws(registry):
    p = registry.asset("N-P1")
    assert p.head_curve(0) == pytest.approx(52.0)
    assert p.head_curve(200) == pytest.approx(40.0)               # rated point on the curve
    # affinity: Q ∝ n, H ∝ n²
    assert p.head_curve(100, speed=740) == pytest.approx(p.head_curve(200) / 4)
    q = np.linspace(10, 380, 200)
    eff = p.efficiency_curve(q)
    assert q[np.argmax(eff)] == pytest.approx(190, abs=2)
    assert eff.max() == pytest.approx(0.81, abs=1e-3)
    assert p.efficiency_curve(95, speed=740) == pytest.approx(0.81)


def test_tariff_prices_in_local_time_with_holidays(registry):
    tariff = registry.tariff_of("N-P1")
    t = pd.DatetimeIndex(["2026-03-09 05:59", "2026-03-09 06:00", "2026-03-09 20:00",
                          "2026-04-06 10:00", "2026-03-14 10:00"], tz="UTC")
    # Amsterdam is UTC+1 in March/early April (+2 after 29 March)
    prices = tariff.price(t, "Europe/Amsterdam", registry.holidays)
    assert prices.tolist() == [0.10, 0.30, 0.10, 0.10, 0.10]  # Easter Monday, Saturday off-peak


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d.pop("tariffs"), r"key 'tariffs': is required"),
    (lambda d: d["stations"][0]["assets"][0].update(kind="pmp"),
     r"key 'stations\[0\].assets\[0\].kind': unknown asset kind 'pmp'. Did you mean 'pump'"),
    (lambda d: d["stations"][0]["assets"][0]["signals"].update(flw={"tag": "X", "unit": "L/s"}),
     r"key 'stations\[0\].assets\[0\].signals.flw': unknown signal 'flw'"),
    (lambda d: d["stations"][0]["assets"][0]["signals"]["flow"].update(unit="bar"),
     r"signals.flow.unit': cannot convert 'bar' to 'm3/h'"),
    (lambda d: d["stations"][0]["assets"][1]["signals"]["flow"].update(tag="N.P1.FLOW"),
     r"tag 'N.P1.FLOW' is also used at stations\[0\].assets\[0\].signals.flow"),
    (lambda d: d["stations"][0].update(tariff="cheap"),
     r"unknown tariff 'cheap'. Valid choices: 'tou'"),
    (lambda d: d["utility"].update(timezone="Europe/Amsterdan"),
     r"utility.timezone': unknown time zone 'Europe/Amsterdan'"),
    (lambda d: d["stations"][0]["assets"][0].update(colour="red"),
     r"assets\[0\].colour': unknown key 'colour'"),
])
def test_invalid_registry_names_file_and_key(mutate, match):
    spec = copy.deepcopy(small_registry_dict())
    mutate(spec)
    with pytest.raises(SchemaError, match="assets.yaml: key " + match.removeprefix("key ")
                       if match.startswith("key") else match):
        AssetRegistry.from_dict(spec, source="assets.yaml")


def test_load_from_file(registry_file):
    reg = AssetRegistry.load(registry_file)
    assert reg.source == str(registry_file.resolve())
    assert len(reg.tags) == 8
    with pytest.raises(SchemaError, match="does not exist"):
        AssetRegistry.load(registry_file.parent / "nope.yaml")


# -- every malformed registry: one PumplibError line naming the file and the key --------
def _fuzz_spec() -> dict:
    """A valid registry using every part of the schema (declared signals and kinds too)."""
    spec = json.loads(json.dumps(small_registry_dict()))     # no shared dicts (YAML aliases)
    spec["description"] = "fuzz base"
    spec["signals"] = {"fuzz_rain": {"unit": "mm", "long_name": "Rain", "kind": "continuous",
                                     "interpolation": "step", "valid_min": 0, "valid_max": 500,
                                     "description": "tipping bucket"}}
    spec["asset_kinds"] = {"dma": {"name": "District metered area", "description": "zone"}}
    spec["tariffs"]["tou"]["currency"] = "EUR"
    st = spec["stations"][0]
    st.update(tags=["north"], static_head=12.0, control="tariff", description="booster")
    st["assets"][0].update(tags=["duty"], name="Pump 1", description="duty pump",
                           motor={"rated_power": 37.0, "efficiency": 0.93, "voltage": 400,
                                  "power_factor": 0.86})
    st["assets"].append({"id": "Z1", "kind": "dma", "signals": {
        "fuzz_rain": {"tag": "Z1.RAIN", "unit": "mm", "description": "gauge"}}})
    return spec


def _nodes(node, path=""):
    """Every (path, parent, key) of a spec, in document order."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        p = (f"{path}.{k}" if path else str(k)) if isinstance(node, dict) else f"{path}[{k}]"
        yield p, node, k
        if isinstance(v, dict | list):
            yield from _nodes(v, p)


def _load_text(tmp_path, text: str | bytes, name="registry.yaml"):
    """Load a registry file; return the error message (None when it is valid)."""
    from pumplib import PumplibError
    from pumplib import signals as _signals

    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        reg = AssetRegistry.load(path)
    except PumplibError as exc:
        assert isinstance(exc, SchemaError), repr(exc)
        msg = str(exc)
        assert msg.startswith(f"{path.resolve()}"), msg
        assert "Traceback" not in msg
        first = msg.splitlines()[0]
        assert len(msg.splitlines()) == 1 or "line " in first, msg   # only YAML gets a caret
        return msg
    finally:
        _signals.forget(str(path.resolve()))
    assert reg.assets
    return None


def _key_of(msg: str) -> str:
    import re

    m = re.search(r": key '([^']*)': ", msg.splitlines()[0])
    assert m, msg
    return m.group(1)


def test_fuzz_base_is_valid(tmp_path):
    assert _load_text(tmp_path, yaml.safe_dump(_fuzz_spec(), sort_keys=False)) is None


def test_fuzz_wrong_types_at_every_key(tmp_path):
    """Each node replaced by a value of the wrong shape: a list where a mapping is expected
    and a mapping elsewhere. The error names exactly that key (or a key inside it)."""
    base = _fuzz_spec()
    paths = [p for p, _, _ in _nodes(base)]
    assert len(paths) > 100
    n = 0
    for i, path in enumerate(paths):
        spec = copy.deepcopy(base)
        _, parent, key = list(_nodes(spec))[i]
        parent[key] = [1, 2] if isinstance(parent[key], dict) else {"a": 1}
        msg = _load_text(tmp_path, yaml.safe_dump(spec, sort_keys=False), f"t{i}.yaml")
        assert msg is not None, path
        assert _key_of(msg).startswith(path), (path, msg)
        n += 1
    assert n == len(paths)


@pytest.mark.parametrize("bad", [5, -1.5, True, None, "x", "", "2026-13-45"])
def test_fuzz_bad_scalars_and_deleted_keys(tmp_path, bad):
    """Each node replaced by a scalar, or deleted: valid, or one error naming a key."""
    base = _fuzz_spec()
    errors = 0
    for i, (path, _, _) in enumerate(_nodes(base)):
        spec = copy.deepcopy(base)
        _, parent, key = list(_nodes(spec))[i]
        if bad == "x" and isinstance(parent, dict):       # one round deletes instead
            del parent[key]
        else:
            parent[key] = bad
        msg = _load_text(tmp_path, yaml.safe_dump(spec, sort_keys=False), f"s{i}.yaml")
        if msg is not None:
            errors += 1
            k = _key_of(msg)
            assert k == "<top>" or k.split(".")[0].split("[")[0] in base, (path, msg)
    assert errors > 10


def test_fuzz_unknown_keys_everywhere(tmp_path):
    """An unknown key added to each mapping: an error at that key, with close matches."""
    base = _fuzz_spec()
    targets = [""] + [p for p, parent, k in _nodes(base) if isinstance(parent[k], dict)]
    for i, path in enumerate(targets):
        spec = copy.deepcopy(base)
        node = spec if not path else next(par[k] for p, par, k in _nodes(spec) if p == path)
        node["colour"] = {"x": 1}
        msg = _load_text(tmp_path, yaml.safe_dump(spec, sort_keys=False), f"u{i}.yaml")
        want = f"{path}.colour" if path else "colour"
        assert msg is not None and _key_of(msg).startswith(want), (path, msg)


@pytest.mark.parametrize(("mutate", "key", "match"), [
    (lambda d: d.update(stations=5), "stations",
     r"must be a list of stations \(mappings with id, tariff and assets\), got 5 \(int\)"),
    (lambda d: d.update(statons=d.pop("stations")), "statons",
     r"unknown key 'statons'. Did you mean 'stations'"),
    (lambda d: d["signals"]["fuzz_rain"].update(unit="furlongs/fortnite"), "signals.fuzz_rain.unit",
     r"unknown unit 'furlongs/fortnite'"),
    (lambda d: d["signals"]["fuzz_rain"].update(kind="contineous"), "signals.fuzz_rain.kind",
     r"unknown signal kind 'contineous'. Did you mean 'continuous'"),
    (lambda d: d["signals"]["fuzz_rain"].update(interpolation="stepp"),
     "signals.fuzz_rain.interpolation", r"Valid choices: 'linear', 'step'"),
    (lambda d: d["signals"]["fuzz_rain"].update(valid_min=10, valid_max=1),
     "signals.fuzz_rain.valid_max", r"below valid_min"),
    (lambda d: d["signals"].update(flow={"unit": "L/s"}), "signals.flow.unit",
     r"'L/s' changes the unit of the built-in signal 'flow' \[m3/h\]"),
    (lambda d: d["signals"].update(flow={"unit": "m³/h", "kind": "state"}), "signals.flow.kind",
     r"'state' changes the built-in signal 'flow' \(kind 'continuous'\)"),
    (lambda d: d["signals"].update(Rain={"unit": "mm"}), "signals.Rain",
     r"must be a lower-case identifier"),
    (lambda d: d["signals"].update(rain_sq={"unit": "mm"}), "signals.rain_sq", r"reserved"),
    (lambda d: d["asset_kinds"].update(pump={}), "asset_kinds.pump",
     r"'pump' is a built-in asset kind"),
    (lambda d: d["stations"][0]["assets"][3].update(kind="dmaa"),
     "stations[0].assets[3].kind", r"unknown asset kind 'dmaa'. Did you mean 'dma'"),
    (lambda d: d["stations"][0]["assets"][3].update(curve={"bep_flow": 1}),
     "stations[0].assets[3].curve", r"only an asset of kind 'pump' has 'curve'"),
    (lambda d: d["stations"][0]["assets"][3]["signals"].update(rainfall={"tag": "R", "unit": "mm"}),
     "stations[0].assets[3].signals.rainfall",
     r"unknown signal 'rainfall'.*declare new signals under the top-level key 'signals'"),
    (lambda d: d["stations"][0]["assets"][0]["rated"].update(flw=3),
     "stations[0].assets[0].rated.flw", r"Did you mean 'flow'"),
    (lambda d: d["stations"][0]["assets"][0]["rated"].update(flow="200"),
     "stations[0].assets[0].rated.flow", r"must be a finite number, got '200' \(str\)"),
    (lambda d: d["stations"][0]["assets"][0]["rated"].update(efficiency=80),
     "stations[0].assets[0].rated.efficiency", r"between 0.0 and 1.0, got 80"),
    (lambda d: d["stations"][0]["assets"][0].update(id=17),
     "stations[0].assets[0].id", r"must be an asset id \(a string\) \(quote it in YAML\)"),
    (lambda d: d["stations"].append(dict(d["stations"][0], assets=[])), "stations[1].id",
     r"station id 'north' is also used at stations\[0\]"),
    (lambda d: d["tariffs"]["tou"]["periods"][0].update(start=420), "tariffs.tou.periods[0].start",
     r"in quotes, got 420 \(int\) \(YAML reads an unquoted 07:00 as a number of minutes\)"),
    (lambda d: d["tariffs"]["tou"]["periods"][0].update(end="25:00"),
     "tariffs.tou.periods[0].end", r"must be a time 'HH:MM'"),
    (lambda d: d["tariffs"]["tou"]["periods"][0]["days"].append("mnday"),
     "tariffs.tou.periods[0].days[5]", r"unknown day 'mnday'. Did you mean 'mon'"),
    (lambda d: d.update(holidays=["2026-02-30"]), "holidays[0]", r"must be a date YYYY-MM-DD"),
    (lambda d: d.update(version="1"), "version", r"unsupported version '1' \(str\)"),
])
def test_malformed_registry_messages(tmp_path, mutate, key, match):
    spec = _fuzz_spec()
    mutate(spec)
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    msg = _load_text(tmp_path, text)
    assert msg is not None
    assert _key_of(msg) == key, msg
    assert re.search(match, msg), msg
    # the line named is the key's own line in the file
    line = text.splitlines()[int(re.search(r"registry.yaml, line (\d+): key ", msg)[1]) - 1]
    last = re.split(r"[.]", key)[-1]
    if last.endswith("]"):
        assert line.lstrip().startswith("- "), (line, msg)
    else:
        assert line.lstrip(" -").startswith(f"{last}:"), (line, msg)


def test_yaml_text_errors(tmp_path):
    """Syntax errors name line and column with a caret excerpt; duplicate keys, bad dates,
    binary and UTF-16 files, an empty file and truncations are each one SchemaError."""
    good = yaml.safe_dump(_fuzz_spec(), sort_keys=False)
    msg = _load_text(tmp_path, good.replace("tariffs:", "tariffs: a: b", 1))
    line = good.splitlines().index("tariffs:") + 1
    assert re.search(rf"registry.yaml, line {line}, column 11: not valid YAML: mapping values "
                     r"are not allowed here\n    tariffs: a: b\n              \^$", msg), msg
    msg = _load_text(tmp_path, good + "version: 1\n")
    assert re.search(r"line \d+, column 1: not valid YAML: duplicate key 'version' \(first at "
                     r"line 1\)", msg), msg
    msg = _load_text(tmp_path, good.replace("'2026-04-06'", "2026-04-36"))
    line = good.splitlines().index("- '2026-04-06'") + 1
    assert f"registry.yaml, line {line}, column 3: not valid YAML: '2026-04-36' is not a date" \
        in msg, msg
    assert "the registry is empty" in _load_text(tmp_path, "")
    assert "not UTF-8 text" in _load_text(tmp_path, good.encode("utf-16"))
    assert "not UTF-8 text" in _load_text(tmp_path, bytes(range(256)) * 4)
    assert "holds NUL bytes" in _load_text(tmp_path, b"\x7fELF\x02\x01\x01" + bytes(64))
    assert "not valid YAML" in _load_text(tmp_path, "a: !!python/object/apply:os.system [ls]")
    rng = np.random.default_rng(21)
    cuts = sorted(rng.choice(len(good), 40, replace=False))
    junk = ["\t", ":", "[", "{", "&a", "*b", "- ", "? ", "'", '"', "%", "@", "!!str", "\x00"]
    for j, c in enumerate(cuts):
        _load_text(tmp_path, good[:c], f"cut{j}.yaml")                    # truncated
        _load_text(tmp_path, good[:c] + junk[j % len(junk)] + good[c:], f"junk{j}.yaml")
        lines = good.splitlines(keepends=True)
        k = int(c) % len(lines)
        _load_text(tmp_path, "".join(lines[:k] + [lines[k]] + lines[k:]), f"dup{j}.yaml")
