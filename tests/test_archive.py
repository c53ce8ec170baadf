"""Archiving committed statements (issue 14): with `archive = "documents"`, a committed
statement is filed beangulp's way and a `document` directive bean-check accepts is
committed with its entries; nothing is moved that the user did not commit."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.core.proposals import ProposalError, validate
from beanagent.errors import BadInputError
from beanagent.model import Proposal
from beanagent.runlog.reconciled import reconciled_before
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, bean_check, run_cli_in_process, tree_hashes

ACCOUNT = "Assets:Bank:Checking"
FILED = Path("documents/Assets/Bank/Checking/2024-03-08.march.csv")
DIRECTIVE = f'2024-03-08 document Assets:Bank:Checking "{FILED}"'


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def inbox(books: Path) -> Path:
    """The e2e books with the statement in an inbox folder and archiving on."""
    (books / "inbox").mkdir()
    (books / "march.csv").rename(books / "inbox" / "march.csv")
    (books / "beanagent.toml").write_text('archive = "documents"\n')
    return books


def reconcile_cli(folder: Path, *flags: str) -> Any:
    return run_cli_in_process("reconcile", "books.beancount", "inbox/march.csv", "-a",
                              ACCOUNT, *flags, cwd=folder)


def test_a_committed_statement_is_filed_with_a_document_directive(inbox: Path) -> None:
    statement = sha(inbox / "inbox" / "march.csv")
    proc = reconcile_cli(inbox, "--yes")
    assert proc.returncode == 0, proc.stderr
    ledger = inbox / "books.beancount"
    assert DIRECTIVE in ledger.read_text()
    assert bean_check(ledger) == []  # the document's file exists where it says
    assert not (inbox / "inbox" / "march.csv").exists()  # moved: gone from the inbox
    assert sha(inbox / FILED) == statement
    assert statement in reconciled_before(ledger, load_settings(ledger))
    # undo takes the directive back; the filed statement stays where it is (README)
    proc = run_cli_in_process("undo", "books.beancount", cwd=inbox)
    assert proc.returncode == 0, proc.stderr
    assert "document" not in ledger.read_text() and (inbox / FILED).is_file()


def test_a_dry_run_files_nothing(inbox: Path) -> None:
    before = tree_hashes(inbox)
    proc = reconcile_cli(inbox, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    assert all(p["kind"] != "document" for p in json.loads(proc.stdout)["proposals"])
    assert tree_hashes(inbox) == before and not (inbox / "documents").exists()


def _workflow(folder: Path, answer: Any) -> tuple[Any, RecordingUI]:
    ledger = folder / "books.beancount"
    ui = RecordingUI(answer)
    outcome = reconcile(ledger, [folder / "inbox" / "march.csv"], OfflineAgent(),
                        load_settings(ledger, account=ACCOUNT), ui)
    return outcome, ui


def test_the_file_moves_only_after_the_commit(inbox: Path) -> None:
    seen: dict[str, bool] = {}

    def answer(items: list[Proposal]) -> list[str]:
        [doc] = [i for i in items if i.spec.kind == "document"]
        assert doc.text.strip() == DIRECTIVE
        seen["original"] = (inbox / "inbox" / "march.csv").is_file()
        seen["copy"] = (inbox / FILED).is_file()
        return [i.id for i in items]

    outcome, _ = _workflow(inbox, answer)
    assert outcome.committed and seen == {"original": True, "copy": True}
    assert not (inbox / "inbox" / "march.csv").exists() and (inbox / FILED).is_file()


def test_a_rejected_document_leaves_the_statement_in_place(inbox: Path) -> None:
    statement = sha(inbox / "inbox" / "march.csv")
    outcome, _ = _workflow(inbox, lambda items: [i.id for i in items
                                                 if i.spec.kind != "document"])
    assert outcome.committed and "document" not in (inbox / "books.beancount").read_text()
    assert sha(inbox / "inbox" / "march.csv") == statement
    assert not (inbox / "documents").exists()  # the copy made for the check is gone


def test_declining_everything_leaves_the_statement_in_place(inbox: Path) -> None:
    before = tree_hashes(inbox)
    outcome, _ = _workflow(inbox, lambda items: [])
    assert not outcome.committed and outcome.exit_code == 1
    assert tree_hashes(inbox) == before and not (inbox / FILED).exists()


PARTIAL = """\
for st in statements:
    for line in engine.match(st).missing:
        guess = engine.suggest(st, line)
        other = "Equity:Opening" if line.amount == -1500 else "Expenses:Food:Coffee"
        propose.transaction(line.date, guess.payee, line.description,
                            [(st.account, line.amount, st.currency), (other,)],
                            evidence=[line], meta=engine.bank_meta(st, line),
                            confidence=1, reason="test")
"""


def test_a_partly_booked_statement_stays_in_the_inbox(inbox: Path) -> None:
    # The rent line's entry is flagged (booked to Equity), so --yes leaves it out: the
    # document is committed with the rest, but the statement is not reconciled, so its
    # original stays in the inbox (the filed copy stays too: the ledger points at it).
    (inbox / "partial.py").write_text(PARTIAL)
    proc = run_cli_in_process("run", "books.beancount", "partial.py", "inbox/march.csv",
                              "-a", ACCOUNT, "--yes", cwd=inbox)
    assert proc.returncode == 0, proc.stderr
    assert "not every line of it is booked" in proc.stderr
    assert (inbox / "inbox" / "march.csv").is_file() and (inbox / FILED).is_file()
    assert bean_check(inbox / "books.beancount") == []


def test_a_taken_name_is_never_overwritten(inbox: Path) -> None:
    (inbox / FILED).parent.mkdir(parents=True)
    (inbox / FILED).write_text("someone else's file\n")
    proc = reconcile_cli(inbox, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "exists with other contents" in proc.stderr
    assert (inbox / FILED).read_text() == "someone else's file\n"
    assert "document" not in (inbox / "books.beancount").read_text()
    assert (inbox / "inbox" / "march.csv").is_file()


@pytest.mark.parametrize("setting", ["../outside", "/tmp/x", ".git/docs", ".beanagent",
                                     "link/docs"])
def test_an_archive_outside_the_ledgers_folder_is_refused(inbox: Path,
                                                          setting: str) -> None:
    outside = inbox.parent / f"{inbox.name}-outside"
    outside.mkdir()
    os.symlink(outside, inbox / "link")
    (inbox / "beanagent.toml").write_text(f"archive = {json.dumps(setting)}\n")
    before = tree_hashes(inbox)
    proc = reconcile_cli(inbox, "--yes")
    assert proc.returncode == 2, proc.stderr
    assert "archive" in proc.stderr and "running the" not in proc.stderr  # before the agent
    assert tree_hashes(inbox) == before and os.listdir(outside) == []


def test_agents_cannot_propose_a_document() -> None:
    raw = {"kind": "document", "date": "2024-03-08", "account": ACCOUNT,
           "filename": "/home/user/.ssh/id_rsa"}
    with pytest.raises(ProposalError, match="not allowed"):
        validate(raw, {}, {})


def test_a_symlinked_statement_is_not_moved(inbox: Path) -> None:
    real = inbox / "real.csv"
    (inbox / "inbox" / "march.csv").rename(real)
    os.symlink(real, inbox / "inbox" / "march.csv")
    proc = reconcile_cli(inbox, "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "symbolic link" in proc.stderr
    assert real.is_file() and os.path.islink(inbox / "inbox" / "march.csv")
    assert not (inbox / "documents").exists()


def test_archive_root_names_the_setting() -> None:
    from beanagent.files.archive import archive_root

    with pytest.raises(BadInputError, match="leads out"):
        archive_root(Path("/books/ledger.beancount"), "a/../../b")


def test_a_bare_run_files_the_inbox_and_the_next_finds_nothing_new(inbox: Path) -> None:
    with (inbox / "beanagent.toml").open("a") as f:
        f.write(f'[[statement]]\nmatch = "march.csv"\naccount = "{ACCOUNT}"\n')
    proc = run_cli_in_process("reconcile", "books.beancount", "--yes", cwd=inbox)
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(inbox / "inbox") == [] and (inbox / FILED).is_file()
    assert bean_check(inbox / "books.beancount") == []
    before = tree_hashes(inbox)
    proc = run_cli_in_process("reconcile", "books.beancount", "--yes", cwd=inbox)
    assert proc.returncode == 0, proc.stderr
    assert tree_hashes(inbox) == before  # the archive is not an inbox


def test_in_the_review_the_document_cant_be_edited_and_n_leaves_the_statement(
        inbox: Path) -> None:
    import sys

    import pexpect

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "FORCE_COLOR", "NO_COLOR"))}
    env.update({"NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb", "EDITOR": "false"})
    child = pexpect.spawn(sys.executable, ["-m", "beanagent", "reconcile", "books.beancount",
                                           "inbox/march.csv", "-a", ACCOUNT],
                          cwd=str(inbox), env=env, encoding="utf-8", timeout=60,
                          dimensions=(50, 160))
    question = r"Accept (P\d+)\? \[y/n/e/a/q/\?\] "
    statement = sha(inbox / "inbox" / "march.csv")
    while child.expect([question, pexpect.EOF]) == 0:
        if "document" not in child.before[-400:]:
            child.sendline("y")
            continue
        assert (inbox / FILED).is_file()  # copied for the check, not moved
        child.sendline("e")
        child.expect("can't be edited")
        child.expect(question)
        child.sendline("n")
    child.close()
    assert child.exitstatus == 0
    text = (inbox / "books.beancount").read_text()
    assert "Parkside" in text and "document" not in text
    assert sha(inbox / "inbox" / "march.csv") == statement
    assert not (inbox / "documents").exists()
