"""Peers' real data end to end: beangulp's example ledger against its OFX downloads."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, bean_check, report, run_cli_in_process, tree_hashes


@pytest.fixture
def beangulp_case(realworld: Path, tmp_path: Path) -> Path:
    base = realworld / "beangulp" / "examples"
    # copyfile: the peers' data is read-only (0444), and beanagent refuses to overwrite a
    # read-only ledger file
    shutil.copyfile(base / "ledger" / "ledger.beancount", tmp_path / "ledger.beancount")
    shutil.copy(base / "tests" / "ofx" / "ofxdownload.ofx", tmp_path / "ofxdownload.ofx")
    shutil.copy(base / "documents" / "Liabilities" / "US" / "CreditCard" / "2013-12-03.bofa.ofx",
                tmp_path / "bofa.ofx")
    return tmp_path


def test_ofxdownload_nine_missing_and_balance(beangulp_case: Path) -> None:
    before = tree_hashes(beangulp_case)
    proc = run_cli_in_process("reconcile", "ledger.beancount", "ofxdownload.ofx", "--dry-run",
                              "--json", "--account", "Liabilities:US:CreditCard", cwd=beangulp_case)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["version"] == 1
    assert rep["statements"][0]["lines"] == 12
    assert rep["statements"][0]["closing_balance"] == "-2356.38 USD"
    assert len(rep["matches"]) == 3
    booked = {(m["statement"]["id"]) for m in rep["matches"]}
    assert len(booked) == 3
    txns = [p for p in rep["proposals"] if p["kind"] == "transaction"]
    assert len(txns) == 9
    assert all(p["evidence"] and p["evidence"][0]["id"] for p in txns)
    bal = [p for p in rep["proposals"] if p["kind"] == "balance"]
    assert len(bal) == 1 and bal[0]["date"] == "2013-12-19"
    assert "-2356.38 USD" in bal[0]["text"]
    assert rep["balance"]["difference"] == "0.00 USD"
    check = rep["check"]
    assert 0 <= check["hidden_seconds"] <= check["seconds"]
    assert {k: check[k] for k in ("passed", "errors", "dropped")} == {
        "passed": True, "errors": [], "dropped": []}
    assert rep["committed"] is False
    assert rep["unmatched_ledger"] == []
    assert tree_hashes(beangulp_case) == before  # dry run: byte-identical


def test_ofxdownload_commit_then_rerun_is_idempotent(beangulp_case: Path) -> None:
    ledger = beangulp_case / "ledger.beancount"
    ui = RecordingUI()
    opts = load_settings(ledger, account="Liabilities:US:CreditCard", yes=True)
    outcome = reconcile(ledger, [beangulp_case / "ofxdownload.ofx"], OfflineAgent(), opts, ui)
    assert outcome.committed and outcome.exit_code == 0
    assert bean_check(ledger) == []
    text = ledger.read_text()
    assert "2013-12-19 balance Liabilities:US:CreditCard" in text
    assert text.count("bank_ref:") == 9
    again = reconcile(ledger, [beangulp_case / "ofxdownload.ofx"], OfflineAgent(),
                      load_settings(ledger, account="Liabilities:US:CreditCard", yes=True),
                      RecordingUI())
    assert again.proposals == () and not again.committed
    assert len(again.matches[0].matches) == 12
    # The nine written entries are recognised by the bank id kept in their metadata.
    assert sum(m.note == "bank id" for m in again.matches[0].matches) == 9


def test_bofa_all_booked_nothing_to_propose(beangulp_case: Path) -> None:
    before = tree_hashes(beangulp_case)
    proc = run_cli_in_process("reconcile", "ledger.beancount", "bofa.ofx", "--json", "--yes",
                              "-a", "Liabilities:US:CreditCard", cwd=beangulp_case)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["statements"][0]["lines"] == 27
    assert len(rep["matches"]) == 27
    assert rep["proposals"] == []
    assert rep["unmatched_ledger"] == []
    assert rep["balance"]["statement"] == "-2093.01 USD"
    assert Decimal(rep["balance"]["difference"].split()[0]) == 0
    assert "Nothing to propose" in proc.stderr
    assert tree_hashes(beangulp_case) == before


def test_fava_import_duplicate_case(realworld: Path, tmp_path: Path) -> None:
    """Fava's import test: an Austrian-bank CSV (';', '4.467,89', German headers) whose
    2017-02-14 line is already in the ledger; only 2017-02-13 is new, the note row is no
    transaction."""
    data = realworld / "fava" / "tests" / "data"
    for name in ("import.csv", "import.beancount"):
        shutil.copy(data / name, tmp_path / name)
    proc = run_cli_in_process("reconcile", "import.beancount", "import.csv", "-a",
                              "Assets:Checking", "-n", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["statements"][0]["lines"] == 2
    assert rep["statements"][0]["closing_balance"] == "4467.89 EUR"
    assert [(m["statement"]["line"], m["entry"]["line"]) for m in rep["matches"]] == [(2, 9)]
    txns = [p for p in rep["proposals"] if p["kind"] == "transaction"]
    assert len(txns) == 1 and txns[0]["date"] == "2017-02-13"
    assert "-50.00 EUR" in txns[0]["text"] and "Company XYZ" in txns[0]["text"]
