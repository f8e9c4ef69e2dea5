# Logging to stderr (the logging package is standard library: recorded by
# default, it would bury the program in its own steps).
import logging

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("demo")
count = 2
log.info("count is %d", count)
print("done")
