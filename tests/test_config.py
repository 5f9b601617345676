from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pumplib import ConfigError, config


def test_schema_and_defaults_agree():
    """Every packaged default is documented in the YAML and has a valid type."""
    d = config.defaults()
    assert set(d) == {"store", "lake", "ingest", "utility", "levels", "quality", "features",
                      "catalog", "demo", "assets", "query", "qa", "ops", "forecast", "outliers",
                      "live"}
    assert d["levels"] == ["1min", "15min", "1h", "1D", "1W", "1M"]
    for key, choices in config.CHOICES.items():
        section, name = key.split(".")
        assert d[section][name] in choices, key
    raw = config._DEFAULTS_FILE.read_text()
    for values in d.values():
        if isinstance(values, dict):
            for k in values:
                assert f"  {k}:" in raw
    assert isinstance(d["lake"]["chunk_samples"], int) and d["lake"]["chunk_samples"] > 0
    import pandas as pd

    for c in d["lake"]["cadences"]:
        assert pd.Timedelta(c).total_seconds() >= 1
    assert yaml.safe_load(raw)["pumplib"] == d


def test_get_set_and_validation():
    assert config.get("lake.chunk_samples") == 86400
    with config.set({"utility.timezone": "UTC"}):
        assert config.get("utility.timezone") == "UTC"
    assert config.get("utility.timezone") == "Europe/Amsterdam"
    assert config.get("store.url", override_with="s3://x") == "s3://x"
    with pytest.raises(ConfigError, match=r"unknown configuration key 'lake.chunk_sample'.*"
                                          r"Did you mean 'lake.chunk_samples'"):
        config.get("lake.chunk_sample")
    with pytest.raises(ConfigError, match=r"'ingest.nonexistent' given an invalid value: 'x'"
                                          r".*\['shift_forward', 'quarantine'\]"):
        config.set({"ingest.nonexistent": "x"})


def test_environment_overrides():
    env = {**os.environ, "PUMPLIB_STORE__URL": "s3://bucket/lake",
           "PUMPLIB_LAKE__CHUNK_SAMPLES": "3600"}
    out = subprocess.run([sys.executable, "-c",
                          "from pumplib import config; print(config.get('store.url'), "
                          "config.get('lake.chunk_samples') + 1)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["s3://bucket/lake", "3601"]


# --- the project folder -----------------------------------------------------------------
def _settings_from(cwd, env=None, code="print(config.project_dir()); print(config.get('store.url')); "
                                   "print(config.get('assets.registry')); "
                                   "print(config.get('utility.timezone'))"):
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUMPLIB_")}
    out = subprocess.run([sys.executable, "-c", "from pumplib import config; " + code],
                         cwd=cwd, env={**base, **(env or {})}, capture_output=True, text=True)
    return out


def test_project_folder_is_found_from_any_folder_below_it(tmp_path):
    top = tmp_path / "utility"
    (top / "notebooks" / "deep").mkdir(parents=True)
    (top / "pumplib-project.yaml").write_text("store:\n  url: lake\nutility:\n"
                                              "  timezone: Europe/Paris\n")
    for cwd in (top, top / "notebooks", top / "notebooks" / "deep"):
        out = _settings_from(cwd)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [str(top), str(top / "lake"),
                                      str(top / "catalogs" / "assets.yaml"), "Europe/Paris"]
    # an environment variable wins over the project file; a URL is never made a path
    out = _settings_from(top / "notebooks", {"PUMPLIB_STORE__URL": "s3://bucket/lake"})
    assert out.stdout.split()[1] == "s3://bucket/lake"
    # PUMPLIB_PROJECT names the project from anywhere (a server started elsewhere)
    out = _settings_from(tmp_path, {"PUMPLIB_PROJECT": str(top)})
    assert out.stdout.split()[:2] == [str(top), str(top / "lake")]


def test_without_a_project_relative_paths_are_the_working_directorys(tmp_path):
    out = _settings_from(tmp_path)
    assert out.stdout.split()[:2] == ["None", str(tmp_path / "store")]


def test_bad_project_settings_are_one_clear_line(tmp_path):
    (tmp_path / "pumplib-project.yaml").write_text("store:\n  ulr: lake\n")
    out = _settings_from(tmp_path, code="config.get('store.url')")
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert "pumplib-project.yaml: unknown configuration key 'store.ulr'" in last
    assert "Did you mean 'store.url'" in last
    out = _settings_from(tmp_path, {"PUMPLIB_PROJECT": str(tmp_path / "nope")},
                         code="config.get('store.url')")
    assert "PUMPLIB_PROJECT=" in out.stderr and "no pumplib-project.yaml" in out.stderr


def test_the_repository_is_a_project_and_a_notebooks_kernel_finds_its_store():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = _settings_from(root / "notebooks")
    assert out.stdout.split()[:3] == [str(root), str(root / "store"),
                                      str(root / "catalogs" / "assets.yaml")]
    out = _settings_from(root / "notebooks", code="print(config.get('catalog.dir'), "
                         "config.get('demo.sample'), config.get('features.catalog'))")
    assert out.stdout.split() == [str(root / "catalogs"), str(root / "data_samples"),
                                  str(root / "catalogs" / "features")]


def test_reading_a_missing_store_from_the_settings_says_where_it_looked(tmp_path):
    (tmp_path / "pumplib-project.yaml").write_text("store:\n  url: lake\n")
    (tmp_path / "notebooks").mkdir()
    out = _settings_from(tmp_path / "notebooks", code="from pumplib.lake import Lake; Lake()")
    last = out.stderr.strip().splitlines()[-1]
    assert f"no lake at '{tmp_path / 'lake'}' (setting store.url = 'lake' taken from the " \
           f"project folder {tmp_path})" in last
    assert not (tmp_path / "lake").exists() and not (tmp_path / "notebooks" / "store").exists()


def test_packaged_defaults_declare_each_key_once():
    """YAML keeps the last of two equal keys silently: a setting declared twice (two
    changes each adding it) would hide the first."""
    import yaml

    from pumplib import config as cfg

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = [loader.construct_object(k) for k, _ in node.value]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        assert not twice, f"pumplib.yaml line {node.start_mark.line + 1}: {twice} twice"
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    path = Path(cfg.__file__).with_name("pumplib.yaml")
    assert yaml.load(path.read_text(), Strict)
