"""Records itself through the Python API: nothing of the recorder (its
pathlib calls) may be in the traces (README "Scope")."""
import sys

import codetracer_python_recorder as ctr

with ctr.trace(sys.argv[1]) as folder:
    x = 1
    y = x + 1
ctr.start(sys.argv[2])
z = 3
ctr.stop()
print(type(folder).__name__, folder.name)
