"""The bundled sample against its answer key (ledgers/statements/TRUTH.json)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, bean_check, report, run_cli_in_process

LEDGERS = REPO_ROOT / "ledgers"
TRUTH = json.loads((LEDGERS / "statements" / "TRUTH.json").read_text())


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    shutil.copytree(LEDGERS, tmp_path / "ledgers", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "ledgers"


@pytest.mark.parametrize("name", list(TRUTH["statements"]))
def test_each_statement_matches_the_answer_key(sample: Path, name: str) -> None:
    truth = TRUTH["statements"][name]
    proc = run_cli_in_process("reconcile", "sample.beancount",
                              truth["path"].removeprefix("ledgers/"), "-n", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["statements"][0]["account"] == truth["account"]
    assert rep["statements"][0]["lines"] == truth["line_count"]
    txns = [p for p in rep["proposals"] if p["kind"] == "transaction"]
    got = sorted((p["date"], p["text"].split("\n")[2].split()[1]) for p in txns)
    want = sorted((m["date"], m["amount"]) for m in truth["missing"])
    assert got == want  # recall and precision: exactly the missing lines
    for miss in truth["missing"]:
        text = next(p["text"] for p in txns if p["date"] == miss["date"])
        if not miss["novel_payee"]:
            assert miss["account"] in text, (miss, text)
        else:
            assert "Expenses:FIXME" in text and text.split()[1] == "!"
    assert len(rep["matches"]) == truth["line_count"] - len(truth["missing"])
    assert len(rep["unmatched_ledger"]) == len(truth["ledger_only"])
    for lo in truth["ledger_only"]:
        assert any(u["date"] == lo["date"] and "likely duplicate" in u["reason"]
                   for u in rep["unmatched_ledger"])
    shifted = [m for m in rep["matches"] if m["note"] and "date differs" in m["note"]]
    assert len(shifted) == len(truth["date_shifted"])
    if rep["balance"] is not None:
        after = truth["ledger_balance"]["after_adding_missing"]
        assert rep["balance"]["ledger"] == f"{after} USD"
        assert rep["balance"]["statement"] == f"{truth['closing_balance']} USD"


def test_checking_commit_reconciles(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount",
                              "statements/bofa-checking-2025-11.ofx", "--yes", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["committed"] and rep["balance"]["difference"] == "0.00 USD"
    assert any(p["kind"] == "balance" and p["date"] == "2025-12-01" for p in rep["proposals"])
    assert bean_check(sample / "sample.beancount") == []


def test_both_cards_and_checking_in_one_run(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount",
                              "inbox/bofa-checking-2025-11.csv",
                              "inbox/chase-sapphire-2025-11.csv", "-n", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    txns = [p for p in rep["proposals"] if p["kind"] == "transaction"]
    assert len(txns) == 7
    # The card payment is on both statements and booked once already: never proposed.
    assert not any("1206.54" in p["text"] for p in txns)


def test_same_month_in_two_formats_is_proposed_once(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount",
                              "inbox/bofa-checking-2025-11.csv",
                              "statements/bofa-checking-2025-11.ofx", "-n", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    txns = [p for p in report(proc)["proposals"] if p["kind"] == "transaction"]
    assert len(txns) == 3


def test_generator_is_reproducible(sample: Path) -> None:
    subprocess.run([sys.executable, str(sample / "generate.py")], check=True, cwd=sample)
    for path in sorted((LEDGERS).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(LEDGERS)
            assert (sample / rel).read_bytes() == path.read_bytes(), rel
    assert Decimal(TRUTH["statements"]["bofa-checking-2025-11.csv"]["closing_balance"]) > 0


def test_missing_payroll_is_proposed_from_the_last_one_as_a_template(sample: Path) -> None:
    ledger = sample / "sample.beancount"
    text = ledger.read_text()
    start = text.index('2025-11-28 * "Acme Corp" "Payroll"')
    end = text.index("\n\n", start)
    ledger.write_text(text[:start] + text[end + 2:])
    proc = run_cli_in_process("reconcile", "sample.beancount",
                              "inbox/bofa-checking-2025-11.csv", "-n", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    payroll = next(p for p in report(proc)["proposals"] if "2884.59" in p["text"])
    for leg in ("Assets:US:Vanguard:401k   250.00 USD", "Expenses:Taxes:Federal",
                "Expenses:Health:Insurance", "Income:US:Acme:Salary"):
        assert leg.split()[0] in payroll["text"]
    assert "-4166.67 USD" in payroll["text"] and payroll["text"].split()[1] == "*"


@pytest.mark.parametrize("first, second", [
    ("bofa-checking-2025-11.csv", "chase-sapphire-2025-11.csv"),
    ("chase-sapphire-2025-11.csv", "bofa-checking-2025-11.csv"),
])
def test_transfer_on_both_statements_is_booked_once(sample: Path, first: str,
                                                    second: str) -> None:
    ledger = sample / "sample.beancount"
    text = ledger.read_text()
    start = text.index('2025-11-20 * "Chase Card Payment"')
    end = text.index("\n\n", start)
    ledger.write_text(text[:start] + text[end + 2:])
    one = run_cli_in_process("reconcile", "sample.beancount", f"inbox/{first}", "--yes",
                             "--json", cwd=sample)
    assert one.returncode == 0, one.stderr
    payment = [p for p in report(one)["proposals"] if "1206.54" in p["text"]]
    assert len(payment) == 1
    assert "Liabilities:US:Chase:Sapphire" in payment[0]["text"]
    assert "Assets:US:BofA:Checking" in payment[0]["text"]
    two = run_cli_in_process("reconcile", "sample.beancount", f"inbox/{second}", "--yes",
                             "--json", cwd=sample)
    assert two.returncode == 0, two.stderr
    assert not any("1206.54" in p["text"] for p in report(two)["proposals"])
    legs = [ln for ln in ledger.read_text().splitlines()
            if ln.startswith("  ") and ln.rstrip().endswith("1206.54 USD")]
    assert len(legs) == 2  # one entry, two legs
