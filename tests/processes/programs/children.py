"""Runs the program's own function in a child process started the way
argv[1] names: "spawn" and "forkserver" (multiprocessing.Process), "pool"
(concurrent.futures.ProcessPoolExecutor over spawn, one worker), "subprocess"
(subprocess.run of this interpreter on this file, which exits 3), "kill" (a subprocess
child killed by SIGKILL once it said it is ready)."""
import multiprocessing
import subprocess
import sys
import time


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    print("work", n, total, flush=True)
    return total


if __name__ == "__main__":
    how = sys.argv[1]
    if how in ("spawn", "forkserver"):
        multiprocessing.set_start_method(how)
        p = multiprocessing.Process(target=work, args=(4,))
        p.start()
        p.join()
        print("child exit", p.exitcode)
    elif how == "pool":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
            print(list(ex.map(work, [2, 3])))
    elif how == "subprocess":
        done = subprocess.run([sys.executable, __file__, "child", "5"])
        print("child exit", done.returncode)
    elif how == "child":
        work(int(sys.argv[2]))
        sys.exit(3)
    elif how == "kill":
        child = subprocess.Popen([sys.executable, __file__, "sleeper"], stdout=subprocess.PIPE)
        said = child.stdout.readline().decode().strip()
        while said.startswith("work"):
            said = child.stdout.readline().decode().strip()
        child.kill()
        child.wait()
        print("child said", said, "and ended with", child.returncode)
    elif how == "sleeper":
        work(3)
        print("ready", flush=True)
        time.sleep(60)
