"""Opening a trace in CodeTracer's replay-server (the trace.ct open goals): wall
seconds from spawning `replay-server dap-server --stdio` to its first stop
on the trace, and the server's peak RSS, read from `/usr/bin/time -v`.

The driver keeps the trace folder of the last measured run of `ours-locals`
(trace.json) and `ours-ctfs` (trace.ct) for each workload and opens each
`runs` times; the report compares the medians. A trace.json above
`json_max_mb` is not opened: the server loads JSON whole, at 60-110x its
size in memory (../shared/tools/REPLAY.md). Every open runs under an
address-space limit (`prlimit --as`, `max_gb`) so that a trace too big for
the machine ends the server ("memory allocation of N bytes failed") instead
of the machine's other work; that trace is reported as not opened."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

from .dap import Dap, DapError
from .results import OpenCell, OpenRun

__all__ = [
    "FORMATS",
    "TIME",
    "PRLIMIT",
    "OpenError",
    "OverMemory",
    "server_missing",
    "parse_peak_kb",
    "parse_cpu_s",
    "open_once",
    "measure_open",
]

#: The tracer whose trace folder is opened for each format, and its file.
FORMATS = {"json": ("ours-locals", "trace.json"), "ct": ("ours-ctfs", "trace.ct")}
TIME = Path("/usr/bin/time")
PRLIMIT = Path("/usr/bin/prlimit")

_PEAK = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_CPU = re.compile(r"(?:User|System) time \(seconds\):\s*([\d.]+)")


class OpenError(RuntimeError):
    """The server did not reach its first stop on the trace."""


class OverMemory(OpenError):
    """The server ran out of its address-space limit while opening."""


def server_missing(server: Path) -> str | None:
    """Why opens cannot be measured here, or None when they can."""
    if not server.is_file():
        return (
            f"CodeTracer's replay-server is not at {server} (see ../shared/tools/REPLAY.md, or "
            "--replay-server PATH): trace open times NOT measured"
        )
    if not TIME.is_file():
        return f"{TIME} is absent (apt-get install time): trace open times NOT measured"
    if not PRLIMIT.is_file():
        return f"{PRLIMIT} is absent (apt-get install util-linux): trace open times NOT measured"
    return None


def parse_peak_kb(time_v_output: str) -> int:
    """Peak RSS in KB from the report of `/usr/bin/time -v`."""
    m = _PEAK.search(time_v_output)
    if m is None:
        tail = " | ".join(time_v_output.strip().splitlines()[-3:])
        raise OpenError(f"no 'Maximum resident set size' in /usr/bin/time's report: {tail or '(empty)'}")
    return int(m.group(1))


def parse_cpu_s(time_v_output: str) -> float | None:
    """User + system seconds from the report of `/usr/bin/time -v` (None
    when absent): on a loaded machine, the work the open took."""
    found = _CPU.findall(time_v_output)
    return sum(float(v) for v in found) if found else None


def open_once(server: Path, trace_dir: Path, scratch: Path, timeout: float, max_gb: float) -> OpenRun:
    """Spawn the server under /usr/bin/time (and at most `max_gb` of address
    space), open `trace_dir`, wait for the first stop; the seconds to that
    stop and the process's peak RSS. OverMemory when it ran out of memory."""
    scratch.mkdir(parents=True, exist_ok=True)
    report = scratch / "time-v.txt"
    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir=scratch))
    t0 = time.perf_counter()
    wrapper = [str(TIME), "-v", "-o", str(report), str(PRLIMIT), f"--as={int(max_gb * 2**30)}", "--"]
    dap = Dap(runtime, exe=server, timeout=timeout, wrapper=wrapper)
    try:
        try:
            dap.launch(trace_dir)
        except DapError as exc:
            said = " ".join(str(exc).split())
            if "memory allocation of" in said:
                raise OverMemory(said[:300]) from None
            raise OpenError(said[:300]) from None
        seconds = time.perf_counter() - t0
    finally:
        dap.close()
        shutil.rmtree(runtime, ignore_errors=True)
    try:
        text = report.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return OpenRun(seconds, parse_peak_kb(text), parse_cpu_s(text))


def measure_open(
    server: Path,
    python: str,
    workload: str,
    fmt: str,
    trace_dir: Path | None,
    *,
    runs: int,
    scratch: Path,
    json_max_mb: float,
    timeout: float,
    max_gb: float,
) -> OpenCell:
    """`runs` opens of one trace folder (or why there are none)."""
    tracer, name = FORMATS[fmt]
    if trace_dir is None or not (trace_dir / name).is_file():
        return OpenCell(python, workload, fmt, None, failed=f"no {name} ({tracer} did not finish a run)")
    size = (trace_dir / name).stat().st_size
    cell = OpenCell(python, workload, fmt, size)
    if fmt == "json" and size / 1e6 > json_max_mb:
        cell.not_opened = f"not opened ({size / 1e6:,.0f} MB)"
        return cell
    for _ in range(runs):
        try:
            cell.runs.append(open_once(server, trace_dir, scratch, timeout, max_gb))
        except OverMemory:
            cell.runs.clear()
            cell.not_opened = f"not opened (over {max_gb:g} GB of memory)"
            break
        except OpenError as exc:
            cell.failed = str(exc)
            break
    return cell
