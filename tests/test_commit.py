"""Committing approved changes: exact bytes, atomic, mode kept, and nothing at all written
when any ledger file moved since it was loaded (also through the whole workflow)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.errors import (
    BadInputError,
    CheckFailedError,
    ExitCode,
    LedgerBusyError,
    LedgerChangedError,
)
from beanagent.files.commit import bean_check_here, commit_files, new_errors
from beanagent.files.journal import Journal
from beanagent.files.undo import format_undone, undo_commits
from beanagent.ledger.load import load_ledger
from beanagent.model import LedgerError, Proposal
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, bean_check, run_cli_in_process, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
ACCOUNT = "Assets:Bank:Checking"

MAIN = """\
option "operating_currency" "USD"
include "b.beancount"
2024-01-01 open Assets:Bank:Checking USD
2024-01-01 open Expenses:Food
"""
SECOND = """\
2024-01-05 * "Cafe"
  Assets:Bank:Checking  -1.00 USD
  Expenses:Food
"""
ADDED = """
2024-01-06 * "Bakery"
  Assets:Bank:Checking  -2.00 USD
  Expenses:Food
"""


@pytest.fixture
def books(tmp_path: Path) -> Path:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "b.beancount").write_text(SECOND)
    main = folder / "a.beancount"
    main.write_text(MAIN)
    return main


def test_commit_writes_exact_bytes_and_keeps_the_mode(books: Path) -> None:
    folder = books.parent
    second = folder / "b.beancount"
    books.chmod(0o640)
    second.chmod(0o600)
    ledger = load_ledger(books)
    new_main = (MAIN + "2024-01-01 open Expenses:Rent\n").encode()
    new_second = (SECOND + ADDED).replace("\n", "\r\n").encode()  # bytes are written as given
    written = commit_files(ledger, {second: new_second, books: new_main})
    assert written == [books, second]
    assert books.read_bytes() == new_main
    assert second.read_bytes() == new_second
    assert stat.S_IMODE(books.stat().st_mode) == 0o640
    assert stat.S_IMODE(second.stat().st_mode) == 0o600
    assert sorted(os.listdir(folder)) == [".beanagent", "a.beancount", "b.beancount"]  # no temps


def test_commit_of_only_one_file_leaves_the_other_alone(books: Path) -> None:
    second = books.parent / "b.beancount"
    before = second.stat()
    ledger = load_ledger(books)
    new_second = (SECOND + ADDED).encode()
    assert commit_files(ledger, {second: new_second}) == [second]
    assert books.read_text() == MAIN
    assert second.read_bytes() == new_second
    assert bean_check(books) == []
    assert second.stat().st_ino != before.st_ino  # replaced by rename, not rewritten in place
    assert sorted(os.listdir(books.parent)) == [".beanagent", "a.beancount", "b.beancount"]


def test_commit_keeps_an_unusual_mode(books: Path) -> None:
    books.chmod(0o604)
    ledger = load_ledger(books)
    commit_files(ledger, {books: b"; nothing\n"})
    assert stat.S_IMODE(books.stat().st_mode) == 0o604
    assert books.read_bytes() == b"; nothing\n"


def test_changed_file_is_refused_and_nothing_written(books: Path) -> None:
    ledger = load_ledger(books)
    changed = MAIN + "; edited by hand meanwhile\n"
    books.write_text(changed)
    second = books.parent / "b.beancount"
    before = tree_hashes(books.parent)
    with pytest.raises(LedgerChangedError) as info:
        commit_files(ledger, {books: b"; ours\n", second: b"; ours too\n"})
    err = info.value
    assert err.exit_code == ExitCode.LEDGER_CHANGED == 4
    assert err.file == str(books)
    assert str(err) == (f"{books}: file changed on disk since it was loaded; nothing was "
                        "written (run again to reconcile the new version)")
    assert tree_hashes(books.parent) == before
    assert books.read_text() == changed
    assert second.read_text() == SECOND


def test_only_the_second_file_changed_still_writes_nothing(books: Path) -> None:
    second = books.parent / "b.beancount"
    ledger = load_ledger(books)
    second.write_text(SECOND + "; edited\n")
    before = tree_hashes(books.parent)
    with pytest.raises(LedgerChangedError) as info:
        commit_files(ledger, {books: b"; ours\n", second: b"; ours too\n"})
    assert info.value.file == str(second)
    assert info.value.exit_code == 4
    assert tree_hashes(books.parent) == before
    assert books.read_text() == MAIN  # the first file, unchanged on disk, was not written


def test_same_size_same_mtime_change_is_still_detected(books: Path) -> None:
    ledger = load_ledger(books)
    st = books.stat()
    edited = MAIN.replace("Food", "Fool")
    assert len(edited) == len(MAIN)
    books.write_text(edited)
    os.utime(books, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(LedgerChangedError):
        commit_files(ledger, {books: b"; ours\n"})
    assert books.read_text() == edited


def test_removed_file_is_refused(books: Path) -> None:
    second = books.parent / "b.beancount"
    ledger = load_ledger(books)
    second.unlink()
    with pytest.raises(LedgerChangedError) as info:
        commit_files(ledger, {books: b"; ours\n", second: b"; ours too\n"})
    assert info.value.file == str(second)
    assert info.value.exit_code == ExitCode.LEDGER_CHANGED
    assert "file disappeared since it was loaded; nothing was written" in str(info.value)
    assert books.read_text() == MAIN
    assert not second.exists()
    assert sorted(os.listdir(books.parent)) == ["a.beancount"]


def test_unchanged_files_pass_the_check(books: Path) -> None:
    ledger = load_ledger(books)
    assert set(ledger.files) == {books, books.parent / "b.beancount"}
    assert commit_files(ledger, {books: MAIN.encode() + b"; ours\n"}) == [books]
    assert books.read_text() == MAIN + "; ours\n"


# --- through the workflow ---------------------------------------------------------------

@pytest.fixture
def e2e(tmp_path: Path) -> Path:
    folder = tmp_path / "e2e"
    folder.mkdir()
    for name in ("books.beancount", "march.csv"):
        shutil.copy(E2E / name, folder / name)
    return folder


def test_workflow_refuses_when_the_ledger_changes_during_review(e2e: Path) -> None:
    ledger = e2e / "books.beancount"
    original = ledger.read_bytes()
    edited = original + b"; added in an editor while beanagent was asking\n"

    def edit_then_accept(items: list[Proposal]) -> list[str]:
        ledger.write_bytes(edited)
        return [i.id for i in items]

    ui = RecordingUI(edit_then_accept)
    with pytest.raises(LedgerChangedError) as info:
        reconcile(ledger, [e2e / "march.csv"], OfflineAgent(),
                  load_settings(ledger, account=ACCOUNT, yes=False), ui)
    assert info.value.exit_code == 4
    assert info.value.file == str(ledger.resolve())
    assert len(ui.asked) == 1 and len(ui.asked[0]) >= 1
    assert ledger.read_bytes() == edited
    assert sorted(os.listdir(e2e)) == ["books.beancount", "march.csv"]


def test_workflow_declining_everything_writes_nothing(e2e: Path) -> None:
    before = tree_hashes(e2e)
    ui = RecordingUI(lambda items: [])
    outcome = reconcile(e2e / "books.beancount", [e2e / "march.csv"], OfflineAgent(),
                        load_settings(e2e / "books.beancount", account=ACCOUNT, yes=False), ui)
    assert outcome.exit_code == ExitCode.DECLINED == 1
    assert outcome.accepted == ()
    assert outcome.committed is False
    assert outcome.gate is not None and outcome.gate.passed
    assert len(ui.asked) == 1 and len(ui.asked[0]) >= 1
    assert tree_hashes(e2e) == before


def test_workflow_accepting_everything_commits_a_clean_ledger(e2e: Path) -> None:
    ledger = e2e / "books.beancount"
    original = ledger.read_text()
    ledger.chmod(0o640)
    ui = RecordingUI()
    outcome = reconcile(ledger, [e2e / "march.csv"], OfflineAgent(),
                        load_settings(ledger, account=ACCOUNT, yes=False), ui)
    assert outcome.committed is True
    assert outcome.written == (ledger.resolve(),)
    assert outcome.accepted == tuple(i.id for i in ui.asked[0])
    text = ledger.read_text()
    assert text.startswith(original.rstrip("\n"))
    assert '2024-03-04 * "Blue Bottle Coffee"' in text
    assert bean_check(ledger) == []
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o640
    assert sorted(os.listdir(e2e)) == [".beanagent", "books.beancount", "march.csv"]
    (record,) = Journal(ledger.resolve()).records()
    assert (record.kind, record.state) == ("commit", "done")
    assert (e2e / ".beanagent" / "undo" / "000001" / "0.old").read_text() == original


# --- the journal, the lock, the check after writing ----------------------------------------

def test_a_commit_is_journaled_with_hashes_and_byte_identical_backups(books: Path) -> None:
    second = books.parent / "b.beancount"
    ledger = load_ledger(books)
    new_second = (SECOND + ADDED).encode()
    commit_files(ledger, {second: new_second}, lambda: [], [LedgerError("/x", 1, "old")])
    folder = books.parent / ".beanagent" / "undo" / "000001"
    assert sorted(os.listdir(folder)) == ["0.old", "record.json"]
    assert (folder / "0.old").read_bytes() == SECOND.encode()
    assert stat.S_IMODE((folder / "0.old").stat().st_mode) == 0o600
    body = json.loads((folder / "record.json").read_text())
    assert body == {
        "format": 1, "seq": 1, "kind": "commit", "state": "done", "time": body["time"],
        "ledger": "a.beancount", "undoes": [], "baseline": [["/x", "old"]],
        "files": [{"path": "b.beancount", "old_sha256": sha(SECOND.encode()),
                   "new_sha256": sha(new_second), "backup": "0.old",
                   "temp": ".b.beancount.beanagent-000001.new"}]}
    assert sorted(os.listdir(books.parent / ".beanagent")) == ["lock", "undo"]


HOLDER = """
import sys
from pathlib import Path
from beanagent.files.journal import hold_lock
with hold_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def lock_held_elsewhere(main: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process (beanagent's own lock code) holding the ledger's write lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(main)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(30)


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(books: Path) -> None:
    ledger = load_ledger(books)
    with lock_held_elsewhere(books):
        before = tree_hashes(books.parent)
        with pytest.raises(LedgerBusyError) as info:
            commit_files(ledger, {books: b"; ours\n"})
        assert tree_hashes(books.parent) == before
    assert info.value.exit_code == ExitCode.LEDGER_CHANGED == 4
    assert str(info.value) == (f"{books}: another beanagent run is writing this ledger; "
                               "nothing was written (try again when it has finished)")
    commit_files(ledger, {books: b"; ours\n"})  # released when its holder exits
    assert books.read_bytes() == b"; ours\n"


def test_the_lock_dies_with_a_killed_holder(books: Path) -> None:
    ledger = load_ledger(books)
    with lock_held_elsewhere(books) as proc:
        proc.kill()
        proc.wait(30)
        commit_files(ledger, {books: b"; ours\n"})
    assert books.read_bytes() == b"; ours\n"


def _errors(*messages: str) -> list[LedgerError]:
    return [LedgerError("/books/x.beancount", 3, m) for m in messages]


def test_a_failed_check_after_writing_puts_every_file_back(books: Path) -> None:
    second = books.parent / "b.beancount"
    ledger = load_ledger(books)
    seen: list[tuple[bytes, bytes]] = []

    def verify() -> list[LedgerError]:
        seen.append((books.read_bytes(), second.read_bytes()))  # runs on the written files
        return _errors("Balance failed", "Another")

    with pytest.raises(CheckFailedError) as info:
        commit_files(ledger, {books: b"; new a\n", second: b"; new b\n"}, verify)
    assert seen == [(b"; new a\n", b"; new b\n")]
    assert info.value.exit_code == ExitCode.CHECK_FAILED == 3
    assert str(info.value) == ("/books/x.beancount:3: the ledger fails bean-check once "
                               "written: Balance failed (and 1 more); every file was put "
                               "back as it was")
    assert books.read_text() == MAIN
    assert second.read_text() == SECOND
    assert sorted(os.listdir(books.parent)) == [".beanagent", "a.beancount", "b.beancount"]
    assert os.listdir(books.parent / ".beanagent" / "undo") == []  # nothing to undo


def test_a_check_that_crashes_also_puts_every_file_back(books: Path) -> None:
    ledger = load_ledger(books)

    def verify() -> list[LedgerError]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        commit_files(ledger, {books: b"; new a\n"}, verify)
    assert books.read_text() == MAIN
    assert Journal(books).records() == []


def test_a_passing_check_keeps_the_commit(books: Path) -> None:
    ledger = load_ledger(books)
    new = (MAIN + "2024-01-01 open Expenses:Rent\n").encode()
    commit_files(ledger, {books: new}, lambda: bean_check_here(books), ledger.errors)
    assert books.read_bytes() == new
    (record,) = Journal(books).records()
    assert record.baseline == ()


def test_errors_the_ledger_already_had_do_not_fail_the_check_after_writing(
        books: Path) -> None:
    books.write_text(MAIN + "2024-01-02 open Expenses:Food\n")  # a duplicate open
    ledger = load_ledger(books)
    assert len(ledger.errors) == 1
    new = (MAIN + "2024-01-02 open Expenses:Food\n2024-01-01 open Expenses:Rent\n").encode()
    commit_files(ledger, {books: new}, lambda: bean_check_here(books), ledger.errors)
    assert books.read_bytes() == new
    (record,) = Journal(books).records()
    assert record.baseline == ((ledger.errors[0].file, ledger.errors[0].message),)
    with pytest.raises(CheckFailedError):  # without the baseline the same error counts
        commit_files(load_ledger(books), {books: new + b"; x\n"},
                     lambda: bean_check_here(books))
    assert books.read_bytes() == new


def test_only_new_errors_fail_the_check_after_writing() -> None:
    old = [(e.file, e.message) for e in _errors("A", "A", "B")]
    assert new_errors(old, _errors("A", "B", "A")) == []
    assert new_errors(old, _errors("A", "A", "A")) == _errors("A")
    assert new_errors([], _errors("C")) == _errors("C")


def test_workflow_rolls_back_when_the_written_ledger_fails_its_check(tmp_path: Path) -> None:
    """A file matched by the ledger's `include` glob appears during the review: the sha256
    guard can't know it, the check of the written ledger does."""
    folder = tmp_path / "books"
    (folder / "extra").mkdir(parents=True)
    shutil.copy(E2E / "march.csv", folder)
    ledger = folder / "books.beancount"
    ledger.write_text((E2E / "books.beancount").read_text() + '\ninclude "extra/*.beancount"\n')
    (folder / "extra" / "old.beancount").write_text("; nothing yet\n")
    original = ledger.read_bytes()

    def add_a_bad_file_then_accept(items: list[Proposal]) -> list[str]:
        (folder / "extra" / "new.beancount").write_text(
            '2024-03-02 * "x"\n  Assets:Nowhere  1 USD\n  Equity:Opening\n')
        return [i.id for i in items]

    with pytest.raises(CheckFailedError) as info:
        reconcile(ledger, [folder / "march.csv"], OfflineAgent(),
                  load_settings(ledger, account=ACCOUNT, yes=False),
                  RecordingUI(add_a_bad_file_then_accept))
    assert info.value.exit_code == 3
    assert info.value.file == str(folder / "extra" / "new.beancount")
    assert "Assets:Nowhere" in str(info.value)
    assert "every file was put back as it was" in str(info.value)
    assert ledger.read_bytes() == original
    assert Journal(ledger).records() == []


# --- undo --------------------------------------------------------------------------------

def version(n: int) -> bytes:  # the main file after commit n
    return f"{MAIN}; {n}\n".encode()


HAND = f"{MAIN}; 1 and a hand edit\n".encode()


def _commit(main: Path, changes: dict[Path, bytes]) -> None:
    commit_files(load_ledger(main), changes)


def test_undo_restores_the_last_commit_then_steps_further_back(books: Path) -> None:
    second = books.parent / "b.beancount"
    v0 = (books.read_bytes(), second.read_bytes())
    _commit(books, {books: MAIN.encode() + b"; 1\n", second: SECOND.encode() + b"; 1\n"})
    v1 = (books.read_bytes(), second.read_bytes())
    _commit(books, {second: SECOND.encode() + b"; 2\n"})
    undone = undo_commits(books)
    assert [r.seq for r in undone.commits] == [2]
    assert undone.files == (second,)
    assert (books.read_bytes(), second.read_bytes()) == v1
    undone = undo_commits(books)  # the undo was recorded: this one steps further back
    assert [r.seq for r in undone.commits] == [1]
    assert (books.read_bytes(), second.read_bytes()) == v0
    assert format_undone(undone) == ("undid beanagent commit #1 of "
                                     f"{undone.commits[0].time}: a.beancount, b.beancount\n"
                                     "2 file(s) restored byte-identical\n")
    with pytest.raises(BadInputError, match="nothing to undo: every recorded beanagent "
                       "commit has been undone already"):
        undo_commits(books)
    kinds = [(r.seq, r.kind, r.undoes) for r in Journal(books).records()]
    assert kinds == [(1, "commit", ()), (2, "commit", ()), (3, "undo", (2,)), (4, "undo", (1,))]


def test_undo_several_steps_at_once_and_a_commit_after_an_undo(books: Path) -> None:
    second = books.parent / "b.beancount"
    v0 = (books.read_bytes(), second.read_bytes())
    _commit(books, {books: version(1)})
    _commit(books, {books: version(2), second: version(2)})
    undo_commits(books)  # takes back #2
    _commit(books, {second: version(4)})
    with pytest.raises(BadInputError, match="only 2 beanagent commit"):
        undo_commits(books, steps=3)
    undone = undo_commits(books, steps=2)  # #4, then #1 (#2 was undone already)
    assert [r.seq for r in undone.commits] == [4, 1]
    assert (books.read_bytes(), second.read_bytes()) == v0


def test_undo_refuses_when_a_file_changed_since_the_commit(books: Path) -> None:
    second = books.parent / "b.beancount"
    _commit(books, {books: version(1), second: version(1)})
    second.write_bytes(b"; 1\n; edited by hand after the commit\n")
    before = tree_hashes(books.parent)
    with pytest.raises(LedgerChangedError) as info:
        undo_commits(books)
    assert info.value.exit_code == 4
    assert info.value.file == str(second)
    assert str(info.value).startswith(f"{second}: changed since beanagent commit #1 (")
    assert tree_hashes(books.parent) == before


def test_undo_refuses_when_a_file_was_edited_between_two_commits(books: Path) -> None:
    _commit(books, {books: version(1)})
    books.write_bytes(HAND)
    _commit(books, {books: version(2)})
    with pytest.raises(LedgerChangedError, match=r"changed since beanagent commit #1 \(.*\) "
                       r"wrote it \(edited between two commits\); nothing was undone"):
        undo_commits(books, steps=2)
    assert books.read_bytes() == version(2)  # all or nothing: #2 was not undone either
    undo_commits(books)
    assert books.read_bytes() == HAND
    with pytest.raises(LedgerChangedError, match=r"changed since beanagent commit #1 \("):
        undo_commits(books)
    assert books.read_bytes() == HAND


def test_undo_with_no_history(books: Path) -> None:
    with pytest.raises(BadInputError, match="nothing to undo: no beanagent commit is "
                       "recorded beside this ledger") as info:
        undo_commits(books)
    assert info.value.exit_code == 2
    assert sorted(os.listdir(books.parent)) == ["a.beancount", "b.beancount"]


def test_undo_command(books: Path) -> None:
    second = books.parent / "b.beancount"
    _commit(books, {second: SECOND.encode() + b"; 1\n"})
    second.write_bytes(b"edited")
    proc = run_cli_in_process("undo", "a.beancount", cwd=books.parent)
    assert proc.returncode == 4
    assert proc.stderr.startswith(f"beanagent: error: {second}: changed since beanagent "
                                  "commit #1 (")
    assert proc.stderr.count("\n") == 1
    second.write_bytes(SECOND.encode() + b"; 1\n")
    proc = run_cli_in_process("undo", "a.beancount", cwd=books.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith(": b.beancount\n1 file(s) restored byte-identical\n")
    assert second.read_text() == SECOND
    proc = run_cli_in_process("undo", "a.beancount", "--steps", "2", cwd=books.parent)
    assert (proc.returncode, proc.stderr) == (2, "beanagent: error: a.beancount: nothing to "
                                                 "undo: every recorded beanagent commit has "
                                                 "been undone already\n")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
