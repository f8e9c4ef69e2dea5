def build():
    lst = [1, 2]
    lst.append(lst)
    d = {"k": 1}
    d["self"] = d
    big = 2 ** 100
    neg = -(2 ** 80)
    nums = [float("nan"), float("inf"), -0.0, 1e16, 0.1]
    data = b"\x00ab'"
    s = {3}
    fs = frozenset({"z"})
    t = (1, "two", None, True)
    many = list(range(100))
    lst.append(3)
    return len(lst)


print(build())
