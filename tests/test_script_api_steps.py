"""The script API's side of "between steps", in-process: `propose.staged` as the host
numbers it, the review account's implicit open (once, dated at its earliest use, given way
to the script's own open), and the "did you mean" for its objects."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from beancount import loader

from beanagent.core.proposals import ProposalError
from beanagent.ledger.view import LedgerView
from beanagent.sandbox.script_api import Propose, make_globals
from beanagent.sandbox.server import attribute_hint
from beanagent.statements.model import Ref, Statement, StatementLine

LEDGER = """\
2024-01-01 open Assets:Bank USD
2024-01-01 open Expenses:Food
"""
FIXME = "Expenses:FIXME"


def view() -> LedgerView:
    entries, errors, options = loader.load_string(LEDGER)
    assert not errors
    return LedgerView(entries, options)


def statement() -> Statement:
    lines = tuple(StatementLine(Ref("b.csv", n + 2), datetime.date(2024, 3, d),
                                Decimal(f"-{d}.00"), f"SHOP {d}")
                  for n, d in enumerate((5, 9, 12)))
    return Statement("b.csv", "csv", "Assets:Bank", "USD", lines)


def fresh(staged: list[Any] | None = None) -> tuple[Propose, Statement]:
    st = statement()
    env = make_globals(view(), [st], {"review_account": FIXME}, staged or [])
    propose = env["propose"]
    assert isinstance(propose, Propose)
    return propose, st


def book(propose: Propose, st: Statement, i: int, account: str = FIXME,
         day: datetime.date | None = None) -> dict[str, Any]:
    line = st.lines[i]
    return propose.transaction(day or line.date, None, line.description,
                               [(st.account, line.amount, "USD"), (account,)], evidence=[line])


def test_the_review_account_opens_once_at_the_statements_first_line() -> None:
    propose, st = fresh()
    book(propose, st, 1)
    book(propose, st, 2)
    kinds = [(p["kind"], p.get("account"), p["date"]) for p in propose.to_json()]
    assert kinds == [("open", FIXME, "2024-03-05"), ("transaction", None, "2024-03-09"),
                     ("transaction", None, "2024-03-12")]
    # an earlier use than the first line moves the open earlier
    book(propose, st, 0, day=datetime.date(2024, 2, 1))
    assert propose.to_json()[0]["date"] == "2024-02-01"
    assert len(propose) == 4


def test_the_scripts_own_open_takes_the_implicit_ones_place() -> None:
    propose, st = fresh()
    book(propose, st, 1)
    propose.open(FIXME, "2024-03-01", reason="mine")
    [opening] = [p for p in propose.to_json() if p["kind"] == "open"]
    assert (opening["date"], opening["reason"]) == ("2024-03-01", "mine")
    assert propose.to_json()[0] is opening  # still before the transaction using it
    with pytest.raises(ProposalError, match="already open"):
        propose.open(FIXME, "2024-03-01")


def test_a_refused_transaction_takes_its_implicit_open_with_it() -> None:
    propose, st = fresh()
    with pytest.raises(ProposalError):
        propose.transaction("2024-03-09", None, "x", [("Assets:Bank", "-1.00 USD"),
                                                       (FIXME, "2.00 USD")])
    assert propose.to_json() == []
    book(propose, st, 0)  # and the next use opens it again
    assert [p["kind"] for p in propose.to_json()] == ["open", "transaction"]


def test_staged_proposals_are_numbered_and_open_what_they_open() -> None:
    first, st = fresh()
    book(first, st, 0)
    book(first, st, 1, "Expenses:Food")
    first.balance("Assets:Bank", "2024-03-13", "-1.00 USD")
    staged = [*first.to_json(), {"kind": "plugin", "name": "evil"}, ["not", "a", "dict"]]
    second, st = fresh(staged)
    assert len(second) == 0
    got = [(p.id, p.kind, p.account, [r.line for r in p.evidence]) for p in second.staged]
    assert got == [("P1", "open", FIXME, []), ("P2", "transaction", "Assets:Bank", [2]),
                   ("P3", "transaction", "Assets:Bank", [3]),
                   ("P4", "balance", "Assets:Bank", [])]
    assert second.staged[1].text.startswith("2024-03-05 * \"SHOP 5\"")
    # booking to it again needs no open; opening it again (a rerun) adds nothing
    book(second, st, 2)
    second.open(FIXME, "2024-03-05")
    assert [p["kind"] for p in second.to_json()] == ["transaction"]


def test_did_you_mean_names_fields_and_methods() -> None:
    propose, st = fresh()
    env = make_globals(view(), [st], {"review_account": FIXME})
    guess = env["engine"].suggest(st, st.lines[0])
    hints = []
    for obj, name in ((guess, "counter_account"), (env["engine"], "sugest"),
                      (st.lines[0], "amt"), (propose, "transactions")):
        try:
            getattr(obj, name)
        except AttributeError as exc:
            hints.append(attribute_hint(exc))
    assert hints[0] is not None and hints[0].startswith(
        "Suggestion has no attribute 'counter_account' (did you mean 'account'?; fields: "
        "account, payee, confidence, reason, ")
    assert hints[1] is not None and "(did you mean 'suggest'?" in hints[1]
    assert "methods: " in hints[1] and "review_account" in hints[1]
    assert hints[2] is not None and "StatementLine has no attribute 'amt'" in hints[2]
    assert "amount" in hints[2]
    assert hints[3] is not None and "did you mean 'transaction'?" in hints[3]
    try:
        "text".nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert attribute_hint(exc) is None  # not the script API's: Python's own message


def test_evidence_named_as_the_data_block_names_it() -> None:
    """`{"statement": 0, "line": 1}` is statements[0].lines[1], resolved in the script's own
    process (so `propose.staged` of a later step shows it); an index past the end is
    refused there, naming the range."""
    propose, st = fresh()
    line = st.lines[1]
    propose.transaction(line.date, None, line.description,
                        [(st.account, line.amount, "USD"), ("Expenses:Food",)],
                        evidence=[{"statement": 0, "line": 1}])
    [txn] = [p for p in propose.to_json() if p["kind"] == "transaction"]
    assert txn["evidence"] == [line.ref.to_json()]
    with pytest.raises(ProposalError, match=r"statements\[0\] has 3 lines \(0 to 2\)"):
        propose.transaction(line.date, None, line.description,
                            [(st.account, line.amount, "USD"), ("Expenses:Food",)],
                            evidence=[{"statement": 0, "line": 3}])
