"""pumplib settings (donfig), and the project folder they belong to.

Where a value comes from, the first that has it wins:

1. an explicit argument (``--store``, ``store=``), taken as given;
2. ``pumplib.config.set(...)`` and ``PUMPLIB_<SECTION>__<KEY>`` environment variables;
3. the project file ``pumplib-project.yaml`` of the project folder;
4. the user's files ``~/.config/pumplib/*.yaml``;
5. the packaged defaults ``pumplib/pumplib.yaml``.

The project folder is ``PUMPLIB_PROJECT`` when set, else the nearest folder at or
above the working directory that holds ``pumplib-project.yaml``. A relative path in a
setting (``store.url``, ``assets.registry``, ``features.catalog``, …: :data:`PATH_KEYS`)
is taken from the project folder, or from the working directory where there is none,
so a notebook finds the project's store whether its kernel runs in ``notebooks/``, the
repository root, papermill or Voila.

Examples
--------
>>> from pumplib import config
>>> config.get("lake.chunk_samples")
86400
>>> with config.set({"utility.timezone": "UTC"}):
...     config.get("utility.timezone")
'UTC'
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import threading
from pathlib import Path
from typing import Any

import yaml
from donfig import Config
from donfig.config_obj import collect_env, collect_yaml, merge

from .errors import ConfigError, choices_message

_DEFAULTS_FILE = Path(__file__).with_name("pumplib.yaml")


@functools.lru_cache(maxsize=1)
def _parsed_defaults() -> dict[str, Any]:
    with open(_DEFAULTS_FILE) as f:    # parsed once: a command's start-up reads it often
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["pumplib"]


def _load_defaults() -> dict[str, Any]:
    return copy.deepcopy(_parsed_defaults())


config = Config("pumplib", defaults=[_load_defaults()])

# allowed values for enumerated keys
CHOICES: dict[str, tuple[str, ...]] = {
    "ingest.ambiguous": ("infer", "earliest", "latest", "quarantine"),
    "ingest.nonexistent": ("shift_forward", "quarantine"),
    "lake.codec": ("lz4", "zstd", "lz4hc", "blosclz", "zlib"),
}

# settings that hold a local path: relative values are taken from the project folder
PATH_KEYS = ("store.url", "assets.registry", "features.catalog", "features.lab_dir",
             "quality.rules", "qa.index_dir", "ops.cache_dir",
             "catalog.dir", "demo.sample", "ingest.formats_dir", "live.opcua")

PROJECT_FILE = "pumplib-project.yaml"
PROJECT_ENV = "PUMPLIB_PROJECT"

_MISSING = object()
_lock = threading.Lock()
_found: dict[str, Path | None] = {}       # working directory -> its project folder
_loaded: list = [None]                     # the project file whose settings are loaded


def project_dir(start: str | os.PathLike | None = None) -> Path | None:
    """The project folder: ``PUMPLIB_PROJECT``, else the nearest folder at or above
    ``start`` (default: the working directory) holding ``pumplib-project.yaml``; None
    when there is none.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> top = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (top / "pumplib-project.yaml").write_text("store:\\n  url: lake\\n")
    >>> (top / "notebooks").mkdir()
    >>> project_dir(top / "notebooks") == top.resolve()
    True
    """
    named = os.environ.get(PROJECT_ENV)
    if named:
        p = Path(named).expanduser().resolve()
        if not (p / PROJECT_FILE).is_file():
            raise ConfigError(f"{PROJECT_ENV}={named!r}: no {PROJECT_FILE} in {p}; "
                              f"point it at a project folder or unset it")
        return p
    here = os.path.abspath(os.fspath(start) if start is not None else os.getcwd())
    if here not in _found:
        found = None
        for d in (Path(here), *Path(here).parents):
            if (d / PROJECT_FILE).is_file():
                found = d
                break
        _found[here] = found
    return _found[here]


def _project_file() -> Path | None:
    d = project_dir()
    return None if d is None else d / PROJECT_FILE


def _sync_project() -> None:
    """Load the settings of the working directory's project when it changed."""
    f = _project_file()
    if f != _loaded[0]:
        with _lock:
            if f != _loaded[0]:
                _reload(f)


def _reload(project_file: Path | None) -> None:
    config.clear()
    config.config.update(merge(_load_defaults(), *collect_yaml(config.paths)))
    if project_file is not None:
        try:
            values = yaml.safe_load(project_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{project_file}: not valid YAML: "
                              f"{str(exc).splitlines()[0]}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{project_file}: expected a mapping of settings "
                              f"(e.g. 'store: {{url: store}}'), got {type(values).__name__}")
        unknown = [k for k in _flat_keys(values) if k not in _flat_keys(defaults())]
        if unknown:
            raise ConfigError(f"{project_file}: " + choices_message(
                "configuration key", unknown[0], _flat_keys(defaults())))
        config.config.update(merge(config.config, values))
    config.config.update(merge(config.config, collect_env(config.env_prefix, config.env)))
    _loaded[0] = project_file


def resolve_path(value: Any) -> Any:
    """A setting's path taken from the project folder (or the working directory).

    URLs (``s3://…``, ``memory://…``) and absolute paths are returned unchanged.
    """
    if value is None or (isinstance(value, str) and "://" in value):
        return value
    p = Path(os.path.expanduser(os.fspath(value)))
    if p.is_absolute():
        return str(p)
    base = project_dir()
    return str((base if base is not None else Path.cwd()) / p)


def describe_path(key: str) -> str:
    """Where a path setting came from, for error messages ("store.url './store' taken
    from /repo, the project folder")."""
    raw = config.get(key, None)
    where = project_dir()
    origin = (f"the project folder {where}" if where is not None else
              f"the working directory (no {PROJECT_FILE} at or above it)")
    return f"setting {key} = {raw!r} taken from {origin}"


def defaults() -> dict[str, Any]:
    """The packaged defaults as a nested dict."""
    return _load_defaults()


def get(key: str, default: Any = _MISSING, override_with: Any = None) -> Any:
    """Read a setting, validated; ``override_with`` wins when not None (taken as given).

    A relative path in a setting of :data:`PATH_KEYS` comes back taken from the project
    folder (see :func:`project_dir`).
    """
    if override_with is not None:
        return validate(key, override_with)
    _sync_project()
    try:
        value = config.get(key) if default is _MISSING else config.get(key, default)
    except KeyError:
        raise ConfigError(
            choices_message("configuration key", key, _flat_keys(defaults()))
        ) from None
    if key in PATH_KEYS:
        value = resolve_path(value)
    return validate(key, value)


def validate(key: str, value: Any) -> Any:
    """Check one value against :data:`CHOICES`; return it unchanged."""
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(
            f"option {key!r} given an invalid value: {value!r}. "
            f"Expected one of {list(CHOICES[key])}"
        )
    return value


def set(*args: Any, **kwargs: Any):  # noqa: A001 - mirrors dask.config.set
    """Temporarily or permanently set values (``with config.set({...}):``)."""
    for key, value in (args[0] if args else {}).items():
        validate(key, value)
    _sync_project()
    return config.set(*args, **kwargs)


def refresh() -> None:
    """Re-read defaults, the user's and the project's files and ``PUMPLIB_…`` variables."""
    _found.clear()
    with _lock:
        _reload(_project_file())


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out: list[str] = []
    for k, v in d.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out.extend(_flat_keys(v, prefix + k + "."))
    return out


def env_overrides() -> dict[str, str]:
    """The ``PUMPLIB_…`` variables in the environment."""
    return {k: v for k, v in os.environ.items() if k.startswith("PUMPLIB_")}


# the working directory's project, loaded at import; a bad PUMPLIB_PROJECT or project
# file is reported by the first get()
with contextlib.suppress(ConfigError):
    _sync_project()
