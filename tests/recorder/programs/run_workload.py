"""Runs a benchmark workload's main(scale) without its timing line, so two
recordings of it are comparable byte for byte."""
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("workload", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.main(float(sys.argv[2])))
