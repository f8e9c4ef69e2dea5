"""``python -m codetracer_python_recorder``: see :mod:`codetracer_python_recorder.cli`."""

import sys

from codetracer_python_recorder.cli import main

sys.exit(main())
