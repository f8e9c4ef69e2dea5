"""A small library under test (bench/programs/test_inventory.py)."""


class OutOfStock(Exception):
    pass


class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, sku, qty):
        if qty <= 0:
            raise ValueError("qty must be positive")
        self.items[sku] = self.items.get(sku, 0) + qty

    def take(self, sku, qty):
        have = self.items.get(sku, 0)
        if have < qty:
            raise OutOfStock(sku)
        self.items[sku] = have - qty
        return self.items[sku]

    def total(self):
        return sum(self.items.values())
