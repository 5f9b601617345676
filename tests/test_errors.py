from __future__ import annotations

import pytest

from pumplib import errors


@pytest.mark.parametrize(("cls", "builtin"), [
    (errors.ArgumentError, ValueError), (errors.ConfigError, ValueError),
    (errors.SchemaError, ValueError), (errors.ConflictError, RuntimeError),
    (errors.UnknownNameError, KeyError), (errors.IngestError, ValueError),
    (errors.LakeError, RuntimeError), (errors.UnitError, ValueError)])
def test_every_error_is_a_pumplib_error_and_a_builtin(cls, builtin):
    assert issubclass(cls, errors.PumplibError) and issubclass(cls, builtin)


def test_choices_message():
    msg = errors.choices_message("format", "long_cvs", ["long_csv", "wide_csv"])
    assert msg == ("unknown format 'long_cvs'. Did you mean 'long_csv'? "
                   "Valid choices: 'long_csv', 'wide_csv'")
    assert str(errors.UnknownNameError("plain text")) == "plain text"


def test_close_matches_ignore_case_but_keep_the_spelling():
    levels = ["1min", "15min", "1h", "1D", "1W", "1M", "auto"]
    # the right name in another case comes first, spelt as it must be typed
    assert errors.close_matches("1d", levels)[0] == "1D"
    assert errors.close_matches("1m", levels)[:2] == ["1M", "1min"]
    assert errors.close_matches("AUTO", levels) == ["auto"]
    assert errors.close_matches("NORTH", ["north", "South"])[0] == "north"
    # choices that differ only in case are both kept
    assert errors.close_matches("ab", ["AB", "ab", "xy"]) == ["AB", "ab"]
    msg = errors.choices_message("level", "1d", levels)
    assert msg.startswith("unknown level '1d'. Did you mean '1D'")


def test_warnings_have_one_root():
    assert issubclass(errors.NoDataWarning, errors.PumplibWarning)
    assert issubclass(errors.PumplibWarning, UserWarning)
    assert not issubclass(errors.PumplibWarning, errors.PumplibError)


def test_doctests():
    import doctest

    res = doctest.testmod(errors)
    assert res.failed == 0 and res.attempted >= 2
