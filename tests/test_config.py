from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from pumplib import ConfigError, config


def test_schema_and_defaults_agree():
    """Every packaged default is documented in the YAML and has a valid type."""
    d = config.defaults()
    assert set(d) == {"store", "lake", "ingest", "utility", "levels", "quality", "features",
                      "assets", "query", "qa", "ops"}
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
