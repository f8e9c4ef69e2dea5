import os


def child_work(n):
    return n * 2


def parent_work(n):
    return n + 1


pid = os.fork()
if pid == 0:
    total = child_work(21)
    print("child", total, flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("parent", parent_work(1), os.waitstatus_to_exitcode(status))
