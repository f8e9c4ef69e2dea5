import os
import json

counter = 0
for i in range(3):
    counter += i
del i
name = "done"
print(counter, name)
