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


class Node:
    def __init__(self, value, child=None):
        self.value = value
        self.child = child


class Slotted:
    __slots__ = ("a", "b")


class Other:
    pass


def objects():
    root = Node(1, Node(2, Node(3)))
    s = Slotted()
    s.a = 1
    for i in range(4):
        root.value += 1
        root.child.child.value = [i, float(i)]
        s.a = s.a * 2
        if i == 1:
            s.b = "b"
        if i == 2:
            del s.b
            root.extra = {"k": i}
        fresh = Node(i)  # rebound each round: a freed object's address may be reused
        fresh.value = i * 3
    root.__class__ = Other
    del root.extra
    return root, s, fresh


mutate()
objects()
print("ok")
