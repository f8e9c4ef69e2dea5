import os
import sys

print(sys.argv)
print(sys.path[0])
print(__name__, os.path.basename(__file__))
import helper_mod
print(helper_mod.VALUE)
