"""The API's start() while a thread of the program already runs: that
thread's trace begins in the frames it was running then."""
import sys
import threading

import codetracer_python_recorder as ctr

go = threading.Event()
parked = threading.Event()


def waiting_worker(rounds):
    total = 0
    parked.set()
    go.wait()
    for i in range(rounds):
        total += i
    return total


def main(out):
    t = threading.Thread(target=waiting_worker, args=(4,), name="early")
    t.start()
    parked.wait()
    ctr.start(out)
    go.set()
    t.join()
    late = threading.Thread(target=waiting_worker, args=(2,), name="late")
    late.start()
    late.join()
    ctr.stop()


main(sys.argv[1])
