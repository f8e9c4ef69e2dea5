import sys
import time


def tick(i):
    return i + 1


print("ready", flush=True)
i = 0
while True:
    i = tick(i)
    time.sleep(0.01)
