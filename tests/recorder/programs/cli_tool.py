"""A small command-line tool of the kind users record: argparse, json,
logging, dataclasses and collections do the work; the tool's own code is a
few lines."""
import argparse
import collections
import dataclasses
import json
import logging

log = logging.getLogger("inventory")


@dataclasses.dataclass
class Item:
    name: str
    qty: int


def parse(argv):
    p = argparse.ArgumentParser(description="inventory report")
    p.add_argument("--items", default="apple:3,pear:1,apple:2,fig:5")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse(argv or [])
    items = [Item(n, int(q)) for n, q in (pair.split(":") for pair in args.items.split(","))]
    totals = collections.Counter()
    for item in items:
        totals[item.name] += item.qty
    report = {"total": sum(totals.values()), "by_name": dict(sorted(totals.items()))}
    log.info("counted %d items", len(items))
    print(json.dumps(report, sort_keys=True))
    return report


main()
