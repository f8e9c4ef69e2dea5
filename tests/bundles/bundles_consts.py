"""Constants shared by the bundle tests and their conftest."""

EPOCH = "1700000000"
FAKE_VERSION = "0.0.7"
