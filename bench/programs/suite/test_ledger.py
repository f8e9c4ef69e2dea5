"""The benchmark's test suite (bench/ctbench/testsuite.py): 1,200 tests of
ledger.py, each ~1,000 recorded steps of real work with a few locals, some
far bigger, and a few that fail on purpose (a wrong expectation, as a real
suite has). Deterministic. Run it as `python -m pytest -q -p no:cacheprovider`
in this folder."""
import pytest

from ledger import Ledger, Overdrawn, checksum, interest, simulate

#: Seeds whose test expects one transfer too many: they fail, on purpose.
FAILING_SEEDS = {97, 401, 733}


@pytest.mark.parametrize("seed", range(1000))
def test_money_is_conserved(seed):
    ledger, refused = simulate(seed, 40)
    assert ledger.total() == 8 * 1000
    posted = len(ledger.journal) + (1 if seed in FAILING_SEEDS else 0)
    assert posted + refused == 40


@pytest.mark.parametrize("seed", range(152))
def test_journal_checksum_is_stable(seed):
    ledger, _ = simulate(seed, 50)
    first = checksum(ledger.journal)
    again, _ = simulate(seed, 50)
    assert checksum(again.journal) == first


@pytest.mark.parametrize("months", range(1, 41))
def test_interest_compounds(months):
    balance = interest(10000, 500, months * 12)
    assert balance >= 10000
    if months == 40:
        assert balance < 60000, "forty years at 5% stays under 6x"  # it does not: fails on purpose


@pytest.mark.parametrize("transfers", [100, 200, 400])
def test_long_runs_stay_balanced(transfers):
    ledger, refused = simulate(7, transfers, accounts=16)
    assert ledger.total() == 16 * 1000
    assert refused < transfers


@pytest.mark.parametrize("amount", [0, -5])
def test_bad_amount_is_refused(amount):
    ledger = Ledger(2)
    with pytest.raises(ValueError, match="positive"):
        ledger.post("acct-0", "acct-1", amount)


def test_overdraft_is_refused():
    ledger = Ledger(2, opening=10)
    with pytest.raises(Overdrawn):
        ledger.post("acct-0", "acct-1", 11)
    assert ledger.balances == {"acct-0": 10, "acct-1": 10}


def test_checksum_of_nothing():
    assert checksum([]) == 0


def test_a_ledger_opens_balanced():
    for accounts in range(1, 60):
        assert Ledger(accounts).total() == accounts * 1000
