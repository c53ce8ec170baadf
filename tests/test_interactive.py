"""The review at a real terminal: pexpect drives `beanagent reconcile` through a pty.

The editor is a small Python script written into the test's folder: it follows a plan (one
step per time it is opened), records what it was given, and rewrites the file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.helpers import bean_check, tree_hashes

ARGS = ["-m", "beanagent", "reconcile", "books.beancount", "march.csv",
        "-a", "Assets:Bank:Checking"]
QUESTION = r"Accept (P\d+)\? \[y/n/e/a/q/\?\] "
REFUSED = r"Edit again, keep it as it was, or reject it\? \[e/k/n/\?\] "

EDITOR = """\
import json, pathlib, re, sys
here = pathlib.Path(__file__).parent
plan = json.loads((here / "plan.json").read_text())
step = plan.pop(0)
(here / "plan.json").write_text(json.dumps(plan))
path = pathlib.Path(sys.argv[-1])
text = path.read_text()
seen = sorted(here.glob("seen-*.txt"))
(here / f"seen-{len(seen)}.txt").write_text(text)
if step == "fail":
    sys.exit(1)
if step != "quit":  # "quit": leave without saving
    for old, new in step:
        text = re.sub(old, new, text)
    path.write_text(text)
"""


def ledger_hashes(folder: Path) -> dict[str, str]:
    """The ledger and statement files' hashes (not the editor's files or the run log)."""
    return {k: v for k, v in tree_hashes(folder).items()
            if not k.startswith(("editor/", ".beanagent/"))}


def spawn(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("ANTHROPIC_", "FORCE_COLOR", "NO_COLOR"))}
    full.update({"NO_COLOR": "1", "COLUMNS": "160", "TERM": "dumb"})
    full.update(env or {})
    return pexpect.spawn(sys.executable, [*ARGS, *extra], cwd=str(cwd), env=full,
                         encoding="utf-8", timeout=60, dimensions=(50, 160))


def editor(folder: Path, *plan: object) -> dict[str, str]:
    """EDITOR for a child: runs the plan's steps, one per opening."""
    (folder / "editor").mkdir()
    script = folder / "editor" / "edit.py"
    script.write_text(EDITOR)
    (folder / "editor" / "plan.json").write_text(json.dumps(list(plan)))
    return {"EDITOR": f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}",
            "VISUAL": "false"}  # $EDITOR comes first


def seen(folder: Path) -> list[str]:
    return [p.read_text() for p in sorted((folder / "editor").glob("seen-*.txt"))]


def answer(child: pexpect.spawn, *answers: str) -> None:
    for ans in answers:
        child.expect(QUESTION)
        child.sendline(ans)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus)


def test_table_help_yes_no_then_all(books: Path) -> None:
    child = spawn(books)  # TERM=dumb: rich assumes 80 columns, the table fits them
    child.expect(r"Proposals \(5\) 1 marked ! \(flagged, or confidence below 0\.6\)")
    child.expect(r"date +payee +amount +account +conf +statement")
    child.expect(r"P1 +2024-03-04 +Blue Bo.* +-4\.75 USD +Expenses:Food:Coffee +1\.00 "
                 r"+march\.csv")
    child.expect(r"P4 +2024-03-04 +open +Expenses:FIXME +no statem")
    child.expect(r"P5 ! +2024-03-08 +KALE &.* +-13\.25 USD +Expenses:FIXME +0\.00 "
                 r"+march\.csv")
    child.expect(r"\+\+\+ b/books.beancount")  # then the diff
    child.expect(r"P1 1/5 → books.beancount\r\n")  # then each entry, one at a time
    child.expect('2024-03-04 \\* "Blue Bottle Coffee"')
    child.expect(r"statement march.csv:4: 2024-03-04 -4.75 SQ \*BLUE BOTTLE COFFEE")
    answer(child, "?")
    child.expect(r"e +edit it in your editor")  # help, then the same question again
    child.expect(r"Accept P1\? ")
    child.sendline("y")
    answer(child, "n", "a")
    child.expect(r"4 accepted, 1 rejected; balance Assets:Bank:Checking on 2024-03-09: "
                 r"statement 2845\.73, ledger 341\.23, difference 2504\.50 USD")
    child.expect("Wrote 4 entries")
    assert finish(child) == 0
    text = (books / "books.beancount").read_text()
    assert "2024-03-04 * \"Blue Bottle Coffee\"" in text
    assert "Acme Corp\" \"ACME CORP" not in text  # P2 was rejected
    assert "KALE & CO" in text and "2024-03-04 open Expenses:FIXME" in text
    assert bean_check(books / "books.beancount") == []


def test_flagged_entries_are_highlighted_when_asked(books: Path) -> None:
    child = spawn(books)
    answer(child, "y", "y", "y", "y")
    child.expect(r"P5 5/5 → books.beancount  ! flagged for review  low confidence 0\.00")
    answer(child, "n")
    child.expect("4 accepted, 1 rejected")
    assert finish(child) == 0


def test_quit_at_once_declines_everything(books: Path) -> None:
    before = ledger_hashes(books)
    child = spawn(books)
    answer(child, "q")
    child.expect("Nothing accepted")
    assert finish(child) == 1
    assert ledger_hashes(books) == before


def test_rejecting_what_a_later_entry_needs_is_caught(books: Path) -> None:
    # Reject the open of Expenses:FIXME (P4) that the KALE entry (P5) needs: said at once,
    # with a choice (an unknown answer gets the help); rejecting P5 too writes the rest.
    # (Before, P5 was accepted, the re-check failed and every decision was lost: exit 3.)
    child = spawn(books)
    answer(child, "y", "y", "y", "n")
    child.expect("P5 posts to Expenses:FIXME, which only P4 opens")
    child.expect(r"Reject P5 too, or keep P4\? \[r/k\] ")
    child.sendline("x")
    child.expect("r  reject P5 as well")
    child.expect(r"Reject P5 too, or keep P4\? \[r/k\] ")
    child.sendline("r")
    child.expect("3 accepted, 2 rejected")
    assert finish(child) == 0
    assert "Expenses:FIXME" not in (books / "books.beancount").read_text()
    assert bean_check(books / "books.beancount") == []


def test_edit_changes_what_is_committed(books: Path) -> None:
    env = editor(books, [["Expenses:Food:Coffee", "Expenses:Food:Groceries"]])
    child = spawn(books, env=env)
    answer(child, "e")
    child.expect("P1 edited:")
    child.expect(r"- +Expenses:Food:Coffee +4\.75 USD")
    child.expect(r"\+ +Expenses:Food:Groceries +4\.75 USD")
    answer(child, "y", "a")
    child.expect("checking the staged ledger again")
    child.expect(r"5 accepted \(1 edited\), 0 rejected; balance Assets:Bank:Checking")
    child.expect("Wrote 5 entries")
    assert finish(child) == 0
    given = seen(books)
    assert len(given) == 1 and given[0].startswith("; P1: edit this transaction")
    assert '2024-03-04 * "Blue Bottle Coffee"' in given[0]
    text = (books / "books.beancount").read_text()
    entry = text.split('2024-03-04 * "Blue Bottle Coffee" "SQ *BLUE BOTTLE COFFEE"\n')[1]
    entry = entry.split("\n\n")[0]
    assert re.fullmatch(r'  bank_ref: "[^"]+"\n  Assets:Bank:Checking +-4\.75 USD\n'
                        r"  Expenses:Food:Groceries +4\.75 USD", entry), entry
    assert "; P1" not in text  # the editor's header never reaches the ledger
    assert bean_check(books / "books.beancount") == []


def test_unbalanced_edit_is_refused_and_the_original_kept(books: Path) -> None:
    env = editor(books, [[r"(Expenses:Food:Coffee\s+)4\.75", r"\g<1>5.75"]])
    child = spawn(books, env=env)
    answer(child, "e")
    child.expect("edit not accepted: transaction does not balance: postings sum to 1.00 USD")
    child.expect(REFUSED)
    child.sendline("?")
    child.expect("k +keep the entry as it was")
    child.expect(REFUSED)
    child.sendline("k")
    child.expect("P1: kept as it was")
    answer(child, "a")  # P2, and the rest
    child.expect(r"5 accepted, 0 rejected")
    assert finish(child) == 0
    text = (books / "books.beancount").read_text()
    assert re.search(r"Expenses:Food:Coffee +4\.75 USD", text) and "5.75" not in text
    assert bean_check(books / "books.beancount") == []


def test_unknown_account_then_edit_again_keeps_the_attempt(books: Path) -> None:
    env = editor(books, [["Expenses:Food:Coffee", "Expenses:Food:Kale"]],
                 [["Expenses:Food:Kale", "Expenses:Food:Groceries"]])
    child = spawn(books, env=env)
    answer(child, "e")
    child.expect("edit not accepted: account Expenses:Food:Kale does not exist in the ledger")
    child.expect(REFUSED)
    child.sendline("e")
    child.expect("P1 edited:")
    answer(child, "y", "q")
    child.expect(r"1 accepted \(1 edited\), 4 rejected")
    child.expect("Wrote 1 entry")
    assert finish(child) == 0
    _, second = seen(books)
    assert "; NOT ACCEPTED: account Expenses:Food:Kale does not exist" in second
    assert "Expenses:Food:Kale" in second.split("NOT ACCEPTED")[1]  # the attempt, kept
    text = (books / "books.beancount").read_text()
    assert re.search(r"Expenses:Food:Groceries +4\.75 USD", text)
    assert "Kale" not in text.split('"Blue Bottle Coffee" "SQ')[1]
    assert bean_check(books / "books.beancount") == []


def test_failed_editor_unsaved_edit_and_reject(books: Path) -> None:
    """Quitting the editor without saving changes nothing; an editor that fails is an
    error to choose after; a second directive is refused, and `n` rejects the entry."""
    before = ledger_hashes(books)
    env = editor(books, "quit", "fail", [[r"\Z", '\n2024-03-05 * "Extra"\n']])
    child = spawn(books, env=env)
    answer(child, "e")
    child.expect("P1: not saved, unchanged")
    answer(child, "e")
    child.expect("edit not accepted: the editor failed")
    child.expect(REFUSED)
    child.sendline("e")
    child.expect(r"edit not accepted: write exactly one transaction entry \(found 2")
    child.expect(REFUSED)
    child.sendline("n")
    answer(child, "q")  # P2 and the rest
    child.expect("Nothing accepted")
    assert finish(child) == 1
    assert len(seen(books)) == 3
    assert ledger_hashes(books) == before


# --- colour, escape codes and progress ------------------------------------------------

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(text: str) -> list[str]:
    """SGR sequences that set a colour (bold, dim and resets are not colours)."""
    out = []
    for params in _SGR.findall(text):
        codes = [int(p) for p in params.split(";") if p]
        if any(30 <= c <= 49 or 90 <= c <= 107 for c in codes):
            out.append(params)
    return out


def test_non_terminal_output_is_plain(books: Path) -> None:
    """stderr to a pipe: no escape codes, no spinner frames, even with TERM set and
    NO_COLOR unset; each stage is one plain line."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "FORCE_COLOR", "NO_COLOR", "TTY_"))}
    env.update({"TERM": "xterm-256color", "COLUMNS": "160"})
    proc = subprocess.run([sys.executable, *ARGS, "--dry-run"], cwd=books, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr
    assert not re.search("[\u2800-\u28ff]", proc.stderr)  # rich's "dots" spinner frames
    assert "… reading books.beancount\n" in proc.stderr
    assert "… checking the staged ledger (bean-check)\n" in proc.stderr
    # COLUMNS=160: the whole table, nothing cut
    assert re.search(r"\nP1 +2024-03-04 +Blue Bottle Coffee +-4\.75 USD +Expenses:Food:Coffee "
                     r"+1\.00 +march\.csv:4 SQ \*BLUE BOTTLE COFFEE *\n", proc.stderr)
    assert re.search(r"\nP5 ! +2024-03-08 +KALE & CO, OAKLAND +-13\.25 USD +Expenses:FIXME "
                     r"+0\.00 +march\.csv:7 KALE & CO, OAKLAND *\n", proc.stderr)


@pytest.mark.parametrize("no_color", [True, False])
def test_terminal_spinner_and_no_color(books: Path, no_color: bool) -> None:
    """At a terminal the stages spin (and the cursor comes back); NO_COLOR removes every
    colour but not the spinner. Without NO_COLOR the same run is coloured."""
    env = {"TERM": "xterm-256color"}
    if not no_color:
        env["NO_COLOR"] = ""  # rich: an empty NO_COLOR is unset
    child = spawn(books, "--dry-run", env=env)
    child.expect(pexpect.EOF)
    child.close()
    out = str(child.before)
    assert child.exitstatus == 0, out
    assert re.search("[\u2800-\u28ff] .*reading books.beancount", out)
    assert out.rfind("\x1b[?25h") > out.rfind("\x1b[?25l") >= 0  # cursor shown again
    assert re.search(r"… reading books.beancount \(\d+\.\d s\)", out)
    assert "Dry run: nothing written." in out
    assert bool(colour_codes(out)) is not no_color


def test_spinner_is_cleared_when_the_run_fails(books: Path) -> None:
    (books / "march.csv").write_text("no,dates,here\n1,2,3\n")
    child = spawn(books, "--dry-run", env={"TERM": "xterm-256color"})
    child.expect(pexpect.EOF)
    child.close()
    out = str(child.before)
    assert child.exitstatus == 2, out
    assert out.rfind("\x1b[?25h") > out.rfind("\x1b[?25l") >= 0
    assert out.rstrip().splitlines()[-1].startswith("beanagent: error:")
