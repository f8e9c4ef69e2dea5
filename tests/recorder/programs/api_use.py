import sys

import codetracer_python_recorder as ctr


def work(n):
    return sum(range(n))


exported = []
ctr.set_metrics_exporter(exported.append)
print("tracing before:", ctr.is_tracing())
with ctr.trace(sys.argv[1]) as path:
    print("tracing inside:", ctr.is_tracing())
    total = work(10)
    ctr.flush()
print("tracing after:", ctr.is_tracing(), total)
print("metrics:", sorted(exported[0]), exported[0]["panics_caught"])
ctr.set_metrics_exporter(None)
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
