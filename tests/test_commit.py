"""Committing approved changes: exact bytes, atomic, mode kept, and nothing at all written
when any ledger file moved since it was loaded (also through the whole workflow)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.commit import check_unchanged, commit_files
from beanagent.errors import ExitCode, LedgerChangedError
from beanagent.load import load_ledger
from beanagent.stage import Item
from beanagent.workflow import Options, reconcile
from tests.helpers import RecordingUI, bean_check, tree_hashes

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
    assert sorted(os.listdir(folder)) == ["a.beancount", "b.beancount"]  # no temp files left


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
    assert sorted(os.listdir(books.parent)) == ["a.beancount", "b.beancount"]


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
        check_unchanged(ledger, [books])
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
    check_unchanged(ledger, sorted(ledger.files))  # no exception
    assert set(ledger.files) == {books, books.parent / "b.beancount"}


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

    def edit_then_accept(items: list[Item]) -> list[str]:
        ledger.write_bytes(edited)
        return [i.id for i in items]

    ui = RecordingUI(edit_then_accept)
    with pytest.raises(LedgerChangedError) as info:
        reconcile(ledger, [e2e / "march.csv"], OfflineAgent(),
                  Options(account=ACCOUNT, yes=False), ui)
    assert info.value.exit_code == 4
    assert info.value.file == str(ledger.resolve())
    assert len(ui.asked) == 1 and len(ui.asked[0]) >= 1
    assert ledger.read_bytes() == edited
    assert sorted(os.listdir(e2e)) == ["books.beancount", "march.csv"]


def test_workflow_declining_everything_writes_nothing(e2e: Path) -> None:
    before = tree_hashes(e2e)
    ui = RecordingUI(lambda items: [])
    outcome = reconcile(e2e / "books.beancount", [e2e / "march.csv"], OfflineAgent(),
                        Options(account=ACCOUNT, yes=False), ui)
    assert outcome.exit_code == ExitCode.DECLINED == 1
    assert outcome.accepted == []
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
                        Options(account=ACCOUNT, yes=False), ui)
    assert outcome.committed is True
    assert outcome.written == [ledger.resolve()]
    assert outcome.accepted == [i.id for i in ui.asked[0]]
    text = ledger.read_text()
    assert text.startswith(original.rstrip("\n"))
    assert '2024-03-04 * "Blue Bottle Coffee"' in text
    assert bean_check(ledger) == []
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o640
    assert sorted(os.listdir(e2e)) == ["books.beancount", "march.csv"]
