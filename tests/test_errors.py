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
