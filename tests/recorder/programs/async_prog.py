import types


@types.coroutine
def pause():
    got = yield "paused"
    return got


async def work(name, n):
    total = 0
    for i in range(n):
        total += await pause()
    return name, total


async def main():
    a = await work("a", 2)
    b = await work("b", 1)
    return [a, b]


def run(coro):
    # A tiny event loop: resume the coroutine until it finishes.
    value = None
    try:
        while True:
            coro.send(value)
            value = 1
    except StopIteration as stop:
        return stop.value


print(run(main()))
