"""Staging proposals into a temp copy of the ledger (placement, line endings, cleanup) and
the gate: bean-check on the staged copy in a real sandbox, where only new errors count."""

from __future__ import annotations

import datetime
import pickle
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from beanagent.core.gate import gate_result
from beanagent.core.proposals import format_directive, validate
from beanagent.files.stage import Placement, remove_stage, stage_items
from beanagent.ledger.load import load_ledger
from beanagent.ledger.view import LedgerView
from beanagent.model import GateError, GateResult, Ledger, PostingSpec, Proposal, Spec, Staged
from beanagent.sandbox.runner import Sandbox
from tests.helpers import bean_check, tree_hashes

D = datetime.date


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def item(pid: str, raw: Mapping[str, Any], ledger: Ledger,
         opened: Mapping[str, datetime.date] | None = None) -> Proposal:
    """Validate `raw` against the ledger like the workflow does and render it."""
    view = LedgerView(ledger.entries, ledger.options)
    spec = validate(raw, view.accounts, opened or {})
    return Proposal(pid, spec, format_directive(spec))


def txn(date: str, account: str, number: str, other: str = "Expenses:Food",
        payee: str = "New") -> dict[str, Any]:
    return {"kind": "transaction", "date": date, "payee": payee, "narration": "",
            "postings": [{"account": account, "number": number, "currency": "USD"},
                         {"account": other}]}


def balance(date: str, account: str, number: str) -> dict[str, Any]:
    return {"kind": "balance", "date": date, "account": account, "number": number,
            "currency": "USD"}


@pytest.fixture
def stages() -> Iterator[list[Staged]]:
    """Collects stages a test makes and removes them afterwards, even on failure."""
    made: list[Staged] = []
    yield made
    for stage in made:
        remove_stage(stage)


def stage_of(stages: list[Staged], ledger: Ledger, items: list[Proposal]) -> Staged:
    stage = stage_items(ledger, items)
    stages.append(stage)
    return stage


# --- placement across included files ----------------------------------------------------

MAIN = """\
option "operating_currency" "USD"
include "accounts/checking.beancount"
include "accounts/card.beancount"

2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Liabilities:Card USD
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening
"""

CHECKING = """\
2024-01-02 * "Opening"
  Assets:Bank:Checking  500.00 USD
  Equity:Opening

2024-01-10 * "Grocer"
  Assets:Bank:Checking  -20.00 USD
  Expenses:Food
"""

CARD = """\
2024-01-05 * "Diner"
  Liabilities:Card  -15.00 USD
  Expenses:Food
"""


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    folder = tmp_path / "books"
    write(folder / "accounts" / "checking.beancount", CHECKING)
    write(folder / "accounts" / "card.beancount", CARD)
    return write(folder / "main.beancount", MAIN)


def test_each_proposal_lands_in_its_accounts_file(multi: Path, stages: list[Staged]) -> None:
    folder = multi.parent
    before = tree_hashes(folder)
    ledger = load_ledger(multi)
    checking = folder / "accounts" / "checking.beancount"
    card = folder / "accounts" / "card.beancount"
    assert set(ledger.files) == {multi, checking, card}
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-7.00", payee="Bakery"), ledger)
    p2 = item("P2", txn("2024-01-21", "Liabilities:Card", "-9.00", payee="Cinema"), ledger)
    p3 = item("P3", {"kind": "open", "date": "2024-01-20", "account": "Expenses:Review"}, ledger)
    stage = stage_of(stages, ledger, [p1, p2, p3])

    assert stage.targets == {"P1": checking, "P2": card, "P3": multi}
    assert stage.main == stage.root / "main.beancount"
    assert stage.staged[checking] == stage.root / "accounts" / "checking.beancount"
    staged_checking = stage.staged[checking].read_text()
    staged_card = stage.staged[card].read_text()
    assert staged_checking == CHECKING + "\n" + p1.text
    assert staged_card == CARD + "\n" + p2.text
    assert stage.staged[multi].read_text() == MAIN + "\n" + p3.text
    assert p1.text.startswith('2024-01-20 * "Bakery" ""\n')
    assert set(stage.new_bytes) == {multi, checking, card}
    assert stage.new_bytes[card] == staged_card.encode()
    assert bean_check(stage.main) == []
    assert tree_hashes(folder) == before  # the user's files are untouched


def test_untouched_files_are_byte_identical_in_the_stage(multi: Path,
                                                         stages: list[Staged]) -> None:
    folder = multi.parent
    ledger = load_ledger(multi)
    card = folder / "accounts" / "card.beancount"
    checking = folder / "accounts" / "checking.beancount"
    p1 = item("P1", txn("2024-01-20", "Liabilities:Card", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    assert list(stage.new_bytes) == [card]
    assert stage.staged[multi].read_bytes() == multi.read_bytes()
    assert stage.staged[checking].read_bytes() == checking.read_bytes()
    assert stage.staged[card].read_bytes() != card.read_bytes()
    assert sorted(p.relative_to(stage.root).as_posix() for p in stage.root.rglob("*")
                  if p.is_file()) == ["accounts/card.beancount", "accounts/checking.beancount",
                                      "main.beancount"]
    assert stage.line_maps[stage.staged[card]][:3] == [1, 2, 3]
    assert stage.line_maps[stage.staged[card]][3:] == ["P1"] * 4  # blank + 3 lines of P1


def test_choose_file_prefers_the_most_recent_entry_of_the_account(tmp_path: Path) -> None:
    # Checking appears in both files; its most recent entry is in 2024.beancount.
    main = write(tmp_path / "main.beancount", """\
include "2023.beancount"
include "2024.beancount"
2023-01-01 open Assets:Bank:Checking USD
2023-01-01 open Expenses:Food
2023-01-01 open Income:Job
""")
    write(tmp_path / "2023.beancount", """\
2023-06-01 * "Old"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food
""")
    write(tmp_path / "2024.beancount", """\
2024-02-01 * "Pay"
  Assets:Bank:Checking  10.00 USD
  Income:Job
""")
    ledger = load_ledger(main)
    spec = item("P1", txn("2024-03-01", "Expenses:Food", "1.00", other="Assets:Bank:Checking"),
                ledger).spec
    # The Assets/Liabilities posting decides, even when it comes second.
    assert Placement(ledger).file_for(spec) == tmp_path / "2024.beancount"
    bal = item("P2", balance("2024-03-01", "Assets:Bank:Checking", "9.00"), ledger).spec
    assert Placement(ledger).file_for(bal) == tmp_path / "2024.beancount"
    new_root = item("P3", {"kind": "open", "date": "2024-03-01", "account": "Equity:New"},
                    ledger).spec
    assert Placement(ledger).file_for(new_root) == main  # no Equity account anywhere: the main file


# --- date order in one file -------------------------------------------------------------

ORDERED = """\
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food

2024-01-05 * "A"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food

; February
; --------
2024-02-01 * "B"
  Assets:Bank:Checking  -2.00 USD
  Expenses:Food
"""

HEAD = ORDERED[: ORDERED.index("; February")]
TAIL = ORDERED[ORDERED.index("; February"):]


def test_inserted_in_date_order_before_the_comment_block(tmp_path: Path,
                                                         stages: list[Staged]) -> None:
    path = write(tmp_path / "books.beancount", ORDERED)
    ledger = load_ledger(path)
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    assert stage.main.read_text() == HEAD + p1.text + "\n" + TAIL
    assert bean_check(stage.main) == []
    # Every original line keeps its number in the line map; the proposal's lines are P1.
    line_map = stage.line_maps[stage.main]
    assert line_map[:7] == [1, 2, 3, 4, 5, 6, 7]
    assert line_map[7:11] == ["P1"] * 4  # 3 lines of text + the blank line after it
    assert line_map[11:] == [8, 9, 10, 11, 12]


def test_same_date_as_an_existing_entry_goes_after_it(tmp_path: Path,
                                                      stages: list[Staged]) -> None:
    path = write(tmp_path / "books.beancount", ORDERED)
    ledger = load_ledger(path)
    same_as_a = item("P1", txn("2024-01-05", "Assets:Bank:Checking", "-3.00"), ledger)
    same_as_b = item("P2", txn("2024-02-01", "Assets:Bank:Checking", "-4.00"), ledger)
    before_all = item("P3", txn("2024-01-02", "Assets:Bank:Checking", "-5.00"), ledger)
    stage = stage_of(stages, ledger, [same_as_a, same_as_b, before_all])
    opens = ORDERED[: ORDERED.index("2024-01-05")]
    a_block = ORDERED[len(opens): len(HEAD)]
    assert stage.main.read_text() == (opens + before_all.text + "\n" + a_block + same_as_a.text
                                      + "\n" + TAIL + "\n" + same_as_b.text)
    assert bean_check(stage.main) == []


def test_file_not_in_date_order_gets_appended(tmp_path: Path, stages: list[Staged]) -> None:
    unordered = """\
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food

2024-02-01 * "B"
  Assets:Bank:Checking  -2.00 USD
  Expenses:Food

2024-01-05 * "A"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food
"""
    path = write(tmp_path / "books.beancount", unordered)
    ledger = load_ledger(path)
    p1 = item("P1", txn("2024-01-03", "Assets:Bank:Checking", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    assert stage.main.read_text() == unordered + "\n" + p1.text
    assert bean_check(stage.main) == []


def test_crlf_file_stays_crlf(tmp_path: Path, stages: list[Staged]) -> None:
    path = write(tmp_path / "books.beancount", ORDERED, newline="\r\n")
    ledger = load_ledger(path)
    assert ledger.errors == []
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-3.00"), ledger)
    p2 = item("P2", txn("2024-03-01", "Assets:Bank:Checking", "-4.00"), ledger)
    stage = stage_of(stages, ledger, [p1, p2])
    data = stage.main.read_bytes()
    assert data.endswith(b"\r\n")
    rows = data.split(b"\r\n")
    assert rows[-1] == b""
    assert all(b"\n" not in row and b"\r" not in row for row in rows[:-1])
    expected = HEAD + p1.text + "\n" + TAIL + "\n" + p2.text
    assert data == expected.replace("\n", "\r\n").encode()
    assert stage.new_bytes[path] == data
    assert bean_check(stage.main) == []


def test_file_without_trailing_newline(tmp_path: Path, stages: list[Staged]) -> None:
    text = ORDERED.rstrip("\n")
    path = write(tmp_path / "books.beancount", text)
    ledger = load_ledger(path)
    p1 = item("P1", txn("2024-03-01", "Assets:Bank:Checking", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    assert stage.main.read_text() == text + "\n\n" + p1.text
    assert bean_check(stage.main) == []


def test_file_without_trailing_newline_crlf(tmp_path: Path, stages: list[Staged]) -> None:
    text = ORDERED.rstrip("\n")
    path = write(tmp_path / "books.beancount", text, newline="\r\n")
    ledger = load_ledger(path)
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    # Inserted in the middle: the unterminated last line is left exactly as it was.
    expected = (HEAD + p1.text + "\n" + TAIL).rstrip("\n")
    assert stage.main.read_bytes() == expected.replace("\n", "\r\n").encode()


def test_several_at_one_point_keep_date_order_and_open_first(tmp_path: Path,
                                                             stages: list[Staged]) -> None:
    path = write(tmp_path / "books.beancount", ORDERED)
    ledger = load_ledger(path)
    opened = {"Expenses:Review": D(2024, 1, 20)}
    items = [
        item("P1", txn("2024-01-25", "Assets:Bank:Checking", "-1.50", payee="Late"), ledger),
        item("P2", txn("2024-01-20", "Assets:Bank:Checking", "-2.50", payee="Early"), ledger),
        item("P3", balance("2024-01-20", "Assets:Bank:Checking", "-1.00"), ledger),
        item("P4", txn("2024-01-20", "Assets:Bank:Checking", "-3.50", other="Expenses:Review",
                       payee="Review"), ledger, opened),
        item("P5", {"kind": "open", "date": "2024-01-20", "account": "Expenses:Review"}, ledger),
    ]
    stage = stage_of(stages, ledger, items)
    by_id = {i.id: i for i in items}
    order = ["P5", "P2", "P4", "P3", "P1"]
    block = "\n".join(by_id[pid].text for pid in order)
    assert stage.main.read_text() == HEAD + block + "\n" + TAIL
    assert bean_check(stage.main) == []
    assert set(stage.targets.values()) == {path}


def test_open_goes_before_its_transactions_at_different_points(tmp_path: Path,
                                                               stages: list[Staged]) -> None:
    path = write(tmp_path / "books.beancount", ORDERED)
    ledger = load_ledger(path)
    opened = {"Expenses:Review": D(2024, 1, 3)}
    use = item("P1", txn("2024-02-02", "Assets:Bank:Checking", "-1.00",
                         other="Expenses:Review"), ledger, opened)
    opening = item("P2", {"kind": "open", "date": "2024-01-03",
                          "account": "Expenses:Review"}, ledger)
    stage = stage_of(stages, ledger, [use, opening])
    text = stage.main.read_text()
    assert text.index(opening.text) < text.index('2024-01-05 * "A"') < text.index(use.text)
    assert bean_check(stage.main) == []


def test_stage_lives_outside_the_users_folder_and_cleanup_removes_it(tmp_path: Path) -> None:
    folder = tmp_path / "books"
    path = write(folder / "books.beancount", ORDERED)
    before = tree_hashes(folder)
    ledger = load_ledger(path)
    stage = stage_items(ledger, [item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-3.00"),
                                      ledger)])
    try:
        assert stage.root.is_dir() and stage.main.is_file()
        assert stage.main.parent == stage.root
        assert not stage.root.resolve().is_relative_to(folder.resolve())
        assert not folder.resolve().is_relative_to(stage.root.resolve())
        assert stage.root.name.startswith("beanagent-stage-")
        assert tree_hashes(folder) == before
        assert stage.original_of(stage.main) == path
        assert stage.original_of(stage.root / "other.beancount") is None
    finally:
        remove_stage(stage)
    assert not stage.root.exists()
    assert tree_hashes(folder) == before
    remove_stage(stage)  # a second cleanup is harmless


def test_unicode_line_separator_in_a_narration_does_not_shift_placement(
        tmp_path: Path, stages: list[Staged]) -> None:
    text = """\
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food

2024-01-05 * "A" "one\u2028two\u2028three"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food

2024-02-01 * "B"
  Assets:Bank:Checking  -2.00 USD
  Expenses:Food
"""
    path = write(tmp_path / "books.beancount", text)
    ledger = load_ledger(path)
    assert ledger.errors == []
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-3.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    # Today the P1 block lands between "-1.00 USD" and "Expenses:Food" of "A",
    # and the staged ledger gets 'syntax error, unexpected INDENT'.
    assert bean_check(stage.main) == []
    assert stage.main.read_text() == text.replace('2024-02-01 * "B"',
                                                  p1.text + '\n2024-02-01 * "B"')


# --- the gate: bean-check in a real sandbox ---------------------------------------------

def gate(ledger: Ledger, items: list[Proposal], box: Sandbox, stages: list[Staged]) -> GateResult:
    stage = stage_of(stages, ledger, items)
    return gate_result(stage, ledger.errors, box.bean_check(stage.main))


GATE_MAIN = """\
option "operating_currency" "USD"
include "checking.beancount"

2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening
"""

GATE_CHECKING = """\
2024-01-02 * "Opening"
  Assets:Bank:Checking  100.00 USD
  Equity:Opening

2024-01-10 * "Cafe"
  Assets:Bank:Checking  -4.50 USD
  Expenses:Food

2024-02-01 balance Assets:Bank:Checking  95.50 USD

2024-02-03 * "Shop"
  Assets:Bank:Checking  -10.00 USD
  Expenses:Food
"""
BALANCE_LINE = 9  # of GATE_CHECKING


@pytest.fixture
def gate_books(tmp_path: Path) -> Path:
    folder = tmp_path / "books"
    write(folder / "checking.beancount", GATE_CHECKING)
    main = write(folder / "main.beancount", GATE_MAIN)
    assert GATE_CHECKING.splitlines()[BALANCE_LINE - 1].startswith("2024-02-01 balance")
    return main


def test_gate_passes_a_clean_proposal(gate_books: Path, sandbox_for: Callable[[Path], Sandbox],
                                      stages: list[Staged]) -> None:
    box = sandbox_for(gate_books)
    ledger = load_ledger(gate_books)
    assert ledger.errors == []
    p1 = item("P1", txn("2024-02-05", "Assets:Bank:Checking", "-3.00"), ledger)
    p2 = item("P2", balance("2024-02-06", "Assets:Bank:Checking", "82.50"), ledger)
    result = gate(ledger, [p1, p2], box, stages)
    assert result == GateResult(True, ())


def test_gate_locates_a_broken_balance_at_its_original_line(
        gate_books: Path, sandbox_for: Callable[[Path], Sandbox], stages: list[Staged]) -> None:
    box = sandbox_for(gate_books)
    ledger = load_ledger(gate_books)
    checking = gate_books.parent / "checking.beancount"
    p1 = item("P1", txn("2024-01-15", "Assets:Bank:Checking", "-10.00"), ledger)
    result = gate(ledger, [p1], box, stages)
    assert stages[-1].targets == {"P1": checking}
    # The staged balance line moved down by the 4 inserted lines; the error points back.
    assert stages[-1].staged[checking].read_text().splitlines()[BALANCE_LINE + 3].startswith(
        "2024-02-01 balance")
    assert result.passed is False
    assert result.errors == (GateError(
        str(checking), BALANCE_LINE,
        "Balance failed for 'Assets:Bank:Checking': expected 95.50 USD != accumulated "
        "85.50 USD (10.00 too little)", None),)
    assert str(result.errors[0]).startswith(f"{checking}:{BALANCE_LINE}: Balance failed")


def test_gate_attributes_a_failing_proposed_balance_to_its_proposal(
        gate_books: Path, sandbox_for: Callable[[Path], Sandbox], stages: list[Staged]) -> None:
    box = sandbox_for(gate_books)
    ledger = load_ledger(gate_books)
    checking = gate_books.parent / "checking.beancount"
    p1 = item("P1", txn("2024-02-05", "Assets:Bank:Checking", "-3.00"), ledger)
    p2 = item("P2", balance("2024-02-10", "Assets:Bank:Checking", "80.00"), ledger)
    result = gate(ledger, [p1, p2], box, stages)
    assert result.passed is False
    assert result.errors == (GateError(
        str(checking), 0,
        "Balance failed for 'Assets:Bank:Checking': expected 80.00 USD != accumulated "
        "82.50 USD (2.50 too much)", "P2"),)
    assert str(result.errors[0]).startswith("proposal P2: Balance failed")
    assert str(stages[-1].root) not in result.errors[0].message


BROKEN = """\
option "operating_currency" "USD"
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food

2024-01-05 * "Mystery"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Unknown

2024-02-01 balance Assets:Bank:Checking  -1.00 USD
"""
UNKNOWN = "Invalid reference to unknown account 'Expenses:Unknown'"


@pytest.fixture
def broken_books(tmp_path: Path) -> Path:
    return write(tmp_path / "books" / "books.beancount", BROKEN)


def test_existing_errors_do_not_fail_the_gate(broken_books: Path,
                                              sandbox_for: Callable[[Path], Sandbox],
                                              stages: list[Staged]) -> None:
    box = sandbox_for(broken_books)
    ledger = load_ledger(broken_books)
    assert [(e.file, e.line, e.message) for e in ledger.errors] == \
        [(str(broken_books), 5, UNKNOWN)]
    p1 = item("P1", txn("2024-02-03", "Assets:Bank:Checking", "-2.00"), ledger)
    result = gate(ledger, [p1], box, stages)
    assert result == GateResult(True, ())
    # The staged copy does still carry the old error: it is just not new.
    assert bean_check(stages[-1].main) == [f"{stages[-1].main}:5: {UNKNOWN}"]


def test_a_new_different_error_fails_beside_an_existing_one(
        broken_books: Path, sandbox_for: Callable[[Path], Sandbox],
        stages: list[Staged]) -> None:
    box = sandbox_for(broken_books)
    ledger = load_ledger(broken_books)
    p1 = item("P1", txn("2024-01-20", "Assets:Bank:Checking", "-2.00"), ledger)
    result = gate(ledger, [p1], box, stages)
    assert result.passed is False
    assert result.errors == (GateError(
        str(broken_books), 9,
        "Balance failed for 'Assets:Bank:Checking': expected -1.00 USD != accumulated "
        "-3.00 USD (2.00 too little)", None),)


def test_a_proposal_repeating_an_existing_error_still_fails(
        broken_books: Path, sandbox_for: Callable[[Path], Sandbox],
        stages: list[Staged]) -> None:
    # Built without validate (which would refuse the unknown account): the gate must not
    # excuse an error inside a proposal just because the ledger already has the same one.
    box = sandbox_for(broken_books)
    ledger = load_ledger(broken_books)
    spec = Spec("transaction", D(2024, 2, 3), payee="Again", narration="",
                postings=(PostingSpec("Assets:Bank:Checking", Decimal("-2.00"), "USD"),
                          PostingSpec("Expenses:Unknown", Decimal("2.00"), "USD")))
    p1 = Proposal("P1", spec, format_directive(spec))
    result = gate(ledger, [p1], box, stages)
    assert result.passed is False
    assert result.errors == (GateError(str(broken_books), 0, UNKNOWN, "P1"),)


class _MakeDir:
    """Unpickling this calls os.mkdir(marker): proof that a cache was read."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("kind", ["malicious", "garbage"])
def test_a_planted_picklecache_is_never_used(
        gate_books: Path, sandbox_for: Callable[[Path], Sandbox], stages: list[Staged],
        tmp_path: Path, kind: str) -> None:
    import beancount.loader

    marker = tmp_path / "UNPICKLED"
    # A "cache hit" that claims the ledger has no entries and no errors, and leaves a mark.
    payload = (pickle.dumps((_MakeDir(marker), [], {"include": []}))
               if kind == "malicious" else b"\x80\x04garbage, not a pickle")
    name = beancount.loader.PICKLE_CACHE_FILENAME.format(filename=gate_books.name)
    assert name == ".main.beancount.picklecache"
    beside_original = gate_books.parent / name
    beside_original.write_bytes(payload)

    box = sandbox_for(gate_books)
    ledger = load_ledger(gate_books)
    assert not marker.exists()
    assert len(ledger.entries) > 3
    p1 = item("P1", txn("2024-01-15", "Assets:Bank:Checking", "-10.00"), ledger)
    stage = stage_of(stages, ledger, [p1])
    beside_staged = stage.main.parent / name
    beside_staged.write_bytes(payload)
    result = gate_result(stage, ledger.errors, box.bean_check(stage.main))

    assert not marker.exists()
    # The real staged ledger was checked: the broken balance is found, nothing else.
    assert [(e.line, e.message.split(":")[0]) for e in result.errors] == \
        [(BALANCE_LINE, "Balance failed for 'Assets")]
    # Neither cache was read, nor deleted (that would be a write in the user's folder).
    assert beside_original.read_bytes() == payload
    assert beside_staged.read_bytes() == payload
    # And a clean proposal still passes with the caches in place.
    p2 = item("P2", txn("2024-02-05", "Assets:Bank:Checking", "-1.00"), ledger)
    stage2 = stage_of(stages, ledger, [p2])
    (stage2.main.parent / name).write_bytes(payload)
    assert gate_result(stage2, ledger.errors, box.bean_check(stage2.main)) == GateResult(True, ())
    assert not marker.exists()


def test_relative_document_directive_does_not_fail_the_gate(
        tmp_path: Path, sandbox_for: Callable[[Path], Sandbox], stages: list[Staged]) -> None:
    folder = tmp_path / "books"
    write(folder / "docs" / "statement-jan.pdf", "%PDF-1.4 not really\n")
    path = write(folder / "books.beancount", """\
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food
2024-01-31 document Assets:Bank:Checking "docs/statement-jan.pdf"

2024-01-05 * "A"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food
""")
    box = sandbox_for(path)
    ledger = load_ledger(path)
    assert ledger.errors == []  # the document exists beside the user's ledger
    p1 = item("P1", txn("2024-02-01", "Assets:Bank:Checking", "-2.00"), ledger)
    # Today: GateResult(False, (GateError(books.beancount, 3,
    #   'File does not exist: "/tmp/beanagent-stage-.../docs/statement-jan.pdf"', None),))
    assert gate(ledger, [p1], box, stages) == GateResult(True, ())
