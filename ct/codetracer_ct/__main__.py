"""`python -m codetracer_ct` is `ct`."""
from __future__ import annotations

from .cli import main

raise SystemExit(main())
