def add(a, b=2, *rest, scale=1, **extra):
    total = (a + b + sum(rest)) * scale
    return total


def fact(n):
    if n <= 1:
        return 1
    return n * fact(n - 1)


result = add(1, 2, 3, scale=2, tag="x")
print("add", result)
print("fact", fact(5))
