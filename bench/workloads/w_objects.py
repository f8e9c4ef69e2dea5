"""Benchmark workload: objects, methods and dicts.

A small warehouse simulation: orders built from a deterministic stream of
numbers are priced by Product objects, reserved from Stock kept in dicts,
and booked into per-customer Ledger objects. Many short method calls,
attribute reads and writes, and dicts that grow and change.

ANCHOR_SCALE (float, default 1.0) multiplies the number of orders. Prints
``ANCHOR_RESULT <seconds of main()> <check>`` to stderr; the check is the
same on every run.
"""
import os
import sys
import time


class Numbers:
    """A linear congruential generator: the same stream on every run."""

    def __init__(self, seed):
        self.state = seed

    def next(self, bound):
        self.state = (self.state * 1103515245 + 12345) % 2147483648
        return self.state % bound


class Product:
    def __init__(self, sku, cents, weight):
        self.sku = sku
        self.cents = cents
        self.weight = weight

    def price(self, quantity):
        total = self.cents * quantity
        if quantity >= 10:
            total -= total // 20  # a bulk discount
        return total


class Stock:
    def __init__(self, products):
        self.on_hand = {p.sku: 50 for p in products}
        self.reserved = {}

    def reserve(self, sku, quantity):
        if self.on_hand[sku] < quantity:
            self.on_hand[sku] += 100  # restock, then take
        self.on_hand[sku] -= quantity
        self.reserved[sku] = self.reserved.get(sku, 0) + quantity
        return quantity


class Ledger:
    def __init__(self, customer):
        self.customer = customer
        self.lines = []
        self.totals = {"cents": 0, "weight": 0, "orders": 0}

    def book(self, product, quantity, cents):
        self.lines.append((product.sku, quantity, cents))
        self.totals["cents"] += cents
        self.totals["weight"] += product.weight * quantity
        self.totals["orders"] += 1
        if len(self.lines) > 16:
            self.lines = self.lines[-8:]


def build_catalogue(numbers, size):
    return [Product("sku-%03d" % i, 100 + numbers.next(900), 1 + numbers.next(20)) for i in range(size)]


def main(scale):
    numbers = Numbers(20240531)
    catalogue = build_catalogue(numbers, 40)
    stock = Stock(catalogue)
    ledgers = {}
    orders = max(1, round(50000 * scale))
    for _ in range(orders):
        customer = "c%02d" % numbers.next(30)
        product = catalogue[numbers.next(len(catalogue))]
        quantity = stock.reserve(product.sku, 1 + numbers.next(12))
        ledger = ledgers.get(customer)
        if ledger is None:
            ledger = ledgers[customer] = Ledger(customer)
        ledger.book(product, quantity, product.price(quantity))
    cents = sum(l.totals["cents"] for l in ledgers.values())
    weight = sum(l.totals["weight"] for l in ledgers.values())
    return "%d:%d:%d" % (cents, weight, sum(stock.reserved.values()))


if __name__ == "__main__":
    scale = float(os.environ.get("ANCHOR_SCALE", "1"))
    started = time.perf_counter()
    check = main(scale)
    elapsed = time.perf_counter() - started
    sys.stderr.write("ANCHOR_RESULT %.6f %s\n" % (elapsed, check))
