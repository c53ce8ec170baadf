"""Issue 13: an unknown account name, wherever the user types one, names the close ones."""

from __future__ import annotations

from pathlib import Path

from beanagent.text import did_you_mean
from tests.helpers import run_cli_in_process

LEDGER = ('option "operating_currency" "USD"\n'
          "2025-01-01 open Assets:US:BofA:Checking USD\n"
          "2025-01-01 open Expenses:Food:Groceries USD\n"
          '2025-01-02 * "Coffee"\n  Assets:US:BofA:Checking  -2.45 USD\n'
          "  Expenses:Food:Groceries\n")
STATEMENT = "Date,Description,Amount\n2025-01-02,Coffee,-2.45\n"


def books(tmp_path: Path) -> tuple[Path, Path]:
    ledger = tmp_path / "books.beancount"
    ledger.write_text(LEDGER, encoding="utf-8")
    stmt = tmp_path / "bank.csv"
    stmt.write_text(STATEMENT, encoding="utf-8")
    return ledger, stmt


def test_suggestions() -> None:
    names = ["Assets:US:BofA:Checking", "Expenses:Food:Groceries", "Liabilities:US:Chase:Slate"]
    assert did_you_mean("Assets:US:BofA:Checkng", names) == \
        " (did you mean Assets:US:BofA:Checking?)"
    # the leaf alone, when the rest of the name is off
    assert did_you_mean("Liabilities:Chase:Slate", names) == \
        " (did you mean Liabilities:US:Chase:Slate?)"
    assert did_you_mean("Income:Salary", names) == ""
    assert did_you_mean("Assets:X", []) == ""


def test_account_flag_typo(tmp_path: Path) -> None:
    ledger, stmt = books(tmp_path)
    before = ledger.read_bytes()
    done = run_cli_in_process("reconcile", ledger, stmt, "-a", "Assets:US:Bofa:Checking",
                              "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if "not open" in ln]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "account Assets:US:Bofa:Checking is not open in the ledger (did you mean " \
        "Assets:US:BofA:Checking?)" in lines[0]
    assert ledger.read_bytes() == before


def test_rule_account_typo(tmp_path: Path) -> None:
    ledger, stmt = books(tmp_path)
    (tmp_path / "beanagent.toml").write_text(
        '[[statement]]\nmatch = "bank*.csv"\naccount = "Assets:US:BofA:Chequing"\n',
        encoding="utf-8")
    done = run_cli_in_process("reconcile", ledger, stmt, "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    assert "(did you mean Assets:US:BofA:Checking?)" in done.stderr
