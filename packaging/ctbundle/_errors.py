"""The toolkit's errors: one base, :class:`FatalError`, carrying the exit
status of the command it ends. ``ctbundle``'s ``main`` catches it once and
prints ``ctbundle <command>: error: <message>``, so every command fails the
same way for the same reason (a missing tool exits 3 from ``wheel`` as from
``dmg``).

======  ==========================================================
status  meaning
======  ==========================================================
1       an external tool ran and failed (:class:`ToolFailed`), or
        another failure of the build (:class:`FatalError`)
2       an input is refused: a missing file, a wheel of another
        platform, an unpinned runtime, a conflict
        (:class:`InputRefused` and its subclasses)
3       an external tool is not installed (:class:`ToolMissing`);
        the message says how to install it
======  ==========================================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import ClassVar

__all__ = ["FatalError", "InputRefused", "InvalidValue", "MissingInput", "ToolFailed", "ToolMissing"]


class FatalError(Exception):
    """Ends the command: the message is for the user, :attr:`return_code`
    is the process's exit status."""

    return_code: ClassVar[int] = 1


class ToolFailed(FatalError):
    """An external tool exited with a non-zero status."""

    return_code: ClassVar[int] = 1

    def __init__(self, argv: Sequence[str | os.PathLike[str]], status: int) -> None:
        self.argv = [os.fspath(a) for a in argv]
        self.status = status
        super().__init__(f"{' '.join(map(str, self.argv))} failed with status {status}")


class InputRefused(FatalError):
    """An input the toolkit will not use as given."""

    return_code: ClassVar[int] = 2


class MissingInput(InputRefused, FileNotFoundError):
    """A file or folder the command needs does not exist (also a
    :class:`FileNotFoundError`)."""


class InvalidValue(InputRefused, ValueError):
    """A setting (option, environment variable) has a value the toolkit
    cannot use (also a :class:`ValueError`)."""


class ToolMissing(FatalError):
    """An external tool is not installed; the message says how to install it."""

    return_code: ClassVar[int] = 3
