# Generators: resumed frames, values across yields, a generator consumed by for and next().
def countdown(n):
    while n > 0:
        got = n * 10
        yield got
        n -= 1


def pairs(items):
    for i, item in enumerate(items):
        yield i, item


seen = []
for v in countdown(2):
    seen.append(v)
g = pairs("ab")
first = next(g)
second = next(g)
