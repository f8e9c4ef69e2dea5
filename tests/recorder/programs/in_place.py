"""Values changed in place by lines that call no Python code: C methods,
in-place operators, stores, iterators that mutate, finalisers, exceptions
caught in the frame. Every change must show at the next step."""
from collections import defaultdict


class Box:
    def __init__(self):
        self.n = 0
        self.items = []


class Noisy:
    def __init__(self, sink):
        self.sink = sink

    def __del__(self):
        self.sink.append("gone")


def numeric(steps):
    bodies = [[float(i), 0.5 * i, 1.0] for i in range(3)]
    for _ in range(steps):
        for i in range(3):
            b1 = bodies[i]
            dx = b1[0] - b1[1]
            d2 = dx * dx
            b1[2] += d2 * 0.001
            m = b1[2] * 2.0
            b1[1] = m
    return bodies


def c_level(seq):
    stack = list(seq)
    seen = []
    for x in iter(stack.pop, 3):
        seen.append(x)
    first, second, *_ = reversed(stack)
    lst = [1]
    lst += [2]
    lst *= 2
    s = {1}
    s |= {2}
    d = {"a": 1}
    d |= {"b": 2}
    dd = defaultdict(list)
    got = dd["k"]
    got.append(1)
    box = Box()
    for k in range(2000):
        box.n = k
        box.items.append(k)
        tmp = box.items[-1] + box.n
    del box.items[:1990]
    shared = [0]
    sink = []
    holder = Noisy(sink)
    holder = None
    view = sink
    try:
        _ = {}["missing"]
    except KeyError:
        shared[0] = 1
    glob = globals()
    global COUNTER
    COUNTER = 5
    alias = glob.get("COUNTER")
    return seen, first, second, lst, s, d, got, tmp, box, view, shared, alias


class Node:
    def __init__(self, name):
        self.name = name
        self.children = []
        self.meta = {"seen": 0, "span": range(3)}


def nested(rounds):
    root = Node("root")
    table = {"a": [1], "b": [2.0], "r": range(2), "n": Node("leaf")}
    for i in range(rounds):
        root.children.append(i)
        table["a"].append(i)
        table["b"][0] += 0.5
        root.meta["seen"] += 1
        table["n"].children.append(str(i))
        same = table["r"]
        if i == 3:
            table["r"] = range(i)
            root.name = "renamed"
            root.meta["span"] = "gone"
        label = root.name
    return root, table, same, label


def consumed():
    """Lines that call nothing yet run C code through an iterator (no try
    block here: a function with one has no pure lines at all)."""
    drain = [9, 8, 7]
    it = iter(drain.pop, 8)
    found = 7 in it
    after_in = drain
    rest = [0, 1, 2]
    it2 = iter(rest.pop, 0)
    taken = [*it2]
    after_star = rest
    return found, after_in, taken, after_star


class Point:
    def __init__(self):
        self.x = 0.5
        self.y = 1.0


def fingerprints(rounds):
    """An instance's scalar field rebound while freed floats are reused at
    once (the float free list): an instance compared by the addresses of its
    fields must not mistake a new float for an old one."""
    p = Point()
    for i in range(rounds):
        p.x = None; p.x = i * 0.5  # the old float is freed before the new one is made
        a = p.y
        b = a
    return p.x, b


LAZY = """
class Lazy:
    def __init__(self):
        self.cache = None

    @property
    def value(self):
        self.cache = 42
        return 1
"""


def lazy_property():
    ns = {}
    exec(LAZY, ns)
    first = ns["Lazy"]()
    v = first.value
    lazy = ns["Lazy"]()
    # The second run of the property: code never recorded reports no events
    # once disabled, yet it mutates `lazy` on this pure-looking line.
    v = lazy.value
    w = v + 1
    return lazy, w


class Pops:
    """An iterator written in Python: its __next__ sends events of its own."""

    def __init__(self, stack):
        self.stack = stack

    def __iter__(self):
        return self

    def __next__(self):
        if not self.stack:
            raise StopIteration
        return self.stack.pop()


def loops():
    """`for` headers run again from their FOR_ITER: the next line may skip
    its comparisons only when the iterator mutates nothing."""
    stack = [1, 2, 3, 4, 5, 6, 7, 8]
    views = []
    for x in [stack.pop()]:  # the iterable's expression mutates, on entry
        now = stack
    for i, x in enumerate(iter(stack.pop, 2)):  # enumerate over a mutating iterator
        now = stack
    for x, y in zip(iter(stack.pop, 1), "ab"):  # zip: not an iterator we trust
        now = stack
    more = [4, 5, 6]
    for x in Pops(more):  # Python code: events
        now = more
    table = {"a": [1], "b": [2]}
    for k, v in table.items():  # dict items unpacked: nothing runs
        now = table
    total = 0
    for i, v in enumerate([0.5, 1.5, 2.5]):
        total = total + v
    for k in range(3):
        views.append(k)  # the loop re-entered after a C call that mutated
        seen = views
    return now, seen, total


class Opaque:
    """Shown by its class name only (it has a __getattr__)."""

    def __getattr__(self, name):
        raise AttributeError(name)


class Opaque2(Opaque):
    pass


class Plain:
    def __init__(self):
        self.v = 1


class Plain2(Plain):
    pass


def reclassed():
    """Classes reassigned by a C call: no dict changes, the shown class does."""
    opaque = {"o": Opaque()}
    plain = Plain()
    held = [plain]
    for k in range(4):
        setattr(opaque["o"], "__class__", Opaque2 if k % 2 == 0 else Opaque)
        setattr(plain, "__class__", Plain2 if k % 2 == 0 else Plain)
        now = opaque, held
    return now


def rebound():
    """A local rebound on a pure line: the old container is freed and the
    new one is likely made at its address (the free lists)."""
    xs = [1, 2, 3]
    step = 0
    xs = None; xs = [7, 8, 9]  # noqa: E702 - one pure line, on purpose
    step = 1
    table = {"a": 1}
    step = 2
    del table; table = {"b": 2}  # noqa: E702 - (as above)
    step = 3
    return xs, table, step


def shared_down(box, depth):
    """One object shown by many frames at once, changed in the callees: each
    frame must show every change, by PATCH or anew, when it steps again."""
    box["n"] += 1
    box["seen"].append(depth)
    alias = box
    if depth:
        shared_down(box, depth - 1)
    box["n"] += 1
    box["seen"] = box["seen"][-2:]
    return alias


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def slotted(rounds):
    """__slots__ instances in a list, unchanged for steps (their check
    programs run), then changed by C calls that send no event: a slot
    rebound, unset, set again, a float replaced by an equal-looking one."""
    pts = [Slotted(i, i * 0.5) for i in range(4)]
    p = pts[0]
    marks = []
    for r in range(rounds):
        marks.append(r)
        marks.append(-r)
        if r % 3 == 0:
            setattr(pts[r % 4], "x", r * 10)
        if r == 4:
            delattr(p, "y")
        if r == 5:
            object.__setattr__(p, "y", float("1.5"))
        if r == 7:
            setattr(pts[1], "y", float(str(pts[1].y)))
    return [(getattr(q, "x", None), getattr(q, "y", None)) for q in pts]


def tuples(rounds):
    """Tuples: rebuilt each step (the free list hands out the address just
    freed) with one item changed, holding a list changed by a C method,
    as dict keys, nested beyond the depth limit, holding a finaliser that
    must run when the program drops it."""
    sink = []
    pair = (0, "a")
    keyed = {(0, 1): "x"}
    deep = (1, (2, (3, (4, "deep"))))
    held = (1, [2])
    rows = [(i, str(i)) for i in range(3)]
    for r in range(rounds):
        pair = (r, "a" if r % 2 else "b")
        held[1].append(r)
        keyed[(r, r + 1)] = str(r)
        rows[r % 3] = (r, str(r))
        deep = (r, deep[1])
        doomed = (r, Noisy(sink))
        doomed = None
        last = tuple(sink)
    return pair, len(keyed), held, rows, deep, last, doomed


def item_stores(rounds):
    """Lines that only store items into a local's list (`row[k] -= v`):
    after one, only that list may have changed, and values that do not show
    it are passed over. It is shown by an alias, inside a list of lists
    (twice), a tuple, a dict and an instance; the line's in-place operator
    mutates a list item; a store puts a container into it; a local is rebound
    on the same line; nested loops' headers are re-entered."""
    grid = [[0.5 * i, 1.0, 2.0] for i in range(3)]
    row = grid[1]
    alias = row
    twice = [row, grid[2], row]
    pair = (row, 7)
    table = {"r": row, "other": grid[0]}
    box = Box()
    box.items = row
    flat = [1.0, 2.0]
    cell = [1.0, 2.0]
    nest = [[1], 2.0]
    inner = nest[0]
    for r in range(rounds):
        row[0] = 1.5
        for k in range(3):
            row[k] -= 0.25 * r
            grid[0][k] = r
            flat[1] += 1.0
        nest[0] += [r]  # in place on a list item: `inner` changes too
        if r == 2:
            cell[1] = [r]
        cell[0] = r
        flat[0] = r; flat = [r, 2.0]  # noqa: E702 - rebound on the line
        row[0] = None
    return grid, alias, twice, pair, table, box.items, flat, cell, nest, inner


def nested_loops(stack):
    """Inner loops' headers, whose line also holds the outer loop's jump back
    (run once the inner loop is done): the outer header's iterator mutates
    (after the event of its own line), or the outer loop is a `while` whose
    test mutates."""
    seen = []
    for x in iter(stack.pop, 2):
        for j in range(2):
            now = stack
        seen = seen + [x]
    while stack.pop() > 1:
        for j in range(2):
            now = stack
    return seen, now


class Ctx:
    def __init__(self):
        self.items = [1.0]
        self.count = 0
        self.peer = None


def take(ctx, other):
    ctx.count += 1
    other.append(ctx.count)
    return True


def last_line_mutates(ctx):
    ctx.count += 1
    return ctx.items.pop() if len(ctx.items) > 1 else ctx.items.append(0.5)


def shown(v):
    return v


def calls_in_line(rounds):
    """Objects passed down and back by calls with only pure instructions
    around them (what a rule skipping their comparison at both ends of a
    call would trust; docs/performance.md, "Calls in line"), and what must
    defeat such a rule: the line mutates before the call (a C method in the
    arguments), after it (a call, an in-place operator), the callee's last
    line mutates, a C function calls back (sort with a key that reads the
    list it sorts), a closure rebinds the caller's cell, a list freed by a
    rebinding and a new one made where it was, an object whose peer is the
    list changed."""
    ctx = Ctx()
    other = [0]
    ctx.peer = other
    keyed = [Box() for _ in range(3)]
    for k, b in enumerate(keyed):
        b.items = keyed
        b.n = 3 - k
    held = [1, 2]
    counter = 0

    def rebind():
        nonlocal held
        held = [len(held)]
        return 0

    for r in range(rounds):
        if not take(ctx, other):
            break
        ok = take(ctx, other)
        ok = take(shown(ctx), other)
        ok = take(ctx, other.append(r) or other)
        seen = shown(ctx) is not shown(other.pop())
        last_line_mutates(ctx)
        ok = shown(ctx)
        counter += take(ctx, other)
        keyed.sort(key=lambda b: (b.n, len(b.items)))
        keyed[0].n = r
        gone = [r, r]
        gone = None
        fresh = shown([r, r + 1])
        rebind()
        fresh = shown(held)
    return ctx.count, other, ok is ctx, seen, counter, [b.n for b in keyed], gone, fresh, held


COUNTER = 0
print(calls_in_line(5))
print(nested_loops([0, 1, 2, 3, 4, 5]))
print(item_stores(4))
print(tuples(6))
print(slotted(9))
print(shared_down({"n": 0, "seen": []}, 4))
print(rebound())
print(len(reclassed()))
print(loops())
print(numeric(50)[0][2])
print(lazy_property()[0].cache)
print(consumed())
print(fingerprints(300))
print(len(nested(6)[0].children))
print(c_level(range(8))[:3])
