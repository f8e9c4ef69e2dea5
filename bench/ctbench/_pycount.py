"""Count sys.monitoring events of a script with pure-Python callbacks.

    python _pycount.py OUT.json RUN_NAME script.py [args...]

The reference the C floor's counts are checked against (tests/bench). Runs
the script with __name__ = RUN_NAME (normally __main__) and writes {kind: n} for PY_START, PY_RESUME,
PY_RETURN, PY_YIELD and LINE to OUT.json, forked children's included (as
run_floor.py counts them). Nothing is printed on stdout.
"""

import json
import os
import runpy
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "floor"))
from run_floor import follow_forks  # type: ignore[import-not-found]  # bench/floor, on sys.path at run time

EVENTS = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "LINE")


def main() -> int:
    out, run_name, script = sys.argv[1], sys.argv[2], sys.argv[3]
    mon = sys.monitoring
    tool = next(t for t in (3, 4, 2, 1, 0, 5) if mon.get_tool(t) is None)
    counts = dict.fromkeys(EVENTS, 0)
    mon.use_tool_id(tool, "ctbench-pycount")
    mask = 0
    for event in EVENTS:

        def callback(*_args: object, _event: str = event) -> None:
            counts[_event] += 1

        bit = getattr(mon.events, event)
        mon.register_callback(tool, bit, callback)
        mask |= bit
    add_children = follow_forks(out, counts.copy)  # (a C function: no events of its own)
    sys.argv = sys.argv[3:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    mon.set_events(tool, mask)
    try:
        runpy.run_path(script, run_name=run_name)
    finally:
        mon.set_events(tool, 0)
        mon.free_tool_id(tool)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(add_children(counts), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
