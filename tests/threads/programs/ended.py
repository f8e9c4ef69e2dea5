"""Threads that end one after another (the first writes several flushes of
its stream while it runs), an optional fork once they ended,
one more thread, and a daemon thread still running at exit
(tests/threads/test_beside_the_run.py): the traces of threads that ended
are replayed beside the run."""

import os
import sys
import threading
import time


def work(n):
    total = 0
    for k in range(n):
        total += k % 7
    return total


def run(name, n):
    t = threading.Thread(target=work, args=(n,), name=name)
    t.start()
    t.join()


def tick(stop):
    while not stop.is_set():
        time.sleep(0.01)


if __name__ == "__main__":
    run("long", 120000)  # several 1 MiB flushes of its stream while it runs
    run("first", 3000)
    run("second", 200)
    time.sleep(0.3)
    if sys.argv[1:] == ["fork"]:
        pid = os.fork()
        if pid == 0:
            work(10)
            os._exit(0)
        os.waitpid(pid, 0)
    run("third", 100)
    threading.Thread(target=tick, args=(threading.Event(),), name="ticker", daemon=True).start()
    print("done")
