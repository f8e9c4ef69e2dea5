"""Generators and coroutines resumed again and again, whose locals change
between their yields, on the yield's own line, while suspended (through
`gi_frame.f_locals`, a closure's cell, another thread), or not at all; and
generators dropped while suspended whose memory the next one re-uses. A
resumed frame's Call record shows every local it holds: the recorder's
shortcut for the unchanged ones must show exactly what encoding them again
shows (tests/recorder/test_parity.py)."""

import _thread
import asyncio
import sys


def steady(data):
    # Locals that stay the same objects from one resume to the next.
    find = data.index
    name = "steady"  # noqa: F841 - shown at every resume
    blob = b"\x00\x01"  # noqa: F841 - shown at every resume
    ratio = 0.5  # noqa: F841 - shown at every resume
    flag = True  # noqa: F841 - shown at every resume
    nothing = None  # noqa: F841 - shown at every resume
    big = 2**80  # noqa: F841 - shown at every resume
    i = -1
    while True:
        # Rebound on the yield's own line (after its step).
        yield (i := find(1, i + 1))


def rebinding(n):
    # Locals rebound between resumes to new objects of the same kinds
    # (freed ones' addresses are soon re-used).
    text = "start"
    num = 10**20
    for k in range(n):
        text = str(k) * 3
        num = num + k
        got = yield text
        if got is not None:
            text = got


def poked():
    # Rebound while suspended through its frame object (written through on
    # 3.13, a snapshot on 3.12).
    x = 1
    y = "why"
    while True:
        yield x, y


def with_cell():
    # A cell a closure rebinds while the generator is suspended.
    z = 0

    def bump():
        nonlocal z
        z += 1

    while True:
        yield bump
        z = z


def outer(n):
    # Generators of generators.
    for k in range(n):
        inner = steady(bytearray((0, 1)) * (k + 2))
        yield from (next(inner) for _ in range(k + 1))


def thrown():
    value = "before"
    while True:
        try:
            yield value
        except ValueError as e:
            value = str(e)


def dropped(box):
    # Resumed, then dropped while suspended: the next one lands where it
    # was (its argument, a list, keeps nothing of its own at its first
    # yield), its locals where this one's were.
    b = str(box[0] * 1000)
    c = float(box[0])
    yield b
    yield b, c
    yield c


async def ticker(n):
    count = 0
    label = "tick"
    for _ in range(n):
        count += 1
        await asyncio.sleep(0)
    return label, count


async def agen(n):
    word = "async"
    for k in range(n):
        yield word, k


async def amain():
    got = [w async for w in agen(3)]
    return got, await ticker(3)


def on_thread(fn):
    # (No `Thread` object: its ident differs from run to run.)
    lock = _thread.allocate_lock()
    lock.acquire()

    def run():
        fn()
        lock.release()

    _thread.start_new_thread(run, ())
    lock.acquire()


def main():
    g = steady(bytearray((0, 1)) * 8)
    print([next(g) for _ in range(6)])

    r = rebinding(6)
    print(next(r), next(r), r.send("sent"), next(r))
    r.close()

    p = poked()
    print(next(p))
    p.gi_frame.f_locals["x"] = 2
    p.gi_frame.f_locals["y"] = "changed"
    print(next(p), next(p))

    c = with_cell()
    bump = next(c)
    bump()
    next(c)
    bump()
    bump()
    next(c)

    print(list(outer(4)))

    t = thrown()
    print(next(t), t.throw(ValueError("thrown")), next(t))
    t.close()

    for seed in range(5):
        d = dropped([seed])
        next(d)
        next(d)
        del d
    d = dropped([7])
    print(next(d), next(d), next(d))

    # Resumed on another thread in between.
    s = rebinding(4)
    print(next(s))
    on_thread(lambda: print(next(s), next(s)))
    print(next(s))

    print(asyncio.run(amain()))
    print(sys.version_info >= (3, 12))


main()
