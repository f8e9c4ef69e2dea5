import sys


def f(x):
    return x * 2


f(1)
sys.monitoring.free_tool_id(3)
print(f(2))
