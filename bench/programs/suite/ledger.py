"""The library under test of the benchmark's test suite (bench/programs/suite,
bench/ctbench/testsuite.py): a small double-entry ledger. Deterministic:
every figure comes from a seed through a linear congruential generator."""


class Overdrawn(Exception):
    pass


def lcg(seed):
    """An endless stream of pseudo-random ints in [0, 2**31) from `seed`."""
    state = seed * 2654435761 % 2**31 or 1
    while True:
        state = (1103515245 * state + 12345) % 2**31
        yield state


class Ledger:
    def __init__(self, accounts, opening=1000):
        self.balances = {f"acct-{n}": opening for n in range(accounts)}
        self.journal = []

    def post(self, debit, credit, amount):
        if amount <= 0:
            raise ValueError("amount must be positive")
        if self.balances[debit] < amount:
            raise Overdrawn(debit)
        self.balances[debit] -= amount
        self.balances[credit] += amount
        self.journal.append((debit, credit, amount))

    def total(self):
        return sum(self.balances.values())


def simulate(seed, transfers, accounts=8):
    """Posts `transfers` pseudo-random transfers; returns the ledger and how
    many were refused for want of funds."""
    ledger = Ledger(accounts)
    names = sorted(ledger.balances)
    rng = lcg(seed)
    refused = 0
    for _ in range(transfers):
        debit = names[next(rng) % accounts]
        credit = names[next(rng) % accounts]
        amount = next(rng) % 400 + 1
        try:
            ledger.post(debit, credit, amount)
        except Overdrawn:
            refused += 1
    return ledger, refused


def interest(balance, rate_bp, months):
    """`balance` after `months` of monthly interest at `rate_bp` basis points
    a year, rounded to whole units each month (banker's rounding)."""
    for _ in range(months):
        balance = round(balance * (1 + rate_bp / 120000))
    return balance


def checksum(journal):
    """A running checksum of the journal's entries."""
    acc = 0
    for debit, credit, amount in journal:
        acc = (acc * 31 + len(debit) * 7 + len(credit) * 3 + amount) % 1000003
    return acc
