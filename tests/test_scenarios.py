"""The scenario generator and its grader (benchmarks/scenarios.py), run end to end through
the CLI, and the engine behaviours the scenarios plant: amount typos, bank-id conflicts."""

from __future__ import annotations

import copy
import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader

from beanagent.core.match import match_statement
from beanagent.ledger.view import LedgerView
from beanagent.statements.model import Ref, Statement, StatementLine
from benchmarks.scenarios import CARD_FORMATS, CHECKING_FORMATS, build, score
from tests.helpers import bean_check, report, run_cli_in_process, tree_hashes


def reconcile_scenario(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    truth = json.loads((out / "truth.json").read_text())
    files = [st["file"] for st in truth["statements"]]
    proc = run_cli_in_process("reconcile", "ledger.beancount", *files, "--dry-run", "--json",
                              cwd=out)
    assert proc.returncode == 0, proc.stderr
    return truth, report(proc)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    out = tmp_path_factory.mktemp("scenario") / "sample"
    build("sample", 11, out, "ofx", "chase-csv")
    return reconcile_scenario(out)


@pytest.mark.parametrize("checking, card",
                         list(zip(CHECKING_FORMATS, CARD_FORMATS, strict=True)))
def test_every_format_meets_the_targets(tmp_path: Path, checking: str, card: str) -> None:
    out = tmp_path / "s"
    truth = build("sample", 3, out, checking, card)
    assert bean_check(out / "ledger.beancount") == []
    kinds = {ev["kind"] for ev in truth["events"].values()}
    assert kinds >= {"missing", "novel", "transfer", "duplicated", "typo", "split", "grouped",
                     "identical", "identical-twin", "booked"}
    before = tree_hashes(out)
    truth, rep = reconcile_scenario(out)
    assert tree_hashes(out) == before
    s = score(truth, rep)
    assert s.recall >= 0.97 and s.precision >= 0.99, (s.missed, s.false)
    assert s.counter_accuracy >= 0.90, s.wrong_counter
    assert s.duplicates_flagged == s.duplicates == 1
    assert s.typos_kept_out == s.typos == 1
    assert s.novel_flagged == s.novel == 2
    if checking in ("counterparty-csv", "currency-csv"):  # no running balance, no closing
        assert rep["balance"] is None
        return
    # The balance is off by exactly the planted typo, and the typo is named as the culprit.
    assert s.balance_reported == s.balance_expected == "-0.01"
    assert [c["kind"] for c in rep["balance"]["culprits"]] == ["amount"]


def test_generation_is_reproducible(tmp_path: Path) -> None:
    build("sample", 5, tmp_path / "a", "bofa-csv", "ofx")
    build("sample", 5, tmp_path / "b", "bofa-csv", "ofx")
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")


def test_the_transfer_on_both_statements_is_proposed_once(
        graded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    truth, rep = graded
    transfer = next(e for e in truth["events"].values() if e["kind"] == "transfer")
    keys = {row["key"] for st in truth["statements"] for row in st["rows"]
            if row["event"] == transfer["id"]}
    assert len(keys) == 2  # a line on each statement
    cited = [p for p in rep["proposals"]
             if any((r["id"] or f"{Path(r['file']).name}:{r['line']}") in keys
                    for r in p["evidence"])]
    assert len(cited) == 1
    assert "Liabilities:US:Chase:Sapphire" in cited[0]["text"]
    assert "Assets:US:BofA:Checking" in cited[0]["text"]


# The grader must be able to fail: each kind of mistake moves its own figure.

def first_right(truth: dict[str, Any], rep: dict[str, Any]) -> int:
    """The index of the first proposal that books a truly missing line."""
    events = {row["key"]: truth["events"][row["event"]]
              for st in truth["statements"] for row in st["rows"]}
    return next(i for i, p in enumerate(rep["proposals"]) if p["kind"] == "transaction"
                and events[p["evidence"][0]["id"] or
                          f"{Path(p['evidence'][0]['file']).name}:{p['evidence'][0]['line']}"]
                ["propose"])


def test_grader_counts_a_missed_proposal(graded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    truth, rep = graded
    base = score(truth, rep)
    worse = copy.deepcopy(rep)
    del worse["proposals"][first_right(truth, rep)]
    s = score(truth, worse)
    assert s.true_positive == base.true_positive - 1
    assert len(s.missed) == len(base.missed) + 1


def test_grader_counts_a_proposal_made_twice(
        graded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    truth, rep = graded
    worse = copy.deepcopy(rep)
    worse["proposals"].append(worse["proposals"][first_right(truth, rep)])
    s = score(truth, worse)
    assert s.precision < score(truth, rep).precision
    assert len(s.false) == len(score(truth, rep).false) + 1


def test_grader_counts_a_wrong_counter_account(
        graded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    truth, rep = graded
    worse = copy.deepcopy(rep)
    for p in worse["proposals"]:
        if p["kind"] == "transaction" and "Expenses:Food:Groceries" in p["text"]:
            p["text"] = p["text"].replace("Expenses:Food:Groceries", "Expenses:Shopping")
            break
    else:
        pytest.fail("no groceries proposal in the scenario")
    s = score(truth, worse)
    assert s.counter_right == score(truth, rep).counter_right - 1


def test_grader_counts_an_unflagged_duplicate(
        graded: tuple[dict[str, Any], dict[str, Any]]) -> None:
    truth, rep = graded
    worse = copy.deepcopy(rep)
    for u in worse["unmatched_ledger"]:
        u["reason"] = "in the ledger but not on the statement"
    assert score(truth, rep).duplicates_flagged == 1
    assert score(truth, worse).duplicates_flagged == 0


def test_a_narrow_window_is_caught(tmp_path: Path) -> None:
    """With no date tolerance the pending → posted shifts become false proposals: the
    benchmark sees the difference."""
    out = tmp_path / "s"
    build("sample", 2, out, "bofa-csv", "chase-csv")
    with (out / "beanagent.toml").open("r+") as f:
        text = f.read()
        f.seek(0)
        f.write("window_days = 0\n" + text)
    s = score(*reconcile_scenario(out))
    assert s.precision < 0.9 and s.false


# Engine behaviours the scenarios rely on.

LEDGER = """
2024-01-01 open Assets:Bank USD
2024-01-01 open Assets:Other USD
2024-01-01 open Expenses:Food
2024-03-02 * "Corner Deli" "Lunch"
  Assets:Bank   -12.34 USD
  Expenses:Food
2024-03-05 * "Coffee Shop" ""
  bank_ref: "FIT-1"
  Assets:Bank   -4.50 USD
  Expenses:Food
2024-03-06 * "Move" ""
  bank_ref: "OTHERBANK-9"
  Assets:Bank   -100.00 USD
  Assets:Other
"""


def match(*lines: tuple[str, str, str, str | None]) -> Any:
    entries, errors, options = loader.load_string(LEDGER)
    assert not errors
    st = Statement("s.ofx", "ofx", "Assets:Bank", "USD", tuple(
        StatementLine(Ref("s.ofx", n, bank_id), datetime.date.fromisoformat(day), Decimal(amt),
                      desc)
        for n, (day, amt, desc, bank_id) in enumerate(lines, 1)))
    return match_statement(LedgerView(entries, options), st)


@pytest.mark.parametrize("amount", ["-12.35", "-12.43", "-21.34"])
def test_amount_typo_is_matched_with_its_discrepancy(amount: str) -> None:
    result = match(("2024-03-02", amount, "CORNER DELI #12", None))
    assert not result.missing and not result.ledger_only
    (m,) = result.matches
    assert m.discrepancy == Decimal(amount) - Decimal("-12.34")
    assert "typo" in (m.note or "")


def test_an_amount_off_by_more_than_a_typo_is_not_matched() -> None:
    result = match(("2024-03-02", "-12.36", "CORNER DELI #12", None))
    assert len(result.missing) == 1 and len(result.ledger_only) == 1


def test_a_cent_off_with_another_payee_on_another_day_is_not_matched() -> None:
    result = match(("2024-03-04", "-12.35", "AIRLINE TICKETS", None))
    assert len(result.missing) == 1


def test_a_different_bank_id_is_a_different_charge() -> None:
    # FIT-1 was booked from last month's file; FIT-2 is a second identical coffee.
    result = match(("2024-03-05", "-4.50", "COFFEE SHOP", "FIT-1"),
                   ("2024-03-06", "-4.50", "COFFEE SHOP", "FIT-2"))
    assert [m.note for m in result.matches] == ["bank id"]
    assert [ln.ref.id for ln in result.missing] == ["FIT-2"]


def test_a_transfer_booked_from_the_other_bank_still_matches() -> None:
    result = match(("2024-03-06", "-100.00", "TRANSFER", "MYBANK-3"))
    assert len(result.matches) == 1 and not result.missing


def test_a_payee_column_decides_between_two_lines_of_the_same_amount() -> None:
    """The purpose holds only references; the counterparty column names the shop. The
    booked Shell entry is the Shell line posted four days late, not the Amazon line of the
    same amount two days off."""
    entries, errors, options = loader.load_string("""
2025-01-01 open Liabilities:Card USD
2025-01-01 open Expenses:Gas
2025-09-07 * "Shell" "Gas"
  Liabilities:Card  -51.25 USD
  Expenses:Gas
""")
    assert not errors
    lines = (StatementLine(Ref("c.csv", 2), datetime.date(2025, 9, 9), Decimal("-51.25"),
                           "BILL PAY ID:268107999", payee="Amazon"),
             StatementLine(Ref("c.csv", 3), datetime.date(2025, 9, 11), Decimal("-51.25"),
                           "CARD 8134 AUTH 970855", payee="Shell"))
    result = match_statement(LedgerView(entries, options),
                             Statement("c.csv", "csv", "Liabilities:Card", "USD", lines))
    assert [m.line.payee for m in result.matches] == ["Shell"]
    assert [ln.payee for ln in result.missing] == ["Amazon"]
