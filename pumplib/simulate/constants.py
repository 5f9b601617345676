"""The simulator's constants (physics, signals and tags, fault kinds, formats, control
set-points), its seeded random streams and its UTC time strings."""

from __future__ import annotations

import numpy as np

# -- physical constants --------------------------------------------------------
RHO = 998.2  # kg/m³, water at 20 °C
G = 9.80665  # m/s²
BAR_PER_M = RHO * G / 1e5  # bar per metre of water column
DAY_S = 86_400
DAY_NS = DAY_S * 10**9
S_NS = 10**9

# -- signals, quality, faults, formats ---------------------------------------
PUMP_SIGNALS = ("flow", "suction_pressure", "discharge_pressure", "power", "current", "speed",
                "vibration", "bearing_temperature", "run_state")
TANK_SIGNALS = ("level",)
_SIGNAL_CODE = {s: i for i, s in enumerate(PUMP_SIGNALS + TANK_SIGNALS)}
_TAG_SUFFIX = {"flow": "FLOW", "suction_pressure": "PS", "discharge_pressure": "PD",
               "power": "POWER", "current": "CURRENT", "speed": "SPEED", "vibration": "VIB",
               "bearing_temperature": "TBRG", "run_state": "RUN", "level": "LEVEL"}

QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_BAD = 192, 64, 0

#: fault kinds, in the order they are drawn
FAULT_KINDS = ("stuck", "spike", "dropout", "gap", "drift", "wrong_unit", "clock_skew",
               "duplicate", "out_of_order", "impeller_wear", "cavitation", "dry_running")
#: expected episodes per eligible asset per 30 days (at least one per requested kind)
DEFAULT_FAULT_RATES: dict[str, float] = {
    "stuck": 1.0, "spike": 3.0, "dropout": 2.0, "gap": 1.0, "drift": 0.5, "wrong_unit": 0.5,
    "clock_skew": 0.5, "duplicate": 1.0, "out_of_order": 1.0, "impeller_wear": 0.2,
    "cavitation": 1.0, "dry_running": 0.5}
_PHYSICAL = ("impeller_wear", "cavitation", "dry_running")
#: kinds drawn only when asked for by name in ``faults=`` (never by default), after
#: the kinds of FAULT_KINDS, so that asking for them leaves the others' draws alone:
#: ``out_of_range`` replaces a tag's values by a physically impossible reading
#: (a negative flow, power, current, speed, vibration or level; -5 bar; 250 °C)
OPT_IN_FAULT_KINDS = ("out_of_range",)
_ALL_FAULT_KINDS = FAULT_KINDS + OPT_IN_FAULT_KINDS
#: duration range of an episode in seconds (log-uniform); spikes last one sample
_DURATION_S = {"stuck": (1800, 8 * 3600), "spike": (0, 0), "dropout": (60, 1800),
               "gap": (600, 4 * 3600), "drift": (12 * 3600, 4 * DAY_S),
               "wrong_unit": (2 * 3600, 2 * DAY_S), "clock_skew": (4 * 3600, 3 * DAY_S),
               "duplicate": (300, 3600), "out_of_order": (300, 1800),
               "impeller_wear": (10 * DAY_S, 28 * DAY_S), "cavitation": (1200, 7200),
               "dry_running": (300, 1800), "out_of_range": (60, 900)}
_SKEW_OFFSETS_S = (-300, -120, -60, -30, 30, 60, 90, 120, 300, 3600)

TRUTH_COLUMNS = ("fault_id", "kind", "asset", "signal", "start", "end", "params")
FORMATS = ("long_csv", "wide_csv", "long_parquet", "wide_parquet")
ROW_ORDERS = ("time", "tag")
LONG_CSV_HEADER = "timestamp,tag,value,quality"

#: decimals a historian keeps, by delivered unit
_DECIMALS = {"m3/h": 1, "L/s": 2, "L/min": 0, "bar": 3, "psi": 2, "kPa": 1, "kW": 1, "W": 0,
             "A": 1, "rpm": 0, "mm/s": 2, "in/s": 4, "degC": 1, "degF": 1, "m": 3, "cm": 1,
             "ft": 2, "1": 0}
#: the unit a misconfigured tag delivers instead (wrong-unit fault)
_ALT_UNITS = {"m3/h": "L/s", "L/s": "m3/h", "bar": "kPa", "psi": "bar", "degC": "degF",
              "degF": "degC", "m": "cm", "kW": "W", "mm/s": "in/s"}
#: historian units per station (index mod 3): several tags are not canonical
_UNIT_SCHEMES = ({"flow": "L/s"},
                 {"suction_pressure": "psi", "discharge_pressure": "psi",
                  "bearing_temperature": "degF"},
                 {})

# -- control constants ----------------------------------------------------------
_MIN_SPEED = 0.70  # VSD lower limit, fraction of rated speed
_ON_FRAC = np.array([0.70, 0.45, 0.20])  # lead pump start level (cheap, normal, peak)
_OFF_FRAC = np.array([0.93, 0.75, 0.40])  # lead pump stop level
_STAGE_ON, _STAGE_OFF = 0.12, 0.08  # lower set-points per assist stage
_PREFILL_NS = 2 * 3600 * S_NS  # fill up when a peak starts within this time
_LEVEL_TAU_H = 0.5  # VSD level-correction time constant
_BEARING_TAU_S = 1200.0
_DEMAND_SHARE = 0.42  # mean demand as a share of the station's rated capacity
_STANDARD_MOTORS = (3.0, 4.0, 5.5, 7.5, 11.0, 15.0, 18.5, 22.0, 30.0, 37.0, 45.0, 55.0, 75.0,
                    90.0, 110.0, 132.0)
_STREAM = {"registry": 1, "station": 2, "faults": 3, "demand": 4, "noise": 5}

_STATION_NAMES = (("NORTH", "N"), ("SOUTH", "S"), ("EAST", "E"), ("WEST", "W"),
                  ("CENTRAL", "C"), ("HARBOUR", "H"), ("RIVER", "R"), ("DUNE", "D"),
                  ("MEADOW", "M"), ("LAKE", "L"))
HOLIDAYS_NL_2026 = ("2026-01-01", "2026-04-03", "2026-04-05", "2026-04-06", "2026-04-27",
                    "2026-05-05", "2026-05-14", "2026-05-24", "2026-05-25", "2026-12-25",
                    "2026-12-26")
_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
_WEEKEND = ["sat", "sun"]
SAMPLE_SEED = 2026


def _rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM[stream], *(int(k) for k in keys)])



def _iso(ns: np.ndarray | int) -> np.ndarray:
    """UTC ISO 8601 strings with a ``Z`` and whole seconds."""
    arr = np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")
    return np.char.add(np.datetime_as_string(arr, unit="s"), "Z")
