class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = [1, 2]


class Shadowed(Slotted):
    """A property over a base class's slot: showing the instance must not run it."""
    __slots__ = ()

    @property
    def a(self):
        print("property ran")
        return Slotted.a.__get__(self)

    @a.setter
    def a(self, v):
        Slotted.a.__set__(self, v)


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr must never run")

    __str__ = __repr__


def use():
    p = Point(3, 4)
    s = Slotted()
    sh = Shadowed()
    bad = BadRepr()
    n = p.norm2()
    return n


print(use())
