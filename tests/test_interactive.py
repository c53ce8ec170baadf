"""Approval at a real terminal: pexpect drives `beanagent reconcile` through a pty."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

from tests.helpers import bean_check, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
ARGS = ["-m", "beanagent", "reconcile", "books.beancount", "march.csv",
        "-a", "Assets:Bank:Checking"]


def spawn(cwd: Path, *extra: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb"})
    return pexpect.spawn(sys.executable, [*ARGS, *extra], cwd=str(cwd), env=env,
                         encoding="utf-8", timeout=60, dimensions=(50, 160))


def answer_all(child: pexpect.spawn, answers: list[str]) -> None:
    for ans in answers:
        child.expect(r"Accept\? \[y/n/a/q/\?\]")
        child.sendline(ans)


def test_yes_no_then_all(books: Path) -> None:
    child = spawn(books)
    child.expect("P1")
    child.expect("Blue Bottle Coffee")  # the entry text shown before the question
    answer_all(child, ["?"])
    child.expect("y = accept")  # help, then the same question again
    answer_all(child, ["y", "n", "a"])
    child.expect("Wrote 4 entries")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = (books / "books.beancount").read_text()
    assert "2024-03-04 * \"Blue Bottle Coffee\"" in text
    assert "Acme Corp\" \"ACME CORP" not in text  # P2 was rejected
    assert "KALE & CO" in text and "2024-03-04 open Expenses:FIXME" in text
    assert bean_check(books / "books.beancount") == []


def test_quit_at_once_declines_everything(books: Path) -> None:
    before = tree_hashes(books)
    child = spawn(books)
    answer_all(child, ["q"])
    child.expect("Nothing accepted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert tree_hashes(books) == before


def test_rejecting_what_a_later_entry_needs_is_caught(books: Path) -> None:
    # Accept the KALE entry (P5) but reject the open of Expenses:FIXME (P4) it needs:
    # the re-check on the accepted set fails and nothing is written.
    before = tree_hashes(books)
    child = spawn(books)
    answer_all(child, ["y", "y", "y", "n", "y"])
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert tree_hashes(books) == before
