import sys

print(len(sys.modules))
for name in sorted(sys.modules):
    print(name)
