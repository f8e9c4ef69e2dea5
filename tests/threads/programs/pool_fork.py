"""A multiprocessing pool of forked workers running the program's own
function; argv[1]: "join" (the pool is closed and joined: the workers end
themselves) or "terminate" (`with Pool`: the workers are killed)."""
import multiprocessing
import sys


def square(x):
    y = x * x
    return y


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    if sys.argv[1] == "join":
        pool = multiprocessing.Pool(2)
        print(pool.map(square, [1, 2, 3]))
        pool.close()
        pool.join()
    else:
        with multiprocessing.Pool(2) as pool:
            print(pool.map(square, [1, 2, 3]))
