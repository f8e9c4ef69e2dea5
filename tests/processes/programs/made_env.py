"""Runs this interpreter on this file as a child with an environment the
program made, the way argv[1] names: "copy" (subprocess.run, env=dict(os.environ, X="1")),
"bare" (env={"PATH": ..., "X": "1"}: no PYTHONPATH, no HOME), "fork-path" (a copy
and cwd=, which makes subprocess fork and exec), "spawn-path" (a copy and
close_fds=False, which makes it use os.posix_spawn), "spawnve"
(os.spawnve with a copy); the child runs the program's own function and
prints the environment it got. The parent says whether its dict is as it made it."""
import os
import subprocess
import sys


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


if __name__ == "__main__":
    how = sys.argv[1]
    if how == "child":
        print("work", work(int(sys.argv[2])))
        print(sorted(os.environ.items()), flush=True)
        sys.exit(3)
    if how == "bare":
        env = {"PATH": os.environ["PATH"], "X": "1"}
    else:
        env = dict(os.environ, X="1")
    made = dict(env)
    child = [sys.executable, __file__, "child", "5"]
    if how == "fork-path":
        status = subprocess.run(child, env=env, cwd=os.getcwd()).returncode
    elif how == "spawn-path":
        status = subprocess.run(child, env=env, close_fds=False).returncode
    elif how == "spawnve":
        status = os.spawnve(os.P_WAIT, sys.executable, child, env)
    else:
        status = subprocess.run(child, env=env).returncode
    print("child exit", status, "env as made", env == made, flush=True)
