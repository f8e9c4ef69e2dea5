import weakref


class Resource:
    def __init__(self, name):
        self.name = name

    def __del__(self):
        print("closed", self.name, flush=True)


def use():
    r = Resource("a")
    probe = weakref.ref(r)
    r = None
    print("after rebinding, alive:", probe() is not None)
    items = [Resource("b")]
    items.clear()
    print("after clear")
    last = Resource("c")
    return 1


use()
print("done")
