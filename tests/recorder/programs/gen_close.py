"""Generators whose code is never recorded (<frozen os>, <string>, the
stdlib left out by the default scope), closed or thrown into while partly
consumed."""
import difflib
import os

g = os.walk(".")
next(g)
g.close()
for _ in os.walk("."):
    break

ns = {}
exec("def gen():\n    try:\n        yield 1\n        yield 2\n    except KeyError:\n        yield 'caught'\n", ns)
h = ns["gen"]()
next(h)
print(h.throw(KeyError("k")))
h.close()
k = ns["gen"]()
next(k)
try:
    k.throw(ValueError("v"))
except ValueError as exc:
    print("raised", exc)
d = difflib.unified_diff(["a\n", "b\n"], ["a\n", "c\n"])
next(d)
d.close()
d = difflib.unified_diff(["a\n", "b\n"], ["a\n", "c\n"])
next(d)
try:
    d.throw(KeyError("d"))
except KeyError as exc:
    print("raised", exc)
print("ok")
