"""Writes land exactly where the user thinks (issue 12): each test plays one way a write
could land somewhere else (inside a string, between an entry and its last posting), or one
way the gate's quick check and the full check after writing could disagree, against real
ledgers in temp folders, the real sandbox and the real command. After a refusal or a
rollback every file is byte-identical; after a commit the written files hold exactly the
original entries plus the approved ones."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import bean_check, run_cli

STATEMENT = ("Date,Description,Amount,Balance\n2024-01-02,OPENING,100.00,100.00\n"
             "2024-01-05,DELI,-5.00,95.00\n")
HEAD = """\
option "operating_currency" "USD"

2024-01-01 open Assets:Bank USD
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening

2024-01-02 * "Opening"
  Assets:Bank  100.00 USD
  Equity:Opening

"""
DELI = """\
2024-01-05 * "Deli"
  Assets:Bank  -5.00 USD
  Expenses:Food
"""
TAIL = """\
2024-01-20 * "Grocer"
  Assets:Bank  -7.00 USD
  Expenses:Food
"""
BALANCE = "2024-01-06 balance Assets:Bank 95.00 USD"


def books_with(tmp_path: Path, text: str, statement: str = STATEMENT) -> Path:
    folder = tmp_path / "books"
    folder.mkdir()
    (folder / "books.beancount").write_bytes(text.encode("utf-8"))
    (folder / "st.csv").write_text(statement)
    return folder / "books.beancount"


def entries_of(text: str) -> list[str]:
    """Every directive of a file's text as beancount's printer writes it (no file, no
    line): what the file means, whatever its layout."""
    from beancount.parser import parser, printer

    entries, errors, _ = parser.parse_string(text)
    assert not [e for e in errors if type(e).__name__ in ("LexerError", "ParserSyntaxError")]
    return [printer.format_entry(e) for e in sorted(entries, key=lambda e: e.meta["lineno"])]


def reconcile_yes(ledger: Path, *extra: str) -> tuple[int, str]:
    proc = run_cli("reconcile", ledger.name, "st.csv", "--account", "Assets:Bank", "--yes",
                   *extra, cwd=ledger.parent)
    return proc.returncode, proc.stderr


# --- 1. placement: never inside a string, never between an entry and its last line --------

# The entry just above the insertion point (the balance of 2024-01-06 goes before the
# 2024-01-20 entry), each ending in something a line scan mistakes for a comment or heading.
ENDINGS = {
    "memo-string-whose-last-line-starts-with-a-star": DELI + (
        '    memo: "first line of the memo\n* second line of the memo"\n'),
    "memo-string-whose-last-line-starts-with-a-semicolon": DELI + (
        '    memo: "first line\n; second line"\n'),
    "note-string-ending-in-a-comment-like-line": DELI + (
        '2024-01-05 note Assets:Bank "called the bank\n; they said fine"\n'),
    "narration-string-ending-in-a-heading-like-line": DELI + (
        '2024-01-05 * "Shop" "two\n* lines"\n'),
    "star-flagged-last-posting": DELI.replace("  Expenses:Food", "  * Expenses:Food"),
    "star-flagged-posting-with-an-amount": DELI.replace(
        "  Assets:Bank  -5.00 USD\n  Expenses:Food\n",
        "  Expenses:Food\n  * Assets:Bank  -5.00 USD\n"),
    "indented-comment-ending-the-entry": DELI + "  ; paid cash back\n",
    "bang-flagged-posting-then-an-indented-comment": DELI.replace(
        "  Expenses:Food", "  ! Expenses:Food") + "  ; to check\n",
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_an_approved_balance_never_lands_inside_the_previous_entry(tmp_path: Path,
                                                                   ending: str) -> None:
    """Before: a line scan walked up over lines starting with ';' or '*': the balance went
    inside the user's string ("Wrote 1 entry", bean-check clean, no balance, the memo
    changed) or between an entry and its last posting (the gate passed, the commit's full
    check failed: exit 3, every time)."""
    original = HEAD + ENDINGS[ending] + TAIL
    ledger = books_with(tmp_path, original)
    code, err = reconcile_yes(ledger)
    assert code == 0, err
    assert "Wrote 1 entry" in err
    written = ledger.read_text()
    assert bean_check(ledger) == []
    assert Counter(entries_of(written)) == Counter(entries_of(original) + entries_of(BALANCE))
    assert (written.index("2024-01-06 balance") > written.index(ENDINGS[ending])
            + len(ENDINGS[ending]) - 1)  # after the whole previous entry, as written
    assert ENDINGS[ending] in written and TAIL in written


def test_a_comment_block_above_the_next_entry_stays_with_it(tmp_path: Path) -> None:
    """What the line scan was for, kept: unindented comments and headings between two
    entries belong to the next one, and the new entry goes above them."""
    original = HEAD + DELI + "\n* January, second half\n; groceries below\n" + TAIL
    ledger = books_with(tmp_path, original)
    code, err = reconcile_yes(ledger)
    assert code == 0, err
    written = ledger.read_text()
    assert written.index("2024-01-06 balance") < written.index("* January, second half")
    assert "* January, second half\n; groceries below\n" + TAIL in written


def test_an_entry_never_lands_inside_a_pushtag_block(tmp_path: Path) -> None:
    """Inside pushtag/poptag the written entry would carry a tag nobody approved."""
    original = HEAD + "pushtag #trip\n" + DELI + "\n" + TAIL + "poptag #trip\n"
    ledger = books_with(tmp_path, original)
    code, err = reconcile_yes(ledger)
    assert code == 0, err
    written = ledger.read_text()
    assert written.index("2024-01-06 balance") > written.index("poptag #trip")
    assert Counter(entries_of(written)) == Counter(entries_of(original) + entries_of(BALANCE))
