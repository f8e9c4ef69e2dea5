def count(n):
    i = 0
    while i < n:
        yield i
        i += 1


def delegate():
    yield from count(2)
    got = yield "sent?"
    yield got


g = delegate()
print(next(g), next(g), next(g))
print(g.send("hello"))
g.close()
squares = [x * x for x in count(4)]
print(squares)
