"""New entries look like the file they go into: its indentation, its currency column, its
line endings; nothing else in the file changes. And where they go: --output, target_file,
glob includes."""

from __future__ import annotations

import difflib
import random
from pathlib import Path

import pytest

from beanagent.core.proposals import format_directive, validate
from beanagent.files.stage import Style, detect_style, remove_stage, restyle, stage_items
from beanagent.ledger.load import load_ledger
from beanagent.ledger.view import LedgerView
from beanagent.model import Proposal
from beanagent.text import split_lines
from tests.helpers import bean_check, report, run_cli_in_process, tree_hashes

ALIGNED = """\
option "operating_currency" "USD"

2024-01-01 open Assets:Bank:Checking    USD
2024-01-01 open Expenses:Food
2024-01-01 open Expenses:Household:Cleaning-Supplies
2024-01-01 open Equity:Opening

2024-01-02 * "Opening"
    Assets:Bank:Checking                                1000.00 USD
    Equity:Opening                                     -1000.00 USD

2024-01-05 * "Corner Deli" "Lunch"
    Expenses:Food                                          7.50 USD
    Assets:Bank:Checking                                  -7.50 USD

2024-01-09 * "Hardware" "Soap"
    Expenses:Household:Cleaning-Supplies                   3.25 USD
    Assets:Bank:Checking                                  -3.25 USD

2024-02-01 balance Assets:Bank:Checking                  989.25 USD
"""


def make_item(path: Path, raw: dict, pid: str = "P1") -> Proposal:
    ledger = load_ledger(path)
    spec = validate(raw, LedgerView(ledger.entries, ledger.options).accounts, {})
    return Proposal(pid, spec, format_directive(spec))


def posting(account: str, number: str | None = None) -> dict:
    return {"account": account} if number is None else \
        {"account": account, "number": number, "currency": "USD"}


def added_lines(before: str, after: str) -> list[str]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [d for d in diff if d.startswith("- ")], "an existing line changed"
    return [d[2:] for d in diff if d.startswith("+ ")]


def test_detect_style() -> None:
    assert detect_style(ALIGNED.encode()) == Style("    ", 64)
    tabbed = ALIGNED.replace("    ", "\t")
    assert detect_style(tabbed.encode()).indent == "\t"
    assert detect_style(b"") == Style()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_entry_takes_the_files_indent_and_currency_column(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "books.beancount"
    path.write_bytes(ALIGNED.replace("\n", newline).encode())
    item = make_item(path, {"kind": "transaction", "date": "2024-01-07", "payee": "Grocer",
                            "narration": "Weekly", "meta": {"bank_ref": "h:1"},
                            "postings": [posting("Equity:Opening", "-42.10"),
                                         posting("Expenses:Food", "42.10")]})
    stage = stage_items(load_ledger(path), [item])
    try:
        after = stage.main.read_bytes().decode()
        assert after.count("\r\n") == (after.count("\n") if newline == "\r\n" else 0)
        new = added_lines(ALIGNED, after.replace("\r\n", "\n"))
        postings = [ln for ln in new if ln.startswith("    ") and "USD" in ln]
        assert [ln.split() for ln in postings] == [["Equity:Opening", "-42.10", "USD"],
                                                   ["Expenses:Food", "42.10", "USD"]]
        assert all(ln.index("USD") == 64 for ln in postings)
        assert '    bank_ref: "h:1"' in new
        # the new lines sit between the 01-05 and the 01-09 entries
        text = after.replace("\r\n", "\n")
        assert text.index("Corner Deli") < text.index("Grocer") < text.index("Hardware")
        assert stage.texts["P1"] in text
        assert bean_check(stage.main) == []
    finally:
        remove_stage(stage)


def test_long_account_keeps_two_spaces_and_balance_aligns(tmp_path: Path) -> None:
    path = tmp_path / "books.beancount"
    path.write_text(ALIGNED)
    style = detect_style(ALIGNED.encode())
    long = make_item(path, {"kind": "transaction", "date": "2024-01-20", "payee": "X",
                            "narration": "", "postings": [
                                posting("Expenses:Household:Cleaning-Supplies", "123456.78"),
                                posting("Assets:Bank:Checking")]})
    text = restyle(long.text, style)
    assert text.splitlines()[1].index("USD") == 64
    assert "\n    Assets:Bank:Checking\n" in text + "\n"
    narrow = restyle(long.text, Style("  ", 20))  # the column is too close: two spaces
    assert "\n  Expenses:Household:Cleaning-Supplies  123456.78 USD\n" in narrow
    bal = make_item(path, {"kind": "balance", "date": "2024-03-01",
                           "account": "Assets:Bank:Checking", "number": "1.00",
                           "currency": "USD"})
    line = restyle(bal.text, style).splitlines()[0]
    assert line.index("USD") == 64 and line.startswith("2024-03-01 balance Assets:Bank:Checking ")


def test_unaligned_file_gets_the_printer_layout_with_its_indent(tmp_path: Path) -> None:
    text = ("2024-01-01 open Assets:Cash\n2024-01-01 open Expenses:Food\n\n"
            "2024-01-02 * \"A\"\n\tExpenses:Food 1.00 USD\n\tAssets:Cash -1.00 USD\n")
    path = tmp_path / "books.beancount"
    path.write_text(text)
    item = make_item(path, {"kind": "transaction", "date": "2024-01-03", "payee": "B",
                            "narration": "", "postings": [posting("Assets:Cash", "-2.00"),
                                                          posting("Expenses:Food")]})
    stage = stage_items(load_ledger(path), [item])
    try:
        new = added_lines(text, stage.main.read_text())
        assert "\tExpenses:Food" in new and any(ln.startswith("\tAssets:Cash ") for ln in new)
        assert stage.texts["P1"] == item.text.replace("\n  ", "\n\t")  # only the indent
        assert bean_check(stage.main) == []
    finally:
        remove_stage(stage)


# Where entries go.

SCRIPT = ("propose.transaction(date(2024, 3, 9), 'Corner Deli', 'Lunch', "
          "[('Assets:Bank:Checking', '-7.00 USD'), ('Expenses:Food:Groceries',)])\n")
# Backed by the statement's last line (-13.25 on 2024-03-08), so --yes takes it.
BACKED = ("propose.transaction(date(2024, 3, 9), 'Corner Deli', 'Lunch', "
          "[('Assets:Bank:Checking', '-13.25 USD'), ('Expenses:Food:Groceries',)], "
          "evidence=[statements[0].lines[-1]])\n")


def test_output_puts_entries_into_the_chosen_included_file(books: Path) -> None:
    main = books / "books.beancount"
    (books / "inbox.beancount").write_text("; new entries land here\n")
    main.write_text(main.read_text() + '\ninclude "inbox.beancount"\n')
    (books / "s.py").write_text(BACKED)
    before = main.read_bytes()
    proc = run_cli_in_process("run", "books.beancount", "s.py", "march.csv", "-a",
                              "Assets:Bank:Checking", "--yes", "--json", "-o",
                              "inbox.beancount", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["proposals"][0]["file"] == "inbox.beancount"
    assert main.read_bytes() == before
    assert "Corner Deli" in (books / "inbox.beancount").read_text()
    assert bean_check(main) == []


@pytest.mark.parametrize("how", ["flag", "config"])
def test_output_outside_the_ledger_is_refused(books: Path, how: str) -> None:
    (books / "s.py").write_text(SCRIPT)
    (books / "elsewhere.beancount").write_text("")
    args = ["-o", "elsewhere.beancount"] if how == "flag" else []
    if how == "config":
        (books / "beanagent.toml").write_text('target_file = "elsewhere.beancount"\n')
    before = tree_hashes(books)
    proc = run_cli_in_process("run", "books.beancount", "s.py", "--yes", *args, cwd=books)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "not part of the ledger" in errors[0]
    assert 'include "elsewhere.beancount"' in errors[0]
    assert tree_hashes(books) == before


def test_glob_includes_are_staged_as_a_whole_tree(books: Path) -> None:
    main = books / "books.beancount"
    years = books / "years"
    years.mkdir()
    (years / "2023.beancount").write_text(
        '2023-06-01 * "Old"\n  Expenses:Food:Coffee  1.00 USD\n  Assets:Bank:Checking\n')
    (years / "2022.beancount").write_text(
        '2022-06-01 * "Older"\n  Expenses:Food:Coffee  1.00 USD\n  Assets:Bank:Checking\n')
    text = main.read_text().replace("2024-01-01 open", "2022-01-01 open")
    main.write_text(text + '\ninclude "years/*.beancount"\n')
    assert bean_check(main) == []
    (books / "s.py").write_text(SCRIPT)
    before = tree_hashes(books)
    proc = run_cli_in_process("run", "books.beancount", "s.py", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["check"]["passed"] is True and len(rep["proposals"]) == 1
    assert tree_hashes(books) == before


def _render_by_lines(text: str, inserts: dict[int, list[str]]) -> tuple[str, list[int | str]]:
    """What staging writes, line by line (the rule as first written): each block before
    its line index, a blank line between it and a non-blank neighbour, a newline added to
    a last line only when something follows it."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = split_lines(text)
    if lines and not lines[-1].endswith("\n") and inserts.get(len(lines)):
        lines[-1] += newline
    out: list[str] = []
    where: list[int | str] = []
    for index in range(len(lines) + 1):
        for ident in inserts.get(index, []):
            rows = [row + newline for row in ident.split("|")]
            if out and out[-1].strip():
                rows.insert(0, newline)
            if index < len(lines) and lines[index].strip():
                rows.append(newline)
            out.extend(rows)
            where.extend([ident] * len(rows))
        if index < len(lines):
            out.append(lines[index])
            where.append(index + 1)
    return "".join(out), where


def test_splicing_writes_what_the_line_rule_says() -> None:
    """Staging copies the original between insertion points without splitting it into
    lines (files/stage._render_file); on random files (blank lines, CRLF, a last line with
    or without its newline) and insertions it writes exactly what the per-line rule writes,
    and its line map says the same of every line."""
    from types import SimpleNamespace

    from beanagent.files.placement import FileLines
    from beanagent.files.stage import _render_file

    rng = random.Random(16)
    for _ in range(400):
        newline = rng.choice(["\n", "\r\n"])
        lines = [rng.choice(["", "  ", "2024-01-01 * \"x\"", "  Assets:A  1 USD", "; c\u00e9"])
                 for _ in range(rng.randint(0, 8))]
        text = newline.join(lines) + rng.choice(["", newline])
        count = len(split_lines(text))
        inserts: dict[int, list[str]] = {}
        for n in range(rng.randint(1, 4)):
            inserts.setdefault(rng.randint(0, count), []).append(f"P{n}a|  P{n}b")
        items = {i: [SimpleNamespace(id=ident) for ident in idents]
                 for i, idents in inserts.items()}
        texts = {ident: ident.replace("|", "\n") + "\n" for ids in inserts.values()
                 for ident in ids}
        written, line_map = _render_file(FileLines(text.encode()), items, texts)  # type: ignore[arg-type]
        expected, where = _render_by_lines(text, inserts)
        assert (written, list(line_map)) == (expected.encode(), where), (text, inserts)


def _style_by_lines(text: str) -> Style:
    """detect_style's rule, a line at a time (as first written)."""
    from collections import Counter

    from beanagent.files.stage import _AMOUNT_LINE, _BALANCE_LINE

    indents: Counter[str] = Counter()
    columns: Counter[int] = Counter()
    for line in split_lines(text):
        if (m := _AMOUNT_LINE.match(line)) is not None:
            indents[m.group("indent")] += 1
            columns[m.start("currency")] += 1
        elif (m := _BALANCE_LINE.match(line)) is not None:
            columns[m.start("currency")] += 1
    if not indents:
        return Style()
    column, count = columns.most_common(1)[0]
    return Style(indents.most_common(1)[0][0],
                 column if count >= 3 and count * 2 >= sum(columns.values()) else None)


def test_style_found_in_one_pass_is_the_per_line_rule() -> None:
    """detect_style searches the whole text (files/stage.py); on random files of posting,
    balance and other lines (ties between columns included) it finds what a match per
    line finds."""
    rng = random.Random(7)
    shapes = ["  Assets:A   1.00 USD", "\tExpenses:B  -2 EUR", "    * Assets:C 3 USD",
              "2024-01-01 balance Assets:A   10.00 USD", "2024-01-01 * \"x\"", "", "  ",
              "  ! Liabilities:X 1,000.00 USD", " \t Assets:Q 5 CHF", "  Assets:A 1 USD",
              "  Assets:Caf\u00e9  2.00 EUR", "2024-01-02 balance Assets:\u00c9pargne  1 EUR"]
    for _ in range(2000):
        lines = [rng.choice(shapes) for _ in range(rng.randint(0, 9))]
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
        assert detect_style(text.encode()) == _style_by_lines(text), text


def test_push_and_pop_lines_found_as_the_anchored_pattern_finds_them() -> None:
    """placement.uses_context (staging's and the check's test for pushtag/pushmeta
    blocks) searches for the words and looks back to the line's start; on random files it
    says what the line-anchored pattern says."""
    from beanagent.files.placement import _CONTEXT, uses_context

    rng = random.Random(16)
    shapes = [b"pushtag #a", b"  poptag #a", b"\tpushmeta x: 1", b"; pushtag", b"xpushtag",
              b"pushtags", b"popmeta x:", b"2024-01-01 open A", b" \t popmeta", b"pop", b""]
    for _ in range(5000):
        data = rng.choice([b"\n", b"\r\n"]).join(rng.choice(shapes)
                                                  for _ in range(rng.randint(0, 5)))
        assert uses_context(data) == (_CONTEXT.search(data) is not None), data
