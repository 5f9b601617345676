"""``python -m pumplib.live commit``: the committer process a live service starts.

Its spec (store, log, registry, hooks, the service's settings) comes as one JSON line
on stdin, and the end of stdin asks it to stop; see :func:`pumplib.live.service.run_committer`.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if argv != ["commit"]:
        sys.stderr.write("usage: python -m pumplib.live commit  (spec as JSON on stdin; "
                         "started by `pumplib live run`)\n")
        return 2
    import threading

    spec = json.loads(sys.stdin.readline())
    stop = threading.Event()

    def watch() -> None:            # the end of stdin: the service asks us to stop
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    from .service import run_committer

    return run_committer(spec, stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
