"""Runs until killed: a forked child and two threads of the parent (and one
of the child) loop over the program's own function; "ready" once every
one of them has run it (tests/threads/test_recover.py kills it then)."""
import os
import sys
import threading
import time


def spin(n, ran):
    total = 0
    while True:
        for i in range(n):
            total += i
        ran.set()
        time.sleep(0.001)


def spinners(names):
    ran = []
    for k, name in enumerate(names):
        ran.append(threading.Event())
        threading.Thread(target=spin, args=(10 + k, ran[-1]), name=name, daemon=True).start()
    for event in ran:
        event.wait()


child = os.fork()  # (before any thread: no warning of a fork in a process with threads)
if child == 0:
    spinners(["child-spinner"])
    with open(sys.argv[1], "w") as f:
        f.write("ready")
    spin(5, threading.Event())
spinners(["spinner-0", "spinner-1"])
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
print("ready", flush=True)
spin(3, threading.Event())
