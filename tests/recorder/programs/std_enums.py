"""Enum classes for std_values.py (a module of their own: the differential
test imports it before recording, see preimport/sitecustomize.py)."""
import enum


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


class Perm(enum.IntFlag):
    R = 4
    W = 2
