"""`python -m codetracer_ct` is `ct`. Kept valid for old Pythons: ct itself
needs 3.8+, recording needs 3.12+."""

import sys

if sys.version_info < (3, 8):
    sys.stderr.write(
        "ct: error: %s is Python %s; recording needs Python 3.12 or newer (sys.monitoring): "
        "activate a newer interpreter, or set $PYTHON\n" % (sys.executable, sys.version.split()[0])
    )
    sys.exit(10)  # _exitcodes.ENVIRONMENT

from .cli import main

sys.exit(main())
