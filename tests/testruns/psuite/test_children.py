"""Tests that start child processes: each child's trace lands in the folder
of the test that started it (docs/test-runs.md, "Threads and processes")."""
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

from squares import square_sum


def test_fork():
    pid = os.fork()
    if pid == 0:
        os._exit(square_sum(3))  # 0 + 1 + 4
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5


def test_subprocess():
    code = "import squares, sys; sys.exit(squares.square_sum(4))"
    done = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(__file__))
    assert done.returncode == 14


def test_spawn_pool():
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert list(pool.map(square_sum, [2, 5])) == [1, 30]


def test_fork_pool():
    pool = multiprocessing.get_context("fork").Pool(1)
    assert pool.map(square_sum, [6]) == [55]
    pool.close()
    pool.join()


def _forkserver_pool(n):
    pool = multiprocessing.get_context("forkserver").Pool(1)
    assert pool.map(square_sum, [n]) == [sum(i * i for i in range(n))]
    pool.close()
    pool.join()


def test_forkserver_pool_first():
    _forkserver_pool(7)  # (starts the forkserver: it outlives this test)


def test_forkserver_pool_again():
    _forkserver_pool(8)  # (the same forkserver forks this test's worker)


lingering = []


def test_leaves_a_child_running():
    code = "import squares, sys; sys.stdin.read(); sys.exit(squares.square_sum(2))"
    here = os.path.dirname(__file__)
    lingering.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, cwd=here))


def test_the_child_ends_here():
    child = lingering.pop()
    child.communicate(b"")
    assert child.returncode == 1
