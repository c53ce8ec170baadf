"""Remembering reconciled statements (issue 14): a statement whose lines were all matched or
booked by a commit is recorded by its sha256 in the run's audit record, and
`reconciled_before` reads it back; the log is the shared folder's, so what it says can only
make a file look reconciled, never make anything be written."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from beanagent.runlog import reconciled
from beanagent.runlog.reconciled import read_tail, reconciled_before
from beanagent.settings import load_settings
from tests.helpers import run_cli_in_process, tree_hashes

ACCOUNT = "Assets:Bank:Checking"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def log_file(folder: Path) -> Path:
    return folder / ".beanagent" / "log" / "audit.jsonl"


def last_record(folder: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(log_file(folder).read_bytes().splitlines()[-1])
    return record


def remembered(folder: Path) -> dict[str, str]:
    ledger = folder / "books.beancount"
    return reconciled_before(ledger, load_settings(ledger))


def reconcile(folder: Path, *flags: str) -> Any:
    return run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              *flags, cwd=folder)


def test_a_statement_committed_whole_is_remembered(books: Path) -> None:
    statement = sha(books / "march.csv")
    assert remembered(books) == {}
    proc = reconcile(books, "--yes")
    assert proc.returncode == 0, proc.stderr
    record = last_record(books)
    assert record["committed"] and record["reconciled"] == [statement]
    assert record["statements"][0]["reconciled"] is True
    [(key, when)] = remembered(books).items()
    assert key == statement and f"run {record['run']}" in when
    # A second look: every line is in the ledger now, so even a dry run says so.
    proc = reconcile(books, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert last_record(books)["reconciled"] == [statement]


def test_a_dry_run_with_lines_missing_remembers_nothing(books: Path) -> None:
    proc = reconcile(books, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    record = last_record(books)
    assert record["reconciled"] == [] and record["statements"][0]["reconciled"] is False
    assert remembered(books) == {}


PARTIAL = """\
for st in statements:
    for line in engine.match(st).missing:
        guess = engine.suggest(st, line)
        other = "Equity:Opening" if line.amount == -1500 else (
            guess.account if guess.account != "Expenses:FIXME" else "Expenses:Food:Coffee")
        propose.transaction(line.date, guess.payee, line.description,
                            [(st.account, line.amount, st.currency), (other,)],
                            evidence=[line], meta=engine.bank_meta(st, line),
                            confidence=1, reason="test")
"""


def test_a_partial_commit_is_not_remembered(books: Path) -> None:
    # The rent line booked to Equity: the proof flags it, and --yes never accepts a
    # flagged proposal, so the rent line stays unbooked while the rest is committed.
    (books / "partial.py").write_text(PARTIAL)
    proc = run_cli_in_process("run", "books.beancount", "partial.py", "march.csv", "-a",
                              ACCOUNT, "--yes", cwd=books)
    assert proc.returncode == 0, proc.stderr
    record = last_record(books)
    assert record["committed"] and len(record["review"]["accepted"]) < len(record["proposals"])
    assert record["reconciled"] == [] and remembered(books) == {}


def test_a_changed_file_with_the_same_name_is_new(books: Path) -> None:
    assert reconcile(books, "--yes").returncode == 0
    before = sha(books / "march.csv")
    assert before in remembered(books)
    with (books / "march.csv").open("a") as f:
        f.write("2024-03-09,SQ *BLUE BOTTLE COFFEE,-4.50,2841.23\n")
    assert sha(books / "march.csv") not in remembered(books)


def test_off_remembers_nothing(books: Path) -> None:
    (books / "beanagent.toml").write_text('audit_log = "off"\n')
    assert reconcile(books, "--yes").returncode == 0
    assert remembered(books) == {}


def test_forged_and_garbage_lines_are_ignored_and_write_nothing(books: Path) -> None:
    statement = sha(books / "march.csv")
    ledger = str((books / "books.beancount").resolve())
    log = log_file(books)
    log.parent.mkdir(parents=True)
    lines = [
        b"\x00\xff not json at all",
        b'{"reconciled": ["' + statement.encode() + b'"]',  # torn
        json.dumps([{"ledger": ledger, "reconciled": [statement]}]).encode(),  # not an object
        json.dumps({"ledger": ledger, "reconciled": statement}).encode(),  # not a list
        json.dumps({"ledger": ledger, "reconciled": ["../../etc/passwd", statement[:-1],
                                                     statement.upper(), 7, None]}).encode(),
        json.dumps({"ledger": "/elsewhere/books.beancount", "reconciled": [statement]}).encode(),
        b"[" * 100_000 + b'"reconciled"',  # deep nesting: no RecursionError
        json.dumps({"ledger": ledger, "reconciled": [statement], "run": "\x1b[31mx",
                    "time": "\x1b]0;pwned\x07"}).encode(),
    ]
    log.write_bytes(b"\n".join(lines) + b"\n")
    # Only the last line names the statement in a well-formed way: it may make the file
    # look reconciled (the inbox would skip it; --all overrides), and its own text is not
    # what the listing shows.
    assert remembered(books) == {statement: "an earlier run"}
    before = tree_hashes(books)
    proc = reconcile(books, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert tree_hashes(books) == before  # the forged record made nothing be written
    assert last_record(books)["reconciled"] == []


def test_a_symlinked_or_huge_log_is_read_safely(books: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    statement = sha(books / "march.csv")
    ledger = str((books / "books.beancount").resolve())
    record = json.dumps({"ledger": ledger, "reconciled": [statement],
                         "run": "20250101-120000-abcdef", "time": "2025-01-01T12:00:00Z"})
    elsewhere = books.parent / "planted.jsonl"
    elsewhere.write_text(record + "\n")
    (books / ".beanagent" / "log").mkdir(parents=True)
    os.symlink(elsewhere, log_file(books))
    assert remembered(books) == {}  # never read through a link
    log_file(books).unlink()
    log_file(books).write_text(record + "\n" + "x" * 500 + "\n" + record + "\n")
    monkeypatch.setattr(reconciled, "READ_CAP", 300)  # only the tail is read
    assert list(remembered(books)) == [statement]
    assert read_tail(log_file(books), 300).startswith(b'{"ledger"')
    assert remembered(books)[statement].endswith("run 20250101-120000-abcdef")


def test_a_bare_run_skips_what_it_reconciled_and_takes_a_changed_file_again(
        books: Path) -> None:
    (books / "inbox").mkdir()
    (books / "march.csv").rename(books / "inbox" / "march.csv")
    (books / "beanagent.toml").write_text(
        f'[[statement]]\nmatch = "march.csv"\naccount = "{ACCOUNT}"\n')
    proc = run_cli_in_process("reconcile", "books.beancount", "--yes", cwd=books)
    assert proc.returncode == 0, proc.stderr
    run = last_record(books)["run"]
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert "reconciled before" in proc.stderr + proc.stdout and run in proc.stderr + proc.stdout
    with (books / "inbox" / "march.csv").open("a") as f:
        f.write("2024-03-09,SQ *BLUE BOTTLE COFFEE,-4.50,2841.23\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert "reconciled before" not in proc.stderr + proc.stdout
