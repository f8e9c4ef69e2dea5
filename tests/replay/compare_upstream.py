#!/usr/bin/env python3
"""Which recorder's traces show, in CodeTracer's replay-server, what each
program of the replay suite held (tests/replay/programs, and the real
programs it shares with tests/recorder/programs): ours (the wheel in dist/) against
upstream codetracer-python-recorder 0.3.0 (PyPI, cp312 only). Not a test
(pytest does not collect it); run from the repository root:

    .venv/bin/python tests/replay/compare_upstream.py [--python 3.12] [program ...]

Sets up .venvs/replay-ours-312 and .venvs/replay-upstream-312 on first use.
Per program and recorder it prints:
  values  every variable the program held is shown with its value, at every step
  exact   and no other variable is shown (what test_replay.py requires)
  output  the terminal pane shows the program's stdout
  end     an error end is flagged exactly when the program ends in error
and the first difference of each failing trace.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import replay as R


def _tests_conftest():
    """tests/conftest.py, the one place that finds interpreters (through pyenv)."""
    spec = importlib.util.spec_from_file_location("tests_conftest", HERE.parent / "conftest.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pyenv_python = _tests_conftest().pyenv_python

UPSTREAM = "codetracer-python-recorder==0.3.0"


def venv(name: str, version: str, pip_args: list[str]) -> Path:
    root = R.REPO / ".venvs" / f"replay-{name}-{version.replace('.', '')}"
    python = root / "bin" / "python"
    stamp = root / ".installed"
    want = " ".join(pip_args)
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    subprocess.run([str(pyenv_python(version)), "-m", "venv", "--clear", str(root)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pip_args], check=True)
    stamp.write_text(want)
    return python


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default="3.12", help="CPython version (upstream 0.3.0 has cp312 wheels only)")
    ap.add_argument("programs", nargs="*")
    opts = ap.parse_args()
    if not R.REPLAY_SERVER.exists():
        print(f"replay-server not found at {R.REPLAY_SERVER}", file=sys.stderr)
        return 2
    wheels = sorted((R.REPO / "dist").glob("codetracer_python_recorder-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        print("no wheel in dist/: run `make wheel`", file=sys.stderr)
        return 2
    recorders = {
        "ours": (venv("ours", opts.python, ["--no-index", "--force-reinstall", str(wheels[-1])]), []),
        "upstream": (venv("upstream", opts.python, [UPSTREAM]), ["--format", "json"]),
    }
    names = opts.programs or R.program_names()
    work_root = Path(tempfile.mkdtemp(prefix="replay-compare-"))
    rows, details = [], []
    try:
        for name in names:
            program = R.program_path(name)
            row = [name]
            for rec, (python, extra) in recorders.items():
                work = work_root / rec / name
                work.mkdir(parents=True)
                expected, plain = R.oracle(python, program, work)
                R.run(
                    [
                        str(python),
                        "-m",
                        "codetracer_python_recorder",
                        *extra,
                        "--trace-dir",
                        str(work / "trace"),
                        str(program),
                    ],
                    program.parent,
                )
                try:
                    rep = R.replay(work / "trace", work / "runtime", only={str(program)})
                except Exception as exc:
                    row += ["no replay"] * 4
                    details.append(f"{rec} {name}: {str(exc).splitlines()[0]}")
                    continue
                steps = R.recorded_steps(rep)
                loose = R.diff(expected, steps, exact=False)
                exact = R.diff(expected, steps, exact=True)
                stdout = plain.stdout.decode("utf-8")
                output = "-" if not stdout else ("yes" if rep.terminal == stdout else "no")
                end_ok = bool(rep.errors) == (plain.returncode != 0)
                row += [
                    "yes" if loose is None else "no",
                    "yes" if exact is None else "no",
                    output,
                    "yes" if end_ok else "no",
                ]
                if exact is not None:
                    details.append(f"{rec} {name}: {(loose or exact).splitlines()[0]}")
            rows.append(row)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    head = [
        "program",
        "ours values",
        "ours exact",
        "ours output",
        "ours end",
        "upstream values",
        "upstream exact",
        "upstream output",
        "upstream end",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for i, label in ((1, "ours values"), (2, "ours exact"), (5, "upstream values"), (6, "upstream exact")):
        print(f"{label}: {sum(r[i] == 'yes' for r in rows)}/{len(rows)}")
    print("\nfirst differences:")
    for d in details:
        print("  " + d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
