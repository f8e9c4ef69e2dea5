# Logging to stderr (the logging package is standard library: recorded by
# default, it buries the program in its own steps).
import logging

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
count = 2
logging.getLogger("demo").info("count is %d", count)
print("done")
