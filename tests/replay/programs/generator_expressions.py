# Generator expressions (each resume goes on from the same line), nested ones,
# a generator resumed several times by next() and send(), yield from, and
# coroutines and an async generator driven by hand.
def doubled(n):
    return sum(x * 2 for x in range(n))


def nested(n):
    return list(y for y in (x + 1 for x in range(n)) if y % 2)


def counter():
    total = 0
    while True:
        got = yield total
        total += got


def chain(a, b):
    yield from a
    yield from b


async def answer(n):
    return n * 2


async def ticks(n):
    for i in range(n):
        yield i


async def main(out):
    got = await answer(4)
    seen = [t async for t in ticks(2)]
    out.append((got, seen))


def run(coro):
    try:
        coro.send(None)
    except StopIteration:
        return "done"


s = doubled(3)
n = nested(4)
c = counter()
first = next(c)
second = c.send(5)
third = c.send(7)
joined = list(chain(iter([1]), (k for k in range(2))))
results = []
status = run(main(results))
