def add(a, b):
    total = a + b
    return total


def scale(values, factor):
    out = []
    for v in values:
        out.append(v * factor)
    return out
