"""Benchmark workload: a mix of library and program code.

Solves sudoku grids by backtracking (candidates come from a generator, so
there are PY_YIELD / PY_RESUME events too), then parses a synthetic access
log with regular expressions and round-trips summaries through json: much
of the time is spent in the standard library's own Python code.

ANCHOR_SCALE (float, default 1.0) multiplies the puzzles and the log lines.
Prints ``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check is
the same on every run.
"""
import json
import os
import re
import sys
import time

PUZZLES = [
    "530070000600195000098000060800060003400803001700020006060000280000419005000080079",
    "003020600900305001001806400008102900700000008006708200002609500800203009005010300",
    "200080300060070084030500209000105408000000000402706000301007040720040060004010003",
]


def candidates(grid, cell):
    row, col = divmod(cell, 9)
    taken = set(grid[row * 9:row * 9 + 9])
    taken.update(grid[col::9])
    top, left = row - row % 3, col - col % 3
    for r in range(top, top + 3):
        taken.update(grid[r * 9 + left:r * 9 + left + 3])
    for digit in "123456789":
        if digit not in taken:
            yield digit


def solve(grid):
    try:
        cell = grid.index("0")
    except ValueError:
        return grid
    for digit in candidates(grid, cell):
        grid[cell] = digit
        if solve(grid) is not None:
            return grid
    grid[cell] = "0"
    return None


LINE = re.compile(r'(?P<ip>\d+\.\d+\.\d+\.\d+) - - \[(?P<day>\d+)/(?P<mon>\w+)/(?P<year>\d+)[^\]]*\] '
                  r'"(?P<method>GET|POST|PUT) (?P<path>/\S*) HTTP/1\.[01]" (?P<status>\d{3}) (?P<size>\d+)')


def log_lines(count):
    methods = ("GET", "POST", "PUT")
    for i in range(count):
        yield '10.0.%d.%d - - [%02d/May/2024:10:%02d:00 +0000] "%s /item/%d?page=%d HTTP/1.1" %d %d' % (
            i % 7, i % 250, 1 + i % 28, i % 60, methods[i % 3], i % 97, i % 5, (200, 404, 500)[i % 11 % 3], 100 + i % 900)


def summarise(count):
    by_status = {}
    by_path = {}
    for line in log_lines(count):
        m = LINE.match(line)
        if m is None:
            continue
        status = m.group("status")
        by_status[status] = by_status.get(status, 0) + int(m.group("size"))
        path = m.group("path").split("?")[0]
        by_path[path] = by_path.get(path, 0) + 1
    doc = json.loads(json.dumps({"status": by_status, "paths": by_path}, sort_keys=True))
    return sum(doc["status"].values()) + len(doc["paths"])


def main(scale):
    solved = []
    for i in range(max(1, round(3 * scale))):
        grid = solve(list(PUZZLES[i % len(PUZZLES)]))
        solved.append("".join(grid[:9]))
    return "%s:%d" % ("|".join(solved), summarise(max(1, round(20000 * scale))))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
