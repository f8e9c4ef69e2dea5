# Module-level names of every basic kind; the module's imports, functions and
# classes are not shown as variables.
import math
import sys


def helper():
    return 1


class C:
    attr = 1


i = 42
big = 2 ** 70
neg = -7
f = 2.5
third = 1 / 3
whole = 2.0
s = "text with 'quotes' and \"double\"\n"
lst = [1, "a", None, True, 1.5]
tpl = (1,)
dct = {"k": [1, 2], 3: (4, None)}
st = {3, 1, 2}
fz = frozenset({"x"})
bs = b"ab\x00"
empty = []
none = None
yes = False
