"""Run a script under the _ctfloor sys.monitoring callbacks.

    python run_floor.py --mode {noop,count,record8} [--ext-dir DIR]
                        [--records FILE] [--counts FILE] [--run-name NAME]
                        script.py [args...]

Claims a free tool id, registers the C callbacks of the chosen mode for
PY_START/PY_RESUME/PY_RETURN/PY_YIELD/LINE, runs the script as __main__ (or
as NAME, which skips its `if __name__ == "__main__"` block), then disables
the events. Mode count writes {kind: n} as JSON to --counts, forked
children's events included (`follow_forks`); mode record8 writes the
parent's 8-byte records to --records. Nothing is printed on stdout.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import runpy
import sys
from collections.abc import Callable

MODES = ("noop", "count", "record8")
EVENTS = ("PY_START", "PY_RESUME", "PY_RETURN", "PY_YIELD", "LINE")
CALLBACK_SUFFIX = {
    "PY_START": "start",
    "PY_RESUME": "resume",
    "PY_RETURN": "return",
    "PY_YIELD": "yield",
    "LINE": "line",
}


def free_tool_id(mon) -> int:
    for tool in (3, 4, 2, 1, 0, 5):
        if mon.get_tool(tool) is None:
            return tool
    raise SystemExit("run_floor: no free sys.monitoring tool id")


def callbacks(ext, mode: str) -> dict[str, object]:
    if mode == "noop":
        return {event: ext.noop for event in EVENTS}
    prefix = "count_" if mode == "count" else "record_"
    return {event: getattr(ext, prefix + CALLBACK_SUFFIX[event]) for event in EVENTS}


def follow_forks(counts_file: str, read: Callable[[], dict[str, int]]) -> Callable[[dict[str, int]], dict[str, int]]:
    """Forked children (a process pool's workers) count their own events:
    each writes what it counted since the fork to ``COUNTS.<pid>`` when it
    ends through ``os._exit`` (as every multiprocessing child does). Returns
    the function that adds those files to the parent's counts (and removes
    them)."""

    def in_child() -> None:
        base = read()
        real_exit = os._exit

        def exit_counted(status: int) -> None:
            now = read()
            with open(f"{counts_file}.{os.getpid()}", "w", encoding="utf-8") as f:
                json.dump({k: now[k] - base.get(k, 0) for k in now}, f)
            real_exit(status)

        os._exit = exit_counted

    os.register_at_fork(after_in_child=in_child)

    def add_children(counts: dict[str, int]) -> dict[str, int]:
        for path in glob.glob(glob.escape(counts_file) + ".*"):
            with open(path, encoding="utf-8") as f:
                child = json.load(f)
            counts = {k: n + child.get(k, 0) for k, n in counts.items()}
            os.remove(path)
        return counts

    return add_children


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--ext-dir", help="folder holding the built _ctfloor module")
    parser.add_argument("--records", help="file for the 8-byte records (mode record8)")
    parser.add_argument("--counts", help="file for the JSON event counts (mode count)")
    parser.add_argument("--run-name", default="__main__", help="__name__ of the script (default __main__)")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if opts.ext_dir:
        sys.path.insert(0, opts.ext_dir)
    import _ctfloor

    mon = sys.monitoring
    tool = free_tool_id(mon)
    mon.use_tool_id(tool, "ctbench-floor")
    mask = 0
    for event, func in callbacks(_ctfloor, opts.mode).items():
        bit = getattr(mon.events, event)
        mon.register_callback(tool, bit, func)
        mask |= bit
    sys.argv = [opts.script, *opts.args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(opts.script)))
    add_children = follow_forks(opts.counts, _ctfloor.counts) if opts.mode == "count" and opts.counts else None
    mon.set_events(tool, mask)
    try:
        runpy.run_path(opts.script, run_name=opts.run_name)
    finally:
        mon.set_events(tool, 0)
        mon.free_tool_id(tool)
    if opts.mode == "count" and opts.counts and add_children is not None:
        with open(opts.counts, "w", encoding="utf-8") as f:
            json.dump(add_children(_ctfloor.counts()), f)
    if opts.mode == "record8" and opts.records:
        _ctfloor.dump(opts.records)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
