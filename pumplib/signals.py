"""The canonical signals of the raw lake (packaged ``data/signals.yaml``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import UnknownNameError, choices_message

_FILE = Path(__file__).parent / "data" / "signals.yaml"


@dataclass(frozen=True)
class Signal:
    name: str
    unit: str
    long_name: str
    kind: str = "continuous"
    interpolation: str = "linear"
    valid_min: float | None = None
    valid_max: float | None = None

    def attrs(self) -> dict:
        """CF-style attributes for the lake variable."""
        out = {"units": self.unit, "long_name": self.long_name, "kind": self.kind,
               "interpolation": self.interpolation}
        if self.valid_min is not None:
            out["valid_min"] = self.valid_min
        if self.valid_max is not None:
            out["valid_max"] = self.valid_max
        return out


@functools.lru_cache(maxsize=1)
def signals() -> dict[str, Signal]:
    """All canonical signals by name."""
    with open(_FILE) as f:
        raw = yaml.safe_load(f)["signals"]
    return {name: Signal(name=name, **spec) for name, spec in raw.items()}


def get(name: str) -> Signal:
    """One canonical signal; a clear error lists the valid names."""
    try:
        return signals()[name]
    except KeyError:
        raise UnknownNameError(choices_message("signal", name, signals())) from None
