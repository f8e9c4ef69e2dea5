import sys

data = sys.stdin.read()
lines = data.splitlines()
print(len(lines), "lines")
for line in lines:
    print(line.upper())
