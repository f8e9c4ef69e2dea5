"""Imported at start-up (PYTHONPATH=preimport:.) by the change-detection
differential test: the standard modules std_values.py uses are imported before
the recording starts, so their import-time code — which iterates sets of
classes hashed by address, in a different order in every process — is not in
the two traces compared byte for byte."""
import datetime  # noqa: F401 - imported for its import-time code (above)
import decimal  # noqa: F401
import fractions  # noqa: F401
import pathlib  # noqa: F401
import uuid  # noqa: F401

import std_enums  # noqa: F401
