"""With no statements, what the ledger alone shows (core/findings.py): planted problems
found at their lines with their fixes, and clean ledgers left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from beanagent.core.findings import find_problems
from beanagent.ledger.load import load_ledger
from beanagent.ledger.view import LedgerView
from beanagent.model import Finding

REPO = Path(__file__).resolve().parents[1]

HEAD = """option "operating_currency" "USD"

2025-01-01 open Assets:Bank:Checking USD
2025-01-01 open Assets:Bank:Savings USD
2025-01-01 open Assets:Old:Wallet USD
2025-01-01 open Liabilities:Card:Visa USD
2025-01-01 open Equity:Opening
2025-01-01 open Expenses:Phone
2025-01-01 open Expenses:Food
2025-01-01 open Expenses:FIXME
2025-01-01 open Income:Salary
"""

# Every problem planted once; the line numbers below are the entries' own.
PLANTED = HEAD + """
2025-01-02 * "Opening balances"
  Assets:Bank:Checking  2000.00 USD
  Assets:Old:Wallet       50.00 USD
  Equity:Opening

2025-01-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary

2025-01-12 * "Verizon" "Phone bill"
  Assets:Bank:Checking  -88.63 USD
  Expenses:Phone

2025-02-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary

2025-02-10 ! "Corner Deli" "Lunch"
  Assets:Bank:Checking  -12.00 USD
  Expenses:Food

2025-02-12 * "Verizon" "Phone bill"
  Assets:Bank:Checking  -88.63 USD
  Expenses:Phone

2025-03-01 balance Assets:Bank:Checking  7810.74 USD

2025-03-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary

2025-03-10 * "Blue Bottle" "Coffee"
  Liabilities:Card:Visa  -6.75 USD
  Expenses:Food

2025-03-11 * "Blue Bottle" "Coffee"
  Liabilities:Card:Visa  -6.75 USD
  Expenses:Food

2025-03-12 * "Verizon" "Phone bill"
  Assets:Bank:Checking  -88.36 USD
  Expenses:Phone

2025-04-01 balance Assets:Bank:Checking  10722.11 USD

2025-04-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary

2025-04-12 * "Verizon" "Phone bill"
  Assets:Bank:Checking  -88.63 USD
  Expenses:Phone

2025-04-15 * "Online transfer to savings"
  Assets:Bank:Checking  -1000.00 USD
  Expenses:FIXME

2025-04-16 * "Deposit"
  Assets:Bank:Savings  1000.00 USD
  Expenses:FIXME

2025-04-20 * "Online payment to Visa"
  Assets:Bank:Checking   -500.00 USD
  Liabilities:Card:Visa   500.00 USD

2025-04-22 * "Payment - thank you"
  Liabilities:Card:Visa   500.00 USD
  Assets:Bank:Checking   -500.00 USD

2025-05-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary

2025-05-12 * "Verizon" "Phone bill"
  Assets:Bank:Checking  -88.63 USD
  Expenses:Phone
"""


def findings(tmp_path: Path, text: str) -> list[Finding]:
    path = tmp_path / "books.beancount"
    path.write_text(text, encoding="utf-8")
    ledger = load_ledger(path)
    return find_problems(LedgerView(ledger.entries, ledger.options), ledger.errors)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i for i, ln in enumerate(text.splitlines(), 1) if needle in ln]
    return lines[nth - 1]


def test_each_planted_problem_is_found_at_its_line_with_its_fix(tmp_path: Path) -> None:
    found = findings(tmp_path, PLANTED)
    at = {(f.kind, f.line): f for f in found}
    typo = line_of(PLANTED, "-88.36 USD") - 1  # the entry's header line
    assert sorted(at) == sorted([
        ("balance", line_of(PLANTED, "2025-04-01 balance")),
        ("transfer-twice", line_of(PLANTED, "Payment - thank you")),
        ("transfer-one-side", line_of(PLANTED, "Online transfer to savings")),
        ("duplicate", line_of(PLANTED, '"Blue Bottle"', 2)),
        ("stale-flag", line_of(PLANTED, "Corner Deli")),
        ("dormant", line_of(PLANTED, "Opening balances")),
    ])
    assert all(f.file == str(tmp_path / "books.beancount") for f in found)
    broken = at[("balance", line_of(PLANTED, "2025-04-01 balance"))]
    assert "0.27 USD too much" in broken.message and "two digits swapped" in broken.message
    assert broken.related == ((str(tmp_path / "books.beancount"), typo),)
    assert broken.fix == f"line {typo}: change -88.36 to -88.63 USD"
    twice = at[("transfer-twice", line_of(PLANTED, "Payment - thank you"))]
    assert twice.related[0][1] == line_of(PLANTED, "Online payment to Visa")
    assert twice.fix.startswith("delete one of the two")
    one = at[("transfer-one-side", line_of(PLANTED, "Online transfer to savings"))]
    deposit = line_of(PLANTED, '"Deposit"')
    assert one.related[0][1] == deposit
    assert one.fix == ("book it once: change this entry's Expenses:FIXME leg to "
                       f"Assets:Bank:Savings and delete line {deposit}")
    dup = at[("duplicate", line_of(PLANTED, '"Blue Bottle"', 2))]
    assert dup.related[0][1] == line_of(PLANTED, '"Blue Bottle"', 1) and "1 day earlier" in \
        dup.message
    stale = at[("stale-flag", line_of(PLANTED, "Corner Deli"))]
    assert "2025-03-01" in stale.message and stale.fix == "clear the flag: change `!` to `*`"
    quiet = at[("dormant", line_of(PLANTED, "Opening balances"))]
    assert quiet.message.startswith("Assets:Old:Wallet has no entry since 2025-01-02")
    assert "50.00 USD" in quiet.fix


BALANCE = HEAD + """
2025-01-02 * "Opening balances"
  Assets:Bank:Checking  1000.00 USD
  Equity:Opening

2025-01-10 * "Landlord" "Rent"
  Assets:Bank:Checking  {rent} USD
  Expenses:Food

2025-01-12 * "Corner Deli" "Lunch"
  Assets:Bank:Checking  -12.00 USD
  Expenses:Food
{extra}
2025-02-01 balance Assets:Bank:Checking  588.00 USD

2025-02-05 * "Acme Corp" "Salary"
  Assets:Bank:Checking  100.00 USD
  Income:Salary

2025-03-01 balance Assets:Bank:Checking  688.00 USD
"""


def test_a_rent_booked_with_the_wrong_sign_is_named(tmp_path: Path) -> None:
    text = BALANCE.format(rent="400.00", extra="")
    found = [f for f in findings(tmp_path, text) if f.kind == "balance"]
    first, later = found
    assert first.line == line_of(text, "2025-02-01 balance")
    assert "wrong sign" in first.message and first.fix.endswith("change 400.00 to -400.00 USD")
    # the next assertion fails by the same amount: it points back instead of guessing again
    assert later.line == line_of(text, "2025-03-01 balance")
    assert "the same difference as the assertion at line" in later.message
    assert later.related == ((first.file, first.line),)


def test_a_duplicate_of_exactly_the_difference_is_the_culprit(tmp_path: Path) -> None:
    text = BALANCE.format(rent="-400.00", extra="""
2025-01-13 * "Corner Deli" "Lunch"
  Assets:Bank:Checking  -12.00 USD
  Expenses:Food
""")
    found = findings(tmp_path, text)
    assert [f.kind for f in found] == ["balance", "balance"]  # the duplicate is said once
    first, second = line_of(text, "Corner Deli", 1), line_of(text, "Corner Deli", 2)
    assert f"likely: line {first} (2025-01-12 Corner Deli Lunch -12.00 USD booked twice " \
        f"(again at line {second}))" in found[0].message
    assert [ln for _, ln in found[0].related] == [first, second]
    assert found[0].fix.endswith("delete one of the two entries")


def test_a_difference_no_entry_explains_asks_for_the_missing_entry(tmp_path: Path) -> None:
    text = BALANCE.format(rent="-357.00", extra="")
    found = [f for f in findings(tmp_path, text) if f.kind == "balance"]
    assert "43.00 USD too much" in found[0].message and "no entry before it" in found[0].message
    assert found[0].fix.startswith("book the missing -43.00 USD on Assets:Bank:Checking")
    assert found[0].related == ()


TRANSFER = HEAD + """
2025-01-02 * "Opening balances"
  Assets:Bank:Checking  2000.00 USD
  Equity:Opening

2025-01-20 * "Online payment to Visa"
  Assets:Bank:Checking   -500.00 USD
  Liabilities:Card:Visa   500.00 USD

2025-01-21 * "{payee}"
  Liabilities:Card:Visa   500.00 USD
  {counter}
"""


@pytest.mark.parametrize(("payee", "counter"), [("Payment thank you", "Income:Salary"),
                                                ("CARD 8134", "Expenses:FIXME")])
def test_a_transfer_booked_again_on_one_side_is_found(tmp_path: Path, payee: str,
                                                      counter: str) -> None:
    text = TRANSFER.format(payee=payee, counter=counter)
    found = findings(tmp_path, text)
    assert [(f.kind, f.line) for f in found] == [("transfer-twice", line_of(text, payee))]
    assert found[0].related[0][1] == line_of(text, "Online payment to Visa")
    assert f"{counter} carries it a second time" in found[0].message
    assert found[0].fix.startswith("delete this entry")


def test_a_one_sided_entry_that_does_not_look_like_a_transfer_is_left_alone(
        tmp_path: Path) -> None:
    text = TRANSFER.format(payee="Refund from Acme", counter="Income:Salary")
    assert findings(tmp_path, text) == []


DUPLICATES = HEAD + """
2025-01-02 * "Opening balances"
  Assets:Bank:Checking  2000.00 USD
  Equity:Opening

2025-01-10 * "Blue Bottle" "Coffee"
  bank_ref: "{first}"
  Assets:Bank:Checking  -6.75 USD
  Expenses:Food

2025-01-12 * "Blue Bottle" "Coffee"
  bank_ref: "{second}"
  Assets:Bank:Checking  -6.75 USD
  Expenses:Food

2025-01-30 * "Blue Bottle" "Coffee"
  Assets:Bank:Checking  -6.75 USD
  Expenses:Food
"""


def test_bank_ids_tell_two_rows_apart_or_prove_one(tmp_path: Path) -> None:
    # two rows of the bank's (different ids) are two coffees; the third is weeks later
    assert findings(tmp_path, DUPLICATES.format(first="A1", second="A2")) == []
    text = DUPLICATES.format(first="A1", second="A1")
    found = findings(tmp_path, text)
    assert [(f.kind, f.line) for f in found] == [("duplicate", line_of(text, "01-12"))]
    assert "same bank id" in found[0].message and "2 days earlier" in found[0].message


STALE = HEAD + """
2025-01-02 * "Opening balances"
  Assets:Bank:Checking  2000.00 USD
  Equity:Opening

2025-01-10 ! "Corner Deli" "Lunch"
  Assets:Bank:Checking  -12.00 USD
  {counter}

2025-02-01 balance Assets:Bank:{account}  {amount} USD
"""


def test_a_flag_before_a_holding_assertion_is_stale_and_only_then(tmp_path: Path) -> None:
    text = STALE.format(counter="Expenses:FIXME", account="Checking", amount="1988.00")
    found = findings(tmp_path, text)
    assert [(f.kind, f.line) for f in found] == [("stale-flag", line_of(text, "Corner Deli"))]
    assert found[0].fix == "book it to the right account instead of Expenses:FIXME, then " \
        "change `!` to `*`"
    # imported (a bank id): the amount is the bank's, the doubt was about its account
    text = STALE.format(counter="Expenses:Food", account="Checking", amount="1988.00")
    text = text.replace('"Lunch"\n', '"Lunch"\n  bank_ref: "X1"\n')
    assert [f.fix for f in findings(tmp_path, text)] == [
        "check its account (Expenses:Food), then change `!` to `*`"]
    # a failing assertion proves nothing about the flagged entry (it may be the culprit)
    text = STALE.format(counter="Expenses:Food", account="Checking", amount="2000.00")
    assert [f.kind for f in findings(tmp_path, text)] == ["balance"]
    # an assertion of another account says nothing about it either
    text = STALE.format(counter="Expenses:Food", account="Savings", amount="0.00")
    assert findings(tmp_path, text) == []


DORMANT = HEAD + """
2025-01-01 open Assets:Broker:ACME ACME
2025-01-01 open Assets:Old:Closed USD
2025-01-01 open Assets:Old:Empty USD

2025-01-02 * "Opening balances"
  Assets:Bank:Checking  2000.00 USD
  Assets:Old:Wallet        5.00 USD
  Assets:Old:Closed       10.00 USD
  Assets:Old:Empty        20.00 USD
  Equity:Opening

2025-01-03 * "Buy"
  Assets:Broker:ACME      10 ACME {{10.00 USD}}
  Assets:Bank:Checking  -100.00 USD

2025-01-04 * "Out"
  Assets:Old:Closed  -10.00 USD
  Assets:Bank:Checking

2025-01-04 * "Emptied"
  Assets:Old:Empty  -20.00 USD
  Assets:Bank:Checking

2025-01-05 close Assets:Old:Closed
{assertion}
2025-06-01 * "Acme Corp" "Salary"
  Assets:Bank:Checking  3000.00 USD
  Income:Salary
"""


def test_a_cash_account_gone_quiet_is_found_and_what_else_is_not(tmp_path: Path) -> None:
    text = DORMANT.format(assertion="")
    found = findings(tmp_path, text)
    # shares sit still, a closed account is closed: the wallet and the emptied account
    assert [(f.kind, f.line) for f in found] == [("dormant", line_of(text, "Opening balances")),
                                                 ("dormant", line_of(text, "Emptied"))]
    wallet, empty = found
    assert wallet.message.startswith("Assets:Old:Wallet has no entry since 2025-01-02 (3 "
                                     "months or more before the ledger's last entry on "
                                     "2025-06-01)")
    assert wallet.fix == ("book its statements since 2025-01-02 (its balance is 5.00 USD), "
                          "or move the balance out and close it")
    assert empty.fix == "add `2025-01-05 close Assets:Old:Empty` if it is closed"
    # a balance assertion is a statement that arrived: the account is reconciled, not quiet
    text = DORMANT.format(assertion="\n2025-05-01 balance Assets:Old:Wallet  5.00 USD\n")
    assert [f.message.split()[0] for f in findings(tmp_path, text)] == ["Assets:Old:Empty"]


def test_the_bundled_sample_shows_only_its_planted_duplicate() -> None:
    ledger = load_ledger(REPO / "ledgers" / "sample.beancount")
    found = find_problems(LedgerView(ledger.entries, ledger.options), ledger.errors)
    # the Starbucks entry typed in by hand twice, which the README's example reports too
    assert [(f.kind, f.line) for f in found] == [("duplicate", 1499)]
    assert "Starbucks" in found[0].message and found[0].related[0][1] == 1491


def test_beancounts_example_ledger_shows_only_an_idle_clearing_account(
        realworld: Path) -> None:
    """bean-example's generated ledger (three years of a household's books): no balance
    fails, nothing is booked twice; its Liabilities:AccountsPayable (a clearing account
    at zero) had its last entry six months before the ledger's end: honest, and said."""
    ledger = load_ledger(realworld / "fava" / "contrib" / "examples" / "example.beancount")
    found = find_problems(LedgerView(ledger.entries, ledger.options), ledger.errors)
    assert [(f.kind, f.message.split()[0]) for f in found] == [
        ("dormant", "Liabilities:AccountsPayable")]
    assert found[0].fix.startswith("add `2017-03-22 close Liabilities:AccountsPayable`")
