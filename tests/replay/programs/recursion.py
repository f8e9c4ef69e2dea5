# Recursion: each frame shows its own n and acc.
def fact(n, acc=1):
    if n <= 1:
        return acc
    return fact(n - 1, acc * n)


def depth(xs):
    if not xs:
        return 0
    return 1 + depth(xs[1:])


f = fact(4)
d = depth([1, 2, 3])
