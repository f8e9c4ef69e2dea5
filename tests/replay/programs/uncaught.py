# An uncaught exception ends the program: an error end.
def parse(text):
    value = int(text)
    return value


good = parse("12")
print("parsed", good)
bad = parse("twelve")
print("never printed")
