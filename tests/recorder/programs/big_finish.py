"""A short run with a large trace (a 40-item list shown at every step:
150,000 iterations make a 6 MB stream and a 700 MB trace.json)."""
import sys


def work(n):
    data = list(range(40))
    total = 0
    for i in range(n):
        data[i % 40] = i
        total += data[(i * 7) % 40]
    return total


print(work(int(sys.argv[1])))
print("done", flush=True)
