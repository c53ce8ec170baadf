"""Hardening (issue 12): what a shared books folder can plant is hostile. Forged undo
records, a forged audit log line, a beanagent.toml or a `.beanagent/` folder that points
elsewhere, statements that are not files, an included folder, read-only files and folders,
symlinked includes: each attack is played against the real command (or the real write
path) on real files, and each must end in one clear line, a documented exit code and the
user's files byte-identical (or, for a symlinked include, the entries in the right file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beanagent.errors import WriteFailedError
from beanagent.files.commit import commit_files
from beanagent.ledger.load import load_ledger
from tests.helpers import RecordingUI, bean_check, run_cli, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
ACCOUNT = "Assets:Bank:Checking"
EVIL = b"#!/bin/sh\necho planted by a forged undo record\n"
VICTIM = b"the user's own file, outside the books\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def shelf(tmp_path: Path) -> Path:
    """tmp/books (the e2e ledger and its statement: the shared folder) and tmp/outside
    (the user's other files, which nothing in the books may reach)."""
    books = tmp_path / "books"
    books.mkdir()
    for name in ("books.beancount", "march.csv"):
        shutil.copy(E2E / name, books / name)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(VICTIM)
    return tmp_path


def everything(root: Path) -> dict[str, str]:
    """Every file, folder and symlink below root (beanagent's state included), with its
    bytes' sha256, link target or mode: what "nothing was touched" means."""
    out: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[key] = "-> " + os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                out[key] = f"dir {st.st_mode & 0o7777:o}"
            elif stat.S_ISREG(st.st_mode):
                out[key] = f"{st.st_mode & 0o7777:o} " + sha(path.read_bytes())
            else:
                out[key] = f"special {st.st_mode:o}"
    return out


def but_state(tree: dict[str, str]) -> dict[str, str]:
    """`everything` but beanagent's own state folder (where a failed run's audit record
    goes)."""
    return {k: v for k, v in tree.items() if ".beanagent" not in Path(k).parts}


def one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The run ended with `code` and exactly one error line, no traceback: that line."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("beanagent: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def reconcile(books: Path, *flags: str, ledger: str = "books.beancount",
              statement: str = "march.csv", env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli("reconcile", ledger, statement, "-a", ACCOUNT, *flags, cwd=books, env=env,
                   timeout=timeout)


# --- 1. forged undo records -------------------------------------------------------------


def forge_record(books: Path, changes: list[dict[str, Any]], *, state: str = "rollback",
                 kind: str = "commit", seq: int = 1, ledger: str = "books.beancount",
                 backups: dict[str, bytes] | None = None) -> Path:
    """A record.json as beanagent writes it (format 1), with whatever paths it is given."""
    folder = books / ".beanagent" / "undo" / f"{seq:06d}"
    folder.mkdir(parents=True)
    for name, data in (backups or {}).items():
        (folder / name).write_bytes(data)
    body = {"format": 1, "seq": seq, "kind": kind, "state": state,
            "time": "2024-03-09T12:00:00+00:00", "ledger": ledger,
            "files": [{"backup": None, "temp": None, **c} for c in changes],
            "undoes": [], "baseline": None}
    (folder / "record.json").write_text(json.dumps(body, indent=1))
    return folder / "record.json"


def _overwrite(path: str) -> dict[str, Any]:
    """A change that, rolled back, puts EVIL where `path` is (its bytes now: VICTIM)."""
    return {"path": path, "old_sha256": sha(EVIL), "new_sha256": sha(VICTIM),
            "backup": "0.old"}


def _escaping_paths(shelf: Path) -> dict[str, str]:
    books = shelf / "books"
    (books / "notes.txt").write_bytes(VICTIM)  # in the folder, but no file of the ledger
    (books / "sub").mkdir()
    (books / "elsewhere").symlink_to(shelf / "outside")
    return {"dotdot": "../outside/victim.txt",
            "absolute": str(shelf / "outside" / "victim.txt"),
            "through a subfolder": "sub/../../outside/victim.txt",
            "through a symlink": "elsewhere/victim.txt",
            "not a ledger file": "notes.txt"}


@pytest.mark.parametrize("how", ["dotdot", "absolute", "through a subfolder",
                                 "through a symlink", "not a ledger file"])
def test_forged_undo_record_cannot_overwrite_a_file_at_the_start_of_a_dry_run(
        shelf: Path, how: str) -> None:
    books = shelf / "books"
    path = _escaping_paths(shelf)[how]
    record = forge_record(books, [_overwrite(path)], backups={"0.old": EVIL})
    before = everything(shelf)
    line = one_error(reconcile(books, "--dry-run"), 2)
    assert line.startswith(f"beanagent: error: {record}: "), line
    assert path in line
    assert everything(shelf) == before  # no file touched, the record left alone, no lock
    assert (shelf / "outside" / "victim.txt").read_bytes() == VICTIM


def test_forged_undo_record_cannot_create_a_file_outside_the_books(shelf: Path) -> None:
    books = shelf / "books"
    planted = shelf / "outside" / "planted.sh"
    record = forge_record(books, [{"path": "../outside/planted.sh", "old_sha256": sha(EVIL),
                                   "new_sha256": None, "backup": "0.old"}],
                          backups={"0.old": EVIL})
    before = everything(shelf)
    line = one_error(reconcile(books, "--dry-run"), 2)
    assert line.startswith(f"beanagent: error: {record}: ")
    assert not planted.exists()
    assert everything(shelf) == before


def test_forged_undo_record_cannot_delete_a_file_outside_the_books(shelf: Path) -> None:
    books = shelf / "books"
    forge_record(books, [{"path": "../outside/victim.txt", "old_sha256": None,
                          "new_sha256": sha(VICTIM)}])
    before = everything(shelf)
    one_error(reconcile(books, "--dry-run"), 2)
    assert (shelf / "outside" / "victim.txt").read_bytes() == VICTIM
    assert everything(shelf) == before


def test_forged_undo_record_of_another_ledger_cannot_rewrite_this_one(shelf: Path) -> None:
    books = shelf / "books"
    ledger = books / "books.beancount"
    original = ledger.read_bytes()
    record = forge_record(books, [{"path": "books.beancount", "old_sha256": sha(EVIL),
                                   "new_sha256": sha(original), "backup": "0.old"}],
                          ledger="other.beancount", backups={"0.old": EVIL})
    before = everything(shelf)
    line = one_error(reconcile(books, "--dry-run"), 2)
    assert line.startswith(f"beanagent: error: {record}: ")
    assert ledger.read_bytes() == original
    assert everything(shelf) == before


@pytest.mark.parametrize("how", ["dotdot", "absolute", "through a symlink",
                                 "not a ledger file"])
def test_forged_undo_history_cannot_make_undo_overwrite_a_file(shelf: Path, how: str) -> None:
    books = shelf / "books"
    path = _escaping_paths(shelf)[how]
    record = forge_record(books, [_overwrite(path)], state="done", backups={"0.old": EVIL})
    before = everything(shelf)
    line = one_error(run_cli("undo", "books.beancount", cwd=books), 2)
    assert line.startswith(f"beanagent: error: {record}: ")
    assert everything(shelf) == before


# --- 2. replaying a forged log line -----------------------------------------------------


def test_replaying_a_forged_log_line_does_not_import_its_importers(shelf: Path) -> None:
    books = shelf / "books"
    marker = shelf / "outside" / "imported"
    evil = shelf / "outside" / "evil_import.py"
    evil.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
                    "CONFIG = []\n")
    assert reconcile(books, "--dry-run").returncode == 0
    log = books / ".beanagent" / "log" / "audit.jsonl"
    record = json.loads(log.read_text().splitlines()[-1])
    record["run"] = "20991231-235959-f0f0f0"  # the forged line, the newest one
    record["options"]["importers"] = str(evil)
    with log.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    before = tree_hashes(books)
    proc = run_cli("run", "books.beancount", "--from-log", "last", "--dry-run", "--json",
                   cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()  # the importers file was never imported
    assert len(json.loads(proc.stdout)["proposals"]) == len(record["proposals"]) > 0
    assert tree_hashes(books) == before


# --- 3. where the audit log goes ----------------------------------------------------------


@pytest.mark.parametrize("setting", ["../outside/victim.jsonl", "{outside}/victim.jsonl",
                                     "~/victim.jsonl", "books.beancount",
                                     "elsewhere/victim.jsonl"])
def test_audit_log_path_in_a_shared_toml_cannot_leave_the_books(
        shelf: Path, setting: str) -> None:
    books = shelf / "books"
    home = shelf / "outside"  # conftest's HOME is elsewhere: this run gets its own
    (home / "victim.jsonl").write_bytes(VICTIM)
    (books / "elsewhere").symlink_to(home)
    value = setting.format(outside=home)
    (books / "beanagent.toml").write_text(f"audit_log = {json.dumps(value)}\n")
    before = everything(shelf)
    proc = reconcile(books, "--dry-run", env={"HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("could not write the audit log") == 1, proc.stderr
    assert "beanagent.toml" in proc.stderr
    assert everything(shelf) == before  # the ledger too: no JSON appended to it


def test_audit_log_from_the_environment_may_go_anywhere(shelf: Path) -> None:
    books = shelf / "books"
    log = shelf / "outside" / "logs" / "mine.jsonl"
    (books / "beanagent.toml").write_text('audit_log = "../outside/victim.jsonl"\n')
    proc = reconcile(books, "--dry-run", env={"BEANAGENT_AUDIT_LOG": str(log)})
    assert proc.returncode == 0, proc.stderr
    assert "could not write the audit log" not in proc.stderr
    assert json.loads(log.read_text())["exit_code"] == 0
    assert not (shelf / "outside" / "victim.jsonl").exists()


def test_a_symlinked_audit_log_file_is_not_followed(shelf: Path) -> None:
    books = shelf / "books"
    (books / ".beanagent" / "log").mkdir(parents=True)
    (books / ".beanagent" / "log" / "audit.jsonl").symlink_to(shelf / "outside" / "victim.txt")
    before = everything(shelf)
    proc = reconcile(books, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("could not write the audit log") == 1, proc.stderr
    assert everything(shelf) == before


def test_a_symlinked_log_folder_is_refused(shelf: Path) -> None:
    books = shelf / "books"
    (books / ".beanagent").mkdir()
    (books / ".beanagent" / "log").symlink_to(shelf / "outside")
    before = everything(shelf)
    proc = reconcile(books, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("could not write the audit log") == 1, proc.stderr
    assert "symbolic link" in proc.stderr
    assert everything(shelf) == before


def test_a_symlinked_state_folder_is_refused_for_the_lock_and_the_journal(
        shelf: Path) -> None:
    books = shelf / "books"
    (shelf / "outside" / "state").mkdir()
    (books / ".beanagent").symlink_to(shelf / "outside" / "state")
    before = everything(shelf)
    line = one_error(reconcile(books, "--yes"), 2)
    assert line.startswith(f"beanagent: error: {books / '.beanagent'}: ")
    assert "symbolic link" in line
    assert everything(shelf) == before  # no lock, no journal, no log over there


def test_a_symlinked_undo_folder_is_refused_by_undo(shelf: Path) -> None:
    books = shelf / "books"
    assert reconcile(books, "--yes").returncode == 0
    undo = books / ".beanagent" / "undo"
    shutil.move(undo, shelf / "outside" / "undo")
    undo.symlink_to(shelf / "outside" / "undo")
    before = everything(shelf)
    line = one_error(run_cli("undo", "books.beancount", cwd=books), 2)
    assert line.startswith(f"beanagent: error: {undo}: ")
    assert everything(shelf) == before


# --- 4. permissions -----------------------------------------------------------------------


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def test_state_folders_and_files_are_private_under_umask_000(shelf: Path) -> None:
    books = shelf / "books"
    xdg = shelf / "xdg" / "state"  # neither exists yet
    with umask(0):
        assert reconcile(books, "--yes").returncode == 0
        proc = reconcile(books, "--dry-run", env={"BEANAGENT_AUDIT_LOG": "state",
                                                  "XDG_STATE_HOME": str(xdg)})
    assert proc.returncode == 0, proc.stderr
    state = books / ".beanagent"
    for folder in (state, state / "undo", state / "undo" / "000001", state / "log",
                   xdg, xdg / "beanagent", xdg / "beanagent" / "log"):
        assert mode(folder) == 0o700, folder
    for file in (state / "lock", state / "undo" / "000001" / "record.json",
                 state / "undo" / "000001" / "0.old", state / "log" / "audit.jsonl",
                 *(xdg / "beanagent" / "log").iterdir()):
        assert mode(file) == 0o600, file


# --- 5. statements that are not files; an included folder ------------------------------


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "symlink to /dev/zero", "folder"])
def test_a_statement_that_is_not_a_regular_file_is_refused_without_hanging(
        shelf: Path, kind: str) -> None:
    books = shelf / "books"
    name = "statement.csv"
    if kind == "fifo":
        os.mkfifo(books / name)
    elif kind == "/dev/zero":
        name = "/dev/zero"
    elif kind == "symlink to /dev/zero":
        (books / name).symlink_to("/dev/zero")
    else:
        (books / name).mkdir()
    before = everything(shelf)
    line = one_error(reconcile(books, "--dry-run", statement=name, timeout=60), 2)
    assert line.startswith(f"beanagent: error: {name}: "), line
    assert but_state(everything(shelf)) == but_state(before)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_an_included_folder_or_fifo_is_refused_naming_the_include(
        shelf: Path, kind: str) -> None:
    books = shelf / "books"
    ledger = books / "books.beancount"
    if kind == "folder":
        (books / "somedir").mkdir()
    else:
        os.mkfifo(books / "somedir")
    with ledger.open("a") as fh:
        fh.write('include "somedir"\n')
    lineno = ledger.read_text().count("\n")
    before = everything(shelf)
    line = one_error(reconcile(books, "--dry-run", timeout=60), 2)
    assert line.startswith(f'beanagent: error: books.beancount:{lineno}: include "somedir"'), \
        line
    assert but_state(everything(shelf)) == but_state(before)


# --- 6. read-only files and folders -------------------------------------------------------


def _workflow(books: Path, ui: RecordingUI) -> Any:
    from beanagent.agent.offline import OfflineAgent
    from beanagent.settings import load_settings
    from beanagent.workflow import reconcile as run_reconcile

    ledger = books / "books.beancount"
    return run_reconcile(ledger, [books / "march.csv"], OfflineAgent(),
                         load_settings(ledger, account=ACCOUNT), ui)


def test_a_read_only_ledger_file_is_not_overwritten(shelf: Path) -> None:
    books = shelf / "books"
    ledger = books / "books.beancount"
    ledger.chmod(0o444)
    before = everything(shelf)
    line = one_error(reconcile(books, "--yes"), 6)
    assert line.startswith(f"beanagent: error: {ledger}: "), line
    assert "read-only" in line
    ui = RecordingUI()
    with pytest.raises(WriteFailedError, match="read-only"):
        _workflow(books, ui)
    assert ui.asked == [] and ui.summaries == []  # refused before anything was asked
    assert but_state(everything(shelf)) == but_state(before)


def test_a_read_only_folder_is_refused_before_anything_is_asked(shelf: Path) -> None:
    books = shelf / "books"
    before = everything(shelf)
    books.chmod(0o555)
    try:
        line = one_error(reconcile(books, "--yes"), 6)
        ui = RecordingUI()
        with pytest.raises(WriteFailedError, match="read-only"):
            _workflow(books, ui)
    finally:
        books.chmod(0o755)
    assert str(books) in line and "read-only" in line, line
    assert ui.asked == []
    assert everything(shelf) == before  # not even a state folder


# --- 7. symlinked includes ----------------------------------------------------------------

MAIN = """\
option "title" "Test books"
option "operating_currency" "USD"
include "bank.beancount"
"""


def _split_books(books: Path, target: Path) -> Path:
    """The e2e ledger with its entries in an included file reached through a symlink:
    books.beancount includes bank.beancount -> `target`."""
    ledger = books / "books.beancount"
    text = ledger.read_text()
    body = text[text.index("\n2024-01-01 open"):]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    ledger.write_text(MAIN)
    (books / "bank.beancount").symlink_to(os.path.relpath(target, books))
    return ledger


def test_a_symlinked_include_gets_the_entries_and_stays_a_symlink(shelf: Path) -> None:
    books = shelf / "books"
    target = books / "real" / "bank.beancount"
    ledger = _split_books(books, target)
    link = books / "bank.beancount"
    old = target.read_bytes()
    proc = reconcile(books, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["committed"] is True
    assert link.is_symlink() and os.readlink(link) == "real/bank.beancount"
    assert len(target.read_bytes()) > len(old)
    assert b"bank_ref" in target.read_bytes()  # the new entries went into the target
    assert bean_check(ledger) == []
    proc = run_cli("undo", "books.beancount", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and target.read_bytes() == old


def test_a_symlinked_include_leading_out_of_the_books_is_refused(shelf: Path) -> None:
    books = shelf / "books"
    target = shelf / "outside" / "bank.beancount"
    _split_books(books, target)
    link = books / "bank.beancount"
    before = everything(shelf)
    line = one_error(reconcile(books, "--yes"), 6)
    assert line.startswith(f"beanagent: error: {link}: "), line
    assert str(target) in line
    assert but_state(everything(shelf)) == but_state(before)
    assert link.is_symlink()


def test_output_may_name_a_symlinked_include_outside_the_books(shelf: Path) -> None:
    books = shelf / "books"
    target = shelf / "outside" / "bank.beancount"
    ledger = _split_books(books, target)
    link = books / "bank.beancount"
    loaded = load_ledger(ledger)
    new = target.read_bytes() + b"\n2024-03-20 * \"Bakery\"\n  Assets:Bank:Checking  -2.00 USD\n" \
                                b"  Expenses:Food:Groceries\n"
    with pytest.raises(WriteFailedError):
        commit_files(loaded, {link: new})
    assert commit_files(loaded, {link: new}, output=link) == [link]
    assert link.is_symlink() and target.read_bytes() == new
