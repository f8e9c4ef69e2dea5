import threading


def worker(out, k):
    acc = 0
    for i in range(1000):
        acc += i * k
    out[k] = acc


def main():
    out = {}
    ts = [threading.Thread(target=worker, args=(out, k)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(sorted(out.items()))


main()
