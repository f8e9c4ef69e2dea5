import sys

import codetracer_python_recorder as ctr


def work(n):
    return sum(range(n))


print("tracing before:", ctr.is_tracing())
with ctr.trace(sys.argv[1]) as path:
    print("tracing inside:", ctr.is_tracing())
    total = work(10)
    ctr.flush()
print("tracing after:", ctr.is_tracing(), total)
try:
    ctr.stop()
except ctr.UsageError as e:
    print("stop twice:", e.code, e.kind, e.exit_code)
ctr.start(sys.argv[2])
try:
    ctr.start(sys.argv[2])
except ctr.UsageError as e:
    print("start twice:", e.code)
ctr.stop()
sys.monitoring.use_tool_id(3, "someone-else")
try:
    ctr.start(sys.argv[3])
except ctr.EnvironmentError as e:
    print("tool id:", e.code, e.exit_code, e.context.get("holder"))
