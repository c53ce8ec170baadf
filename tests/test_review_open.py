"""Rejecting an `open` that accepted entries need: said at the moment of rejection, with the
choice to reject those entries too or keep the open (before: every decision was lost, exit
3). A real review in a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import bean_check
from tests.test_interactive import QUESTION, finish, spawn

DEPENDS = r"P5 posts to Expenses:FIXME, which only P4 opens: without it they can't be written\."
CHOICE = r"Reject P5 too, or keep P4\? \[r/k\] "


def answer_first_three(child: object) -> None:
    for pid in ("P1", "P2", "P3"):
        child.expect(QUESTION)  # type: ignore[attr-defined]
        assert child.match.group(1) == pid  # type: ignore[attr-defined]
        child.sendline("y")  # type: ignore[attr-defined]


def test_rejecting_an_open_rejects_what_needs_it_when_asked(books: Path) -> None:
    child = spawn(books)
    answer_first_three(child)
    child.expect(QUESTION)
    assert child.match.group(1) == "P4"
    child.sendline("n")
    child.expect(DEPENDS)
    child.expect(CHOICE)
    child.sendline("r")
    child.expect(r"P5: rejected")
    child.expect(r"3 accepted, 2 rejected")
    assert finish(child) == 0  # P5 is never asked about, and the rest is written
    text = (books / "books.beancount").read_text()
    assert "Expenses:FIXME" not in text and "-1500.00 USD" in text
    assert bean_check(books / "books.beancount") == []


def test_rejecting_an_open_can_keep_it_after_all(books: Path) -> None:
    child = spawn(books)
    answer_first_three(child)
    child.expect(QUESTION)
    child.sendline("n")
    child.expect(CHOICE)
    child.sendline("k")
    child.expect(r"P4: kept")
    child.expect(QUESTION)
    assert child.match.group(1) == "P5"
    child.sendline("y")
    assert finish(child) == 0
    text = (books / "books.beancount").read_text()
    assert "open Expenses:FIXME" in text and "-13.25 USD" in text
    assert bean_check(books / "books.beancount") == []
