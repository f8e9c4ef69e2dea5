"""A forked child runs the program's own function and ends; argv[1] says
what the parent does then: "wait" (waits for it, then ends), "outlive"
(ends at once: the child ends after the parent's recording stopped) or
"die" (waits for it, prints "ready", then sleeps until killed)."""
import os
import sys
import time


def child_work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


how = sys.argv[1]
pid = os.fork()
if pid == 0:
    if how == "outlive":
        time.sleep(1.0)
    print("child", child_work(30), flush=True)
    os._exit(0)
if how != "outlive":
    os.waitpid(pid, 0)
if how == "die":
    print("ready", flush=True)
    time.sleep(60)
print("parent done", flush=True)
