"""A forked child that ends in the way argv[1] names; the parent reports
the child's exit status and goes on."""
import os
import sys


def child_work(n):
    return n * 2


how = sys.argv[1]
pid = os.fork()
if pid == 0:
    print("child", child_work(21), flush=True)
    if how == "exit3":
        sys.exit(3)
    if how == "raise":
        raise ValueError("boom in the child")
    if how == "os_exit":
        os._exit(4)
    # "return": the child runs the rest of the program, as its parent does.
else:
    _, status = os.waitpid(pid, 0)
    print("parent sees", os.waitstatus_to_exitcode(status), flush=True)
print("end of", "child" if pid == 0 else "parent")
