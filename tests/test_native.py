"""Tests of pumplib.features.native: the C extension built at install time equals the numba
kernels bit for bit, and a missing or broken extension falls back (or errors) as set."""

from __future__ import annotations

import numpy as np
import pytest

from pumplib import config
from pumplib.errors import ConfigError, UnknownNameError
from pumplib.features import aggregations as A
from pumplib.features import kernels as K
from pumplib.features import native

needs_cc = pytest.mark.skipif(native._module_path() is None,
                              reason="the C extension was not built (no compiler at install)")


@pytest.fixture
def fresh(monkeypatch):
    """No loaded libraries."""
    monkeypatch.setattr(native, "_LOADED", {})


def _data(rng, rows=4, t=3600):
    x = rng.normal(size=(rows, t)) * 1e3
    x[0, 100:400] = np.nan
    x[1, ::13] = np.nan
    x[2, 7], x[2, 8] = np.inf, -np.inf
    x[-1, ::3] = -0.0                                  # signed zeros next to values
    x[-1, 1::3] = 0.0
    return x


@needs_cc
def test_native_segment_equals_numba_bit_for_bit(fresh):
    rng = np.random.default_rng(11)
    x = _data(rng)
    edges = np.r_[0, 17, np.arange(60, 3541, 60), 3600]
    outs = {}
    for choice in ("native", "numba"):
        with config.set({"features.kernels": choice}):
            out = np.full((5, 4, len(edges) + 3), -7.0)
            K.segment_partials(x, edges, out, 2)       # written at an offset
            outs[choice] = out
    np.testing.assert_array_equal(outs["native"].view(np.int64), outs["numba"].view(np.int64))
    assert (outs["native"][:, :, :2] == -7.0).all()    # nothing written before o0


@needs_cc
@pytest.mark.parametrize("layout", ["contiguous", "strided", "broadcast good"])
def test_native_fused_equals_numba_bit_for_bit(fresh, layout):
    rng = np.random.default_rng(12)
    x = _data(rng, rows=4, t=2 * 3600)
    good = None
    if layout == "strided":
        x = x[:, ::2]                                  # a view, not contiguous
        good = rng.random(x.shape) > 0.2
    elif layout == "broadcast good":
        good = np.broadcast_to(rng.random((1, x.shape[1])) > 0.1, x.shape)
    got = {}
    for choice in ("native", "numba"):
        with config.set({"features.kernels": choice}):
            got[choice] = A._fused_partials(x, 60, good)
    np.testing.assert_array_equal(got["native"].view(np.int64), got["numba"].view(np.int64))


def test_the_setting_names_its_choices():
    with config.set({"features.kernels": "fortran"}), \
            pytest.raises(UnknownNameError, match="auto.*native.*numba"):
        native.library()


def test_an_unbuilt_extension_falls_back_to_numba_or_errors(fresh, monkeypatch):
    monkeypatch.setattr(native, "_module_path", lambda name=native.MODULE: None)
    with config.set({"features.kernels": "auto"}):
        assert native.library() is None
        out = np.empty((5, 1, 1))
        K.segment_partials(np.array([[1.0, 3.0]]), np.array([0, 2]), out, 0)
        assert out[:, 0, 0].tolist() == [3.0, 1.0, 2.0, 2.0, 4.0]
    with config.set({"features.kernels": "native"}), \
            pytest.raises(ConfigError, match="not built.*compiler"):
        native.library()


def test_a_broken_extension_falls_back_in_auto_and_errors_in_native(fresh, monkeypatch,
                                                                   tmp_path):
    bad = tmp_path / "_kernels.so"
    bad.write_bytes(b"this is not a shared library\n")
    monkeypatch.setattr(native, "_module_path", lambda name=native.MODULE: str(bad))
    with config.set({"features.kernels": "auto"}):
        assert native.library() is None
    with config.set({"features.kernels": "native"}), \
            pytest.raises(ConfigError, match="_kernels.so"):
        native.library()


@needs_cc
def test_the_extension_is_a_package_module_not_a_user_cache_file():
    import pumplib.features._kernels as ext          # the same file ctypes loads

    assert native._module_path() == ext.__file__
    assert ext.__file__.startswith(str(__import__("pathlib").Path(native.__file__).parent))
