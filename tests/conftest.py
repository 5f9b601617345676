from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

os.environ.setdefault("PUMPLIB_INGEST__PROGRESS", "False")


def small_registry_dict() -> dict:
    """Two pumps and a tank; some tags in non-canonical units."""
    pump = {
        "kind": "pump", "pump_type": "fixed_speed",
        "rated": {"flow": 200.0, "head": 40.0, "power": 30.0, "speed": 1480.0, "efficiency": 0.8},
        "curve": {"shutoff_head": 52.0, "bep_flow": 190.0, "bep_efficiency": 0.81},
    }
    return {
        "version": 1,
        "utility": {"id": "t", "name": "Test", "timezone": "Europe/Amsterdam", "currency": "EUR"},
        "holidays": ["2026-04-06"],
        "tariffs": {"tou": {"default_price": 0.10, "periods": [
            {"name": "peak", "price": 0.30, "start": "07:00", "end": "21:00",
             "days": ["mon", "tue", "wed", "thu", "fri"]}]}},
        "stations": [{"id": "north", "name": "North", "tariff": "tou", "assets": [
            {**pump, "id": "N-P1", "signals": {
                "flow": {"tag": "N.P1.FLOW", "unit": "L/s"},
                "discharge_pressure": {"tag": "N.P1.PD", "unit": "psi"},
                "power": {"tag": "N.P1.KW", "unit": "kW"},
                "run_state": {"tag": "N.P1.RUN", "unit": "1"}}},
            {**pump, "id": "N-P2", "pump_type": "variable_speed", "signals": {
                "flow": {"tag": "N.P2.FLOW", "unit": "m3/h"},
                "bearing_temperature": {"tag": "N.P2.TB", "unit": "degF"},
                "power": {"tag": "N.P2.KW", "unit": "kW"}}},
            {"id": "N-T1", "kind": "tank", "tank": {"area": 300, "min_level": 0.5, "max_level": 5},
             "signals": {"level": {"tag": "N.T1.LEVEL", "unit": "m"}}},
        ]}],
    }


@pytest.fixture
def registry():
    from pumplib.assets import AssetRegistry

    return AssetRegistry.from_dict(small_registry_dict(), source="test-registry")


@pytest.fixture
def registry_file(tmp_path):
    import yaml

    p = tmp_path / "assets.yaml"
    p.write_text(yaml.safe_dump(small_registry_dict(), sort_keys=False))
    return p


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def shared_data():
    if not SHARED.exists():
        pytest.skip(f"real data folder {SHARED} is absent (it is present in CI)")
    return SHARED


# --- the sample lake, built once per test process --------------------------------------
# ``demo_store`` is the main job (ingest → validate → golden tables) run on the bundled
# sample: read it, never write to it. Tests that write take ``demo_store_copy``.

@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> str:
    """Folder of a lake holding the whole sample with quality flags and golden tables."""
    from pumplib.pipeline import run_demo

    path = tmp_path_factory.mktemp("demo") / "store"
    run_demo(store=str(path), sample=ROOT / "data_samples",
             registry=ROOT / "catalogs" / "assets.yaml", log=lambda _m: None, progress=False)
    return str(path)


@pytest.fixture
def demo_store_copy(demo_store, tmp_path) -> str:
    """A private, writable copy of :func:`demo_store`."""
    import shutil

    dst = tmp_path / "store"
    shutil.copytree(demo_store, dst)
    return str(dst)


@pytest.fixture(scope="session")
def demo_registry():
    from pumplib.assets import AssetRegistry

    return AssetRegistry.load(ROOT / "catalogs" / "assets.yaml")


@pytest.fixture(autouse=True)
def _forget_memory_lakes_made_by_the_test():
    """In-memory lakes (``memory://name``, one per URL in a process) made during a test
    are forgotten after it: docstring examples run by more than one test in the same
    worker (a module's own test and tests/test_docs.py) each start from an empty lake.
    Lakes made before the test (module fixtures) stay."""
    from pumplib import lake

    before = dict(lake._MEMORY_REPOS)
    yield
    lake._MEMORY_REPOS.clear()
    lake._MEMORY_REPOS.update(before)
