"""Benchmark workload: a float loop.

Heat diffusion along a rod (a list of floats updated in place, step after
step) and escape counts of points near the Mandelbrot set: long loops of
float arithmetic in few frames, so LINE events dominate and calls are rare.

ANCHOR_SCALE (float, default 1.0) multiplies the time steps and the grid.
Prints ``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check is
a rounded sum, the same on every run.
"""
import os
import sys
import time


def diffuse(rod, steps, alpha):
    """Explicit finite differences; both ends are held at their values."""
    n = len(rod)
    nxt = rod[:]
    for _ in range(steps):
        for i in range(1, n - 1):
            nxt[i] = rod[i] + alpha * (rod[i - 1] - 2.0 * rod[i] + rod[i + 1])
        rod, nxt = nxt, rod
    return rod


def escape_time(cr, ci, limit):
    zr = zi = 0.0
    for k in range(limit):
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > 4.0:
            return k
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
    return limit


def main(scale):
    steps = max(1, round(9000 * scale))
    rod = [0.0] * 64
    rod[0], rod[-1] = 100.0, 25.0
    rod = diffuse(rod, steps, 0.25)
    side = max(2, round(130 * scale ** 0.5))
    escapes = 0
    for y in range(side):
        for x in range(side):
            escapes += escape_time(-2.0 + 2.5 * x / side, -1.25 + 2.5 * y / side, 60)
    return "%.6f:%d" % (sum(rod), escapes)


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
