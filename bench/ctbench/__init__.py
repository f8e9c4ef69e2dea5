"""ctbench: the benchmark harness of codetracer-bundle (`make bench`).

Runs the six workloads of bench/workloads plain and under each tracer, and
the test suite of bench/programs/suite plain and recorded, on CPython 3.12
and 3.13, and writes docs/performance.md. The driver is
bench/run.py; this package holds its parts, one decision per module:

- anchor:   the `ANCHOR_RESULT <seconds> <check>` line of a workload
- stats:    medians, geo-means, ratios, ns/event
- pythons:  interpreter discovery (pyenv)
- tools:    wrappers of external tools (cc, hyperfine)
- envs:     the benchmark venvs under .venvs/bench-*
- floor:    building the _ctfloor C extension
- proc:     running one measured process (wall and CPU time, peak RSS)
- tracers:  how each tracer is run and what it left on disk
- events:   counting monitoring events per workload (cached)
- startup:  start-up cost via hyperfine
- dap:      a DAP client of CodeTracer's replay-server (tests/ctfs uses it too)
- replay_open: time and peak memory of the replay-server opening a trace (docs/ctfs.md)
- testsuite: the test suite of bench/programs/suite recorded one trace per test and as one (docs/test-runs.md)
- report:   tables for the console and docs/performance.md
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
