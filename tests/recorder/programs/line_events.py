"""The LINE events plain python's sys.monitoring gives for the program
argv[2] (run as __main__), written to argv[1] as a JSON list of lines:
what the recorder's steps must follow."""
import json
import runpy
import sys

out, program = sys.argv[1], sys.argv[2]
lines = []
mon = sys.monitoring
mon.use_tool_id(4, "reference")
mon.register_callback(4, mon.events.LINE, lambda code, line: lines.append(line) if code.co_filename == program else None)
mon.set_events(4, mon.events.LINE)
sys.argv = sys.argv[2:]
try:
    runpy.run_path(program, run_name="__main__")
finally:
    mon.set_events(4, 0)
    with open(out, "w") as f:
        json.dump(lines, f)
