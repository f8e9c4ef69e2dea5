import functools


def key(word):
    return len(word)


def double(x):
    return x * 2


words = sorted(["ccc", "a", "bb"], key=key)
doubled = list(map(double, [1, 2]))
total = functools.reduce(lambda a, b: a + b, doubled)
print(words, doubled, total)
