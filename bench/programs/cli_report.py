"""A stdlib-heavy command-line report, the shape of script users record:
argparse, csv, json, logging, dataclasses, collections, re, datetime and
textwrap do the work on generated sales records; the script's own code is a
few dozen lines."""
import argparse
import collections
import csv
import dataclasses
import datetime
import io
import json
import logging
import re
import textwrap

log = logging.getLogger("report")


@dataclasses.dataclass(frozen=True)
class Sale:
    day: datetime.date
    region: str
    sku: str
    amount: float


def generate(n):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["day", "region", "sku", "amount"])
    start = datetime.date(2026, 1, 1)
    for i in range(n):
        day = start + datetime.timedelta(days=i % 90)
        w.writerow([day.isoformat(), ["north", "south", "east", "west"][i % 4], f"SKU-{i % 37:03d}", f"{(i * 7919) % 1000 / 10:.2f}"])
    return out.getvalue()


def parse(text):
    sku = re.compile(r"SKU-(\d{3})")
    for row in csv.DictReader(io.StringIO(text)):
        if not sku.fullmatch(row["sku"]):
            continue
        yield Sale(datetime.date.fromisoformat(row["day"]), row["region"], row["sku"], float(row["amount"]))


def summarize(sales):
    by_region = collections.defaultdict(float)
    by_month = collections.Counter()
    for s in sales:
        by_region[s.region] += s.amount
        by_month[s.day.strftime("%Y-%m")] += 1
    return {"regions": {k: round(v, 2) for k, v in sorted(by_region.items())}, "months": dict(sorted(by_month.items()))}


def main(argv=None):
    p = argparse.ArgumentParser(description="sales report")
    p.add_argument("--rows", type=int, default=400)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sales = list(parse(generate(args.rows)))
    report = summarize(sales)
    log.info("%d sales in %d regions", len(sales), len(report["regions"]))
    print(textwrap.fill(json.dumps(report, sort_keys=True), width=100))


if __name__ == "__main__":
    main()
