"""The pytest run of the benchmark: a test file of our own."""
import pytest

from inventory import Inventory, OutOfStock


@pytest.fixture
def inv():
    i = Inventory()
    for n in range(20):
        i.add(f"sku-{n}", n + 1)
    return i


def test_total(inv):
    assert inv.total() == sum(range(1, 21))


@pytest.mark.parametrize("n", range(30))
def test_take(inv, n):
    sku = f"sku-{n % 20}"
    left = inv.take(sku, 1)
    assert left == n % 20


def test_out_of_stock(inv):
    with pytest.raises(OutOfStock):
        inv.take("sku-0", 5)


def test_bad_qty():
    with pytest.raises(ValueError, match="positive"):
        Inventory().add("x", 0)
