"""Workers running the program's own functions in threads: plain threads, a
thread pool, a thread whose exception goes to threading.excepthook, and a
daemon thread still running at exit. Deterministic per thread. (No frame of
the program holds a Thread or a lock: their idents and reprs vary run to run.)"""
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

results = {}


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def worker_loop(name, count):
    done = []
    for k in range(count):
        done.append(work(k + 2))
    results[name] = done
    worker_loop.finished.put(name)


worker_loop.finished = queue.Queue()


def pooled(n):
    # Each of the pool's two threads takes exactly one task.
    pooled.both_started.wait()
    return work(n) + n


pooled.both_started = threading.Barrier(2)


def fails(limit):
    seen = [limit]
    try:
        raise ValueError(f"limit {limit} reached")
    finally:
        worker_loop.finished.put(seen)


def ticks_forever():
    ticks = 0
    while True:
        ticks += 1
        time.sleep(0.005)


def main():
    for i in range(2):
        threading.Thread(target=worker_loop, args=(f"w{i}", 3 + i), name=f"worker-{i}").start()
    for _ in range(2):
        worker_loop.finished.get()
    print("workers", sorted(results.items()))
    print("pool", sorted(ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool").map(pooled, [3, 5])))
    threading.Thread(target=fails, args=(7,), name="failing").start()
    print("failed at", worker_loop.finished.get())
    threading.Thread(target=ticks_forever, name="ticker", daemon=True).start()
    time.sleep(0.05)
    print("main", work(4))


main()
