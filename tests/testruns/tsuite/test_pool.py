import threading
from concurrent.futures import ThreadPoolExecutor

from prices import total

both_running = threading.Barrier(2)


def priced(prices, rate):
    both_running.wait()  # each task in a worker of its own
    return total(prices, rate)


def test_pool():
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool") as pool:
        results = list(pool.map(priced, [[1, 2], [5]], [10, 100]))
    assert results == [30, 500]


started = threading.Event()
release = threading.Event()


def lingering():
    first = total([1], 1)
    started.set()
    release.wait()
    second = total([first], 2)
    return second


lingerer = threading.Thread(target=lingering, name="lingerer", daemon=True)


def test_leaves_a_thread_running():
    lingerer.start()
    started.wait()


def test_the_thread_ends_here():
    release.set()
    lingerer.join()
