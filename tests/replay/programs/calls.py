# Calls with positional, keyword and default arguments: a callee's arguments
# are the callee's variables, never the caller's.
def scale(x, factor=2):
    y = x * factor
    return y


def describe(name, *, sep=": "):
    return name + sep + str(len(name))


def main():
    a = scale(3)
    b = scale(x="1", factor=3)
    n = describe("abc", sep="=")
    return a, b, n


result = main()
