def bump_twice(xs):
    xs[0] += 1.0
    xs[0] += 1.0


def mutate():
    xs = [0.5, 1.5]
    grid = [[0] * 3 for _ in range(3)]
    d = {"a": [1, 2], "b": 2}
    s = {1, 2}
    t = (xs, "label")
    for i in range(4):
        bump_twice(xs)
        grid[i % 3][i % 3] += 1
        d["a"].append(i)
        d["b"] = d["b"] * 2
        s.add(i * 10)
        s.discard(1)
        big = 2 ** 70 + i
        name = "n" + str(i)
    grid[0] = grid[1]
    del d["b"]
    xs.clear()
    return t, grid, d, s, big, name


mutate()
print("ok")
