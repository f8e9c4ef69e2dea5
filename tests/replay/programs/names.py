# New names and rebinding with another type, at module level and in a function.
x = 1
x = "one"
x = [x, 2]
x = None
y = x


def rebind(n):
    v = n
    v = str(v)
    v = (v, n)
    v = {"v": v[0]}
    return v


r = rebind(7)
flag = r == {"v": "7"}
