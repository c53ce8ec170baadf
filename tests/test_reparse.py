"""The gate's parse reuse must equal a full bean-check of the staged copy, case by case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from beanagent import proposals
from beanagent.load import load_entries, parse_ledger, to_ledger_errors
from beanagent.reparse import ParsedOriginal, splice_spec, spliced_load
from beanagent.stage import Item, stage_items

REPO = Path(__file__).resolve().parents[1]


def txn(date: str, account: str, number: str, other: str = "Expenses:Food:Coffee",
        narration: str = "new") -> dict:
    return {"kind": "transaction", "date": date, "payee": None, "narration": narration,
            "postings": [{"account": account, "number": number, "currency": "USD"},
                         {"account": other, "number": None, "currency": None}]}


def balance(date: str, account: str, number: str) -> dict:
    return {"kind": "balance", "date": date, "account": account, "number": number,
            "currency": "USD"}


def staged_both_ways(path: Path, raws: list[dict]) -> tuple[object, object, dict | None]:
    """The gate's verdict from a full parse of the staged copy and from the splice."""
    from beancount import loader
    from beancount.core import data

    from beanagent.check import check_stage
    from beanagent.ledger import LedgerView

    ledger = parse_ledger(path)
    accounts = LedgerView(ledger.entries, ledger.options).accounts
    items = []
    for i, raw in enumerate(raws):
        spec = proposals.validate(raw, accounts, {})
        items.append(Item(f"P{i + 1}", spec, proposals.format_directive(spec)))
    stage = stage_items(ledger, items)
    try:
        spec = splice_spec(stage, {p: ledger.files[p].data.decode() for p in stage.new_bytes})
        if spec is None:
            return None, None, None
        baseline = to_ledger_errors(load_entries(ledger.path)[1])
        full_entries, full_errors, _ = load_entries(stage.main)
        entries, errors, options = loader._parse_recursive([(str(path), True)], None, None)
        entries.sort(key=data.entry_sortkey)
        loaded = spliced_load(ParsedOriginal(entries, errors, options), spec)
        if loaded is None:
            return None, None, {"fallback": True}
        originals = {str(v): str(k) for k, v in stage.staged.items()}

        def key(es: list) -> list:
            return [(type(e).__name__, e.date,
                     originals.get(e.meta.get("filename"), e.meta.get("filename")),
                     e.meta.get("lineno"), [(p.account, p.units) for p in
                                            getattr(e, "postings", None) or []]) for e in es]

        assert key(loaded[0]) == key(full_entries)
        full = check_stage(stage, baseline, to_ledger_errors(full_errors))
        spliced = check_stage(stage, baseline, to_ledger_errors(loaded[1]))
        return full, spliced, spec
    finally:
        stage.cleanup()


E2E = REPO / "tests" / "data" / "e2e" / "books.beancount"
CHECKING = "Assets:Bank:Checking"


@pytest.mark.parametrize("raws", [
    [txn("2024-03-04", CHECKING, "-4.75")],
    [txn("2024-01-15", CHECKING, "-1.00"), txn("2024-03-30", CHECKING, "-2.00")],
    [txn("2024-02-02", CHECKING, "-3.00"), balance("2024-02-04", CHECKING, "900.00")],
    [balance("2024-03-10", CHECKING, "1.00")],  # fails: the error must be the same
    [txn("2024-01-01", CHECKING, "-1.00")],  # the day the account opens
    [txn("2024-02-01", CHECKING, "-4.50", narration="same day as an existing entry")],
])
def test_e2e_ledger(tmp_path: Path, raws: list[dict]) -> None:
    path = tmp_path / "books.beancount"
    shutil.copy(E2E, path)
    full, spliced, spec = staged_both_ways(path, raws)
    assert spec is not None and "fallback" not in spec
    assert spliced == full


def test_breaking_an_existing_assertion_and_crlf(tmp_path: Path) -> None:
    text = (E2E.read_text() + "\n2024-03-10 balance Assets:Bank:Checking 1859.23 USD\n")
    path = tmp_path / "books.beancount"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    full, spliced, spec = staged_both_ways(path, [txn("2024-03-05", CHECKING, "-1.00")])
    assert spec is not None
    assert spliced == full and not full.passed
    assert any("Balance failed" in e.message for e in full.errors)


def test_included_file_and_existing_errors(tmp_path: Path) -> None:
    (tmp_path / "bank").mkdir()
    (tmp_path / "main.beancount").write_text(
        'option "operating_currency" "USD"\n2024-01-01 open Expenses:Food:Coffee\n'
        '2024-01-01 open Equity:Opening\ninclude "bank/checking.beancount"\n'
        '2024-02-01 * "Broken"\n  Expenses:Nope  1.00 USD\n  Equity:Opening\n')
    (tmp_path / "bank" / "checking.beancount").write_text(
        "2024-01-01 open Assets:Bank:Checking USD\n\n"
        '2024-01-02 * "Opening"\n  Assets:Bank:Checking  10.00 USD\n  Equity:Opening\n\n'
        '2024-02-10 * "Later"\n  Assets:Bank:Checking  -1.00 USD\n  Expenses:Food:Coffee\n\n'
        "2024-02-11 balance Assets:Bank:Checking 9.00 USD\n")
    full, spliced, spec = staged_both_ways(
        tmp_path / "main.beancount",
        [txn("2024-02-05", CHECKING, "-2.00"), balance("2024-03-01", CHECKING, "7.00")])
    assert spec is not None and len(spec["files"]) == 1
    assert spec["files"][0]["original"].endswith("checking.beancount")
    # The old error does not count; the broken 2024-02-11 assertion does.
    assert spliced == full and [e.line for e in full.errors] == [11]


def test_parser_state_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "books.beancount"
    path.write_text(E2E.read_text().replace('2024-03-01 * "Blue Bottle Coffee"',
                                            'pushtag #trip\n2024-03-01 * "Blue Bottle Coffee"')
                    + "\npoptag #trip\n")
    _, _, spec = staged_both_ways(path, [txn("2024-03-04", CHECKING, "-4.75")])
    assert spec is None


def test_sample_ledger_with_the_demo_proposals(tmp_path: Path) -> None:
    shutil.copytree(REPO / "ledgers", tmp_path / "l", ignore=shutil.ignore_patterns("__py*"))
    raws = [txn("2025-11-21", "Assets:US:BofA:Checking", "-88.63", "Expenses:Utilities:Phone"),
            txn("2025-11-04", "Liabilities:US:Chase:Sapphire", "-6.75",
                "Expenses:Food:Coffee"),
            balance("2025-12-01", "Assets:US:BofA:Checking", "14033.41"),
            balance("2025-12-01", "Liabilities:US:Chase:Sapphire", "-1.00")]
    full, spliced, spec = staged_both_ways(tmp_path / "l" / "sample.beancount", raws)
    assert spec is not None and spliced == full
    assert [e.proposal for e in full.errors] == ["P4"]


def test_the_sandbox_check_uses_the_splice_and_agrees(tmp_path: Path) -> None:
    from beanagent.check import check_stage
    from beanagent.ledger import LedgerView
    from beanagent.sandbox.runner import Sandbox

    path = tmp_path / "books.beancount"
    shutil.copy(E2E, path)
    ledger = parse_ledger(path)
    accounts = LedgerView(ledger.entries, ledger.options).accounts
    spec = proposals.validate(balance("2024-03-10", CHECKING, "1.00"), accounts, {})
    stage = stage_items(ledger, [Item("P1", spec, proposals.format_directive(spec))])
    baseline = to_ledger_errors(load_entries(ledger.path)[1])
    with Sandbox(ledger.path) as box:
        splice = splice_spec(stage, {p: ledger.files[p].data.decode() for p in stage.new_bytes})
        fast = check_stage(stage, baseline, box.check(stage.main, splice))
        assert box.last_check_mode == "reused the original's parse"
        slow = check_stage(stage, baseline, box.check(stage.main))
        assert box.last_check_mode == "full parse"
    stage.cleanup()
    assert fast == slow and [e.proposal for e in fast.errors] == ["P1"]
