"""The gate's incremental check gives exactly the errors a full load of the staged copy
gives, on real ledgers and real sandboxes, and falls back to the full load when it can't
be sure."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from beanagent.core.gate import gate_result
from beanagent.core.proposals import format_directive, validate
from beanagent.files.stage import incremental_request, remove_stage, stage_items
from beanagent.ledger.load import load_ledger
from beanagent.ledger.view import LedgerView
from beanagent.model import Ledger, Proposal
from beanagent.sandbox.runner import Sandbox
from tests.helpers import REPO_ROOT

D = datetime.date


def items_for(ledger: Ledger, raws: list[dict[str, Any]]) -> list[Proposal]:
    accounts = LedgerView(ledger.entries, ledger.options).accounts
    opened: dict[str, datetime.date] = {}
    out = []
    for n, raw in enumerate(raws, 1):
        spec = validate(raw, accounts, opened)
        if spec.kind == "open" and spec.account:
            opened[spec.account] = spec.date
        out.append(Proposal(f"P{n}", spec, format_directive(spec)))
    return out


def both_ways(box: Sandbox, ledger: Ledger, items: list[Proposal]) -> tuple[Any, Any, bool]:
    stage = stage_items(ledger, items)
    try:
        readable = (stage.root, stage.source_root, *{p.parent for p in ledger.files})
        box.begin_check(stage.main, readable)
        full = gate_result(stage, ledger.errors, box.end_check())
        box.begin_check(stage.main, readable, incremental_request(ledger, stage))
        fast = gate_result(stage, ledger.errors, box.end_check())
        return full, fast, box.last_check["incremental"]
    finally:
        remove_stage(stage)


def txn(date: str, account: str, number: str, other: str) -> dict[str, Any]:
    return {"kind": "transaction", "date": date, "payee": "P", "narration": "n",
            "postings": [{"account": account, "number": number, "currency": "USD"},
                         {"account": other}]}


def bal(date: str, account: str, number: str) -> dict[str, Any]:
    return {"kind": "balance", "date": date, "account": account, "number": number,
            "currency": "USD"}


SAMPLE = REPO_ROOT / "ledgers" / "sample.beancount"
CHK = "Assets:US:BofA:Checking"
CARD = "Liabilities:US:Chase:Sapphire"

CASES = {
    "clean": [txn("2025-11-03", CHK, "-12.00", "Expenses:Bank:Fees"),
              txn("2025-11-29", CARD, "-5.00", "Expenses:Food:Coffee")],
    "balance that fails": [bal("2025-11-02", CHK, "1.00")],
    # An entry in the middle of the year breaks every later assertion on the account.
    "breaks the ledger's own assertions": [txn("2025-03-03", CHK, "-100.00",
                                               "Expenses:Bank:Fees")],
    "open then use": [{"kind": "open", "date": "2025-11-01", "account": "Expenses:FIXME"},
                      txn("2025-11-04", CARD, "-18.75", "Expenses:FIXME")],
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_errors_as_a_full_load(sandbox_for: Any, case: str) -> None:
    ledger = load_ledger(SAMPLE)
    full, fast, shortcut = both_ways(sandbox_for(SAMPLE), ledger, items_for(ledger, CASES[case]))
    assert shortcut, "the incremental check was not taken"
    assert fast == full
    if case in ("clean", "open then use"):
        assert full.passed
    else:
        assert not full.passed


MAIN = """\
option "operating_currency" "USD"
include "accounts/*.beancount"
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening
"""
CHECKING = """\
2024-01-01 open Assets:Checking USD
2024-01-02 * "Opening"
  Assets:Checking   100.00 USD
  Equity:Opening
2024-02-01 balance Assets:Checking 100.00 USD
"""
CARDFILE = """\
2024-01-01 open Liabilities:Card USD
2024-01-05 * "Deli"
  Liabilities:Card  -7.00 USD
  Expenses:Food
"""


def multi(tmp_path: Path, checking: str = CHECKING) -> Path:
    (tmp_path / "accounts").mkdir()
    (tmp_path / "accounts" / "checking.beancount").write_text(checking)
    (tmp_path / "accounts" / "card.beancount").write_text(CARDFILE)
    main = tmp_path / "main.beancount"
    main.write_text(MAIN)
    return main


@pytest.mark.parametrize("raws, passes", [
    ([txn("2024-01-10", "Liabilities:Card", "-3.00", "Expenses:Food")], True),
    ([txn("2024-01-10", "Assets:Checking", "-3.00", "Expenses:Food")], False),  # 02-01 fails
    ([txn("2024-01-10", "Liabilities:Card", "-3.00", "Expenses:Food"),
      txn("2024-02-10", "Liabilities:Card", "10.00", "Assets:Checking")], True),
])
def test_multi_file_ledger(sandbox_for: Any, tmp_path: Path, raws: list[dict[str, Any]],
                           passes: bool) -> None:
    main = multi(tmp_path)
    ledger = load_ledger(main)
    full, fast, shortcut = both_ways(sandbox_for(main), ledger, items_for(ledger, raws))
    assert shortcut and fast == full and full.passed is passes


def test_pushtag_falls_back_to_the_full_load(sandbox_for: Any, tmp_path: Path) -> None:
    main = multi(tmp_path, "pushtag #trip\n" + CHECKING + "poptag #trip\n")
    ledger = load_ledger(main)
    raws = [txn("2024-01-10", "Assets:Checking", "0.00", "Expenses:Food")]
    full, fast, shortcut = both_ways(sandbox_for(main), ledger, items_for(ledger, raws))
    assert not shortcut and fast == full


def test_a_file_changed_since_the_server_read_it_falls_back(sandbox_for: Any,
                                                            tmp_path: Path) -> None:
    main = multi(tmp_path)
    box = sandbox_for(main)
    assert box.run("x = 1", [], {}).ok  # the server has read the files
    card = tmp_path / "accounts" / "card.beancount"
    card.write_text(CARDFILE + '2024-01-06 * "Deli"\n  Liabilities:Card  -1.00 USD\n'
                    "  Expenses:Food\n")
    ledger = load_ledger(main)
    raws = [txn("2024-01-10", "Liabilities:Card", "-3.00", "Expenses:Food")]
    full, fast, shortcut = both_ways(box, ledger, items_for(ledger, raws))
    assert not shortcut and fast == full


def test_inserted_blocks_are_read_in_chunks_as_in_one_piece(tmp_path: Path,
                                                            monkeypatch: Any) -> None:
    """The check's child reads the staged file a chunk at a time, keeping only the
    inserted runs (incremental._blocks); with chunks as small as a byte, on random files
    (CRLF, a lone CR, UTF-8, a last line with or without its newline), it finds the same
    runs, the same text and the same number of newlines as the whole file split at "\\n",
    and refuses a pushtag wherever it lies."""
    import random

    from beanagent.sandbox import incremental

    rng = random.Random(16)
    path = tmp_path / "staged.beancount"
    for _ in range(1500):
        monkeypatch.setattr(incremental, "CHUNK", rng.choice([1, 2, 3, 7, 64]))
        lines = [rng.choice([b"a", b"", b"bb\r", b"ccc", "\u00e9x".encode()])
                 for _ in range(rng.randint(0, 12))]
        raw = b"\n".join(lines) + rng.choice([b"", b"\n"])
        path.write_bytes(raw)
        split = raw.split(b"\n")
        count = len(split) - (1 if split[-1] == b"" else 0)
        runs, i = [], 0
        while i < count and rng.random() < 0.7:
            first = rng.randint(i, count - 1)
            runs.append((first, rng.randint(first + 1, min(count, first + 3))))
            i = runs[-1][1] + rng.randint(0, 2)
        expected = [(a, b"".join(x + b"\n" for x in split[a:b]).decode()) for a, b in runs]
        assert incremental._blocks(str(path), runs) == (expected, raw.count(b"\n"))
        if count:
            at = rng.randint(0, count - 1)
            path.write_bytes(b"\n".join([*split[:at], b"  pushtag #x", *split[at:]]))
            assert incremental._blocks(str(path), runs) is None


@pytest.mark.parametrize("script_first", [False, True])
def test_a_cached_load_checks_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           script_first: bool) -> None:
    """A load from the cache checks as the load made fresh does, whether a script ran
    first or not: the same errors, by the same shortcut."""
    from beanagent.ledger.cache import LoadCache

    monkeypatch.setenv("BEANAGENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    ledger = load_ledger(SAMPLE)
    with Sandbox(SAMPLE, cache=LoadCache()) as box:  # a miss: the load is kept
        box.snapshot()
    results = []
    for cache in (None, LoadCache()):
        with Sandbox(SAMPLE, cache=cache) as box:
            if script_first:
                step = box.run("print(len(ledger.transactions('Assets:US:BofA:Checking')))",
                               [])
                assert step.ok, step.error
            for case in ("clean", "breaks the ledger's own assertions"):
                results.append(both_ways(box, ledger, items_for(ledger, CASES[case])))
        assert cache is None or cache.state == "hit"
    fresh, warm = results[:2], results[2:]
    assert warm == fresh and all(shortcut for _, _, shortcut in warm)
    assert fresh[0][0].passed and not fresh[1][0].passed
