"""Functions with try/except/finally/with whose values change in ways a
wrong "nothing changed" shortcut would miss: mutations by C methods right
before a pure line raises, in handlers and finally blocks, by callees that
raise, by context managers' __exit__, and locals rebound by the handler code
the compiler adds (``e = None; del e``, a comprehension's restored name).
The differential test records it with and without the shortcuts and wants
byte-identical traces."""


class Bag:
    def __init__(self):
        self.items = []
        self.n = 0


def mutate_then_raise(xs, d):
    xs.append(len(xs))
    return d["missing"]


def pure_line_raises(xs, d):
    total = 0
    for k in ("a", "b", "zz", "c"):
        try:
            xs.append(k)
            total += d[k]
        except KeyError:
            xs.append("miss")
            total -= 1
        else:
            xs[-1] = k.upper()
        finally:
            xs.append(total)
    return total


def callee_raises(xs, d):
    seen = []
    try:
        seen.append(1)
        mutate_then_raise(xs, d)
    except KeyError as e:
        seen.append(str(e))
    got = len(xs)
    try:
        mutate_then_raise(seen, d)
    except KeyError as e:
        seen.append(type(e).__name__)
    return got + len(seen)


def nested_reraise(bag):
    try:
        try:
            bag.items.append("inner")
            bag.n = bag.items.index("absent")
        except ValueError:
            bag.items.append("caught")
            bag.n += 1
            raise
        finally:
            bag.items.append("finally")
    except ValueError:
        bag.items.append("outer")
    return bag.n


class Recorder:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("enter")
        return self.log

    def __exit__(self, kind, value, tb):
        self.log.append("exit" if kind is None else kind.__name__)
        return kind is KeyError


def with_blocks(d):
    log = []
    with Recorder(log) as seen:
        seen.append(d.get("a"))
    with Recorder(log) as seen:
        seen.append("before")
        value = d["missing"]
    n = len(log)
    try:
        with Recorder(log):
            log.append(1 / 0)
    except ZeroDivisionError:
        log.append("div")
    return n + len(log)


def rebound_by_handler(data):
    e = [1, 2]
    x = [7, 7]
    try:
        e.append(3)
        raise ValueError("boom")
    except ValueError as e:
        msg = str(e)
    e = [5, 6]
    try:
        out = [1 / x for x in data]
    except ZeroDivisionError:
        out = []
    x.append(len(out))
    return msg, e, x


def loop_continue(rows):
    total = 0
    bad = []
    for r in rows:
        try:
            total += r[0] * 2
        except (TypeError, IndexError):
            bad.append(r)
            continue
        rows_seen = len(bad)
    return total, bad


def numbers(xs, log):
    """A generator (whose implicit handler has no line number): values
    changed by C calls between its steps, in a try/finally."""
    total = 0.0
    try:
        for x in xs:
            log.append(x)
            total = total + x
            yield total
            xs[0] = total
    finally:
        log.append("closed")


def consume(xs):
    log = []
    got = []
    for t in numbers(xs, log):
        got.append(t)
        if len(got) == 2:
            log.clear()
    early = numbers([1.0, 2.0, 3.0], log)
    first = next(early)
    early.close()
    return got, log, first


def main():
    xs = []
    d = {"a": 1, "b": 2, "c": 3}
    print(pure_line_raises(xs, d), xs)
    print(callee_raises(xs, d), xs)
    bag = Bag()
    print(nested_reraise(bag), bag.items)
    print(with_blocks(d))
    print(rebound_by_handler([2, 1, 0, 4]))
    print(consume([0.5, 1.5, 2.5]))
    print(loop_continue([[1], [], ["s"], (4,), None, [2]]))


main()
