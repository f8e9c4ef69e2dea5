"""A thread whose exception goes to threading.excepthook (pytest reports it as a
warning), and a daemon thread left running after the last test."""
import threading
import time


def boom(n):
    value = n * 2
    raise ValueError(f"bad {value}")


def test_thread_raises():
    t = threading.Thread(target=boom, args=(3,), name="boomer")
    t.start()
    t.join()


def tick(box):
    while True:
        box.append(len(box))
        time.sleep(0.001)


def test_daemon_left_running():
    box = []
    threading.Thread(target=tick, args=(box,), name="ticker", daemon=True).start()
    while len(box) < 3:
        time.sleep(0.001)
