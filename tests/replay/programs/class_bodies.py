# Class bodies (their first step is the `class` line), a nested class, a class
# made by a function each call, one-line functions and lambdas.
class Box:
    size = 3
    label = "box"

    def area(self):
        return self.size * self.size


class Outer:
    class Inner:
        depth = 2
    count = len([k for k in range(2)])


def make(n):
    class Local:
        value = n
    return Local.value


def one(): return 1


double = lambda q: q * 2
b = Box()
a = b.area()
made = [make(1), make(2)]
o = one() + one()
d = double(3) + double(4)
