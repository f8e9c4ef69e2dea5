"""Builtin functions and methods held in locals, shown as
`<function QUALNAME>`: bound to instances, classes and modules, static and
class methods, classes renamed at run time or named past --max-str, a
metaclass answering its own `__qualname__` — and a generator holding them
(and a list changed while it is suspended), re-shown at every resume."""

import math


class Outer:
    class Seq(list):
        pass


class Ünï(dict):
    pass


class Meta(type):
    def __getattribute__(cls, name):
        if name == "__qualname__":
            return "AskedMeta"
        return super().__getattribute__(name)


class Asked(list, metaclass=Meta):
    pass


class Renamed(dict):
    pass


def holders(tag):
    data = [3, 1, 2]
    on_list = data.index
    on_str = tag.upper
    on_int = (7).bit_length
    on_module = math.sqrt
    builtin = len
    static = str.maketrans
    on_class = dict.fromkeys
    on_subclass = Outer.Seq().append
    on_unicode = Ünï.fromkeys
    on_meta = Asked().append
    on_renamed = Renamed.fromkeys
    Renamed.__qualname__ = "Now.Called"
    on_renamed = Renamed().get
    Renamed.__qualname__ = "R" * 300
    on_renamed = Renamed.fromkeys
    Renamed.__qualname__ = "bad\udcff"
    on_renamed = Renamed().copy
    return (
        on_list(1)
        + on_str().count("A")
        + on_int()
        + int(on_module(4))
        + builtin(data)
        + len(static("a", "b"))
        + len(on_class("ab"))
        + len(on_subclass.__qualname__)
        + len(on_unicode("x"))
        + len(on_meta.__qualname__)
        + len(on_renamed())
    )


def suspended(items):
    seen = []
    pick = items.index
    for x in items:
        seen.append(pick(x))
        yield seen


print(holders("Abc"))
g = suspended([5, 6, 7])
first = next(g)
first.append("while suspended")
second = next(g)
second.clear()
print(next(g), list(g))
