# Objects gaining attributes, in module code and through a method.
class K:
    pass


class Counter:
    def __init__(self, start):
        self.n = start

    def bump(self, by):
        self.n = self.n + by
        self.last = by
        return self.n


k = K()
k.z = 1
k.w = "two"
k.z = [k.z]
c = Counter(10)
c.bump(5)
total = c.bump(1)
