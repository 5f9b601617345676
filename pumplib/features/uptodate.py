"""Whether a features build would rewrite what the lake already holds.

A full build is a pure function of the raw data, the quality flags, the
definitions, the levels, the cadence, the registry (tariffs, curves, time
zone) and pumplib's version. Every build records a *build key*, a hash of all
but the data, in its commit's metadata. A new full build with the same key is
a no-op when nothing under ``raw/`` or ``quality/`` changed since the raw
snapshot the last build read, and nothing under ``features/`` changed since
that build's commit (Icechunk's diff of the two snapshots says so exactly).

Examples
--------
>>> key = build_key({"p": "abc"}, ["1h"], "1min", True, "UTC", None)
>>> key == build_key({"p": "abc"}, ["1h"], "1min", True, "UTC", None)
True
>>> key == build_key({"p": "abd"}, ["1h"], "1min", True, "UTC", None)
False
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

#: the groups a build reads, and the one it writes
READS = ("raw/", "quality/")
WRITES = ("features/",)


def build_key(definition_hashes: Mapping[str, str], levels: Iterable[str], cadence: str | None,
              quality: bool, timezone: str | None, registry_spec: Mapping | None) -> str:
    """A hash of everything a build's result depends on but the lake's data."""
    from .. import __version__

    doc = {"definitions": dict(sorted(definition_hashes.items())), "levels": list(levels),
           "cadence": cadence, "quality": bool(quality), "timezone": timezone,
           "registry": registry_spec, "pumplib": __version__}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _touched(diff, prefixes: tuple[str, ...]) -> list[str]:
    paths: set[str] = set()
    for name in ("new_groups", "new_arrays", "deleted_groups", "deleted_arrays",
                 "updated_groups", "updated_arrays"):
        paths.update(getattr(diff, name))
    paths.update(diff.updated_chunks)
    return sorted(p for p in paths if p.lstrip("/").startswith(prefixes))


def changed_since(lake, snapshot: str, prefixes: tuple[str, ...]) -> list[str]:
    """Paths under ``prefixes`` that commits after ``snapshot`` up to the branch tip
    changed (groups, arrays and chunks)."""
    import icechunk

    from ..lake import BRANCH

    if snapshot == lake.tip():
        return []
    try:
        diff = lake.repo.diff(from_snapshot_id=snapshot, to_branch=BRANCH)
    except icechunk.IcechunkError:   # not an ancestor any more (expired): assume all changed
        return list(prefixes)
    return _touched(diff, prefixes)


def up_to_date(lake, key: str) -> str | None:
    """The snapshot of the last features build when a full build with ``key`` would
    write the same tables again; None when something it depends on changed."""
    last = next((c for c in lake.log() if c.metadata.get("kind") == "features"), None)
    if last is None or last.metadata.get("build_key") != key or last.metadata.get("changed"):
        return None
    read_from = last.metadata.get("raw_snapshot") or last.snapshot
    if changed_since(lake, read_from, READS) or changed_since(lake, last.snapshot, WRITES):
        return None
    return last.snapshot
