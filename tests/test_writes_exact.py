"""Writes land exactly where the user thinks (issue 12): each test plays one way a write
could land somewhere else (inside a string, between an entry and its last posting), or one
way the gate's quick check and the full check after writing could disagree, against real
ledgers in temp folders, the real sandbox and the real command. After a refusal or a
rollback every file is byte-identical; after a commit the written files hold exactly the
original entries plus the approved ones."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from beanagent.agent.offline import OfflineAgent
from beanagent.agent.script import ScriptAgent
from beanagent.core.gate import gate_result
from beanagent.core.proposals import format_directive, validate
from beanagent.errors import CheckFailedError, ExitCode
from beanagent.files.commit import bean_check_here, commit_files
from beanagent.files.journal import Journal
from beanagent.files.stage import incremental_request, remove_stage, stage_items
from beanagent.ledger.load import load_entries, load_ledger, parse_ledger, to_ledger_errors
from beanagent.ledger.view import LedgerView
from beanagent.model import Decision, Ledger, Proposal, RunResult
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.helpers import RecordingUI, bean_check, report, run_cli_in_process, tree_hashes

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
BALANCE_95 = {"kind": "balance", "date": "2024-01-06", "account": "Assets:Bank",
              "number": "95.00", "currency": "USD"}


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
    proc = run_cli_in_process("reconcile", ledger.name, "st.csv", "--account", "Assets:Bank",
                              "--yes", *extra, cwd=ledger.parent)
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


# --- 2. every commit is proven: the written files hold the original entries plus the
# approved ones, nothing else ----------------------------------------------------------

CAFE = '2024-01-07 * "Cafe"\n  Assets:Bank  -2.00 USD\n  Expenses:Food\n'
MEMO = DELI + '    memo: "first line\n* second line"\n'

# What a placement bug (or any bug between the review and the disk) could write, each one
# clean for bean-check: (the user's text, the bytes written, the approved entries' texts).
WRONG_WRITES = {
    "balance-inside-the-users-memo-string": (
        HEAD + MEMO + TAIL,
        HEAD + MEMO.replace('"first line\n', f'"first line\n\n{BALANCE}\n\n') + TAIL,
        [BALANCE + "\n"]),
    "entry-inside-a-pushtag-block-gains-a-tag": (
        HEAD + "pushtag #trip\n" + DELI + "poptag #trip\n" + TAIL,
        HEAD + "pushtag #trip\n" + DELI + "\n" + CAFE + "poptag #trip\n" + TAIL,
        [CAFE]),
    "approved-entry-left-out": (HEAD + DELI + TAIL, HEAD + DELI + TAIL + "; nothing\n",
                                [BALANCE + "\n"]),
    "entry-nobody-approved": (HEAD + DELI + TAIL,
                              HEAD + DELI + "\n" + BALANCE + "\n\n" + CAFE + "\n" + TAIL,
                              [BALANCE + "\n"]),
    "users-metadata-line-dropped": (
        HEAD + DELI + '  ref: "A-17"\n' + TAIL.replace("  Assets", '  ref: "B-2"\n  Assets'),
        HEAD + DELI + "\n" + BALANCE + "\n\n" + TAIL.replace("  Assets",
                                                           '  ref: "B-2"\n  Assets'),
        [BALANCE + "\n"]),
    "users-entries-reordered": (
        HEAD + DELI + TAIL,
        HEAD.replace("2024-01-01 open Expenses:Food\n2024-01-01 open Equity:Opening\n",
                     "2024-01-01 open Equity:Opening\n2024-01-01 open Expenses:Food\n")
        + DELI + "\n" + BALANCE + "\n\n" + TAIL,
        [BALANCE + "\n"]),
}


@pytest.mark.parametrize("load", [parse_ledger, load_ledger], ids=["parsed", "loaded"])
@pytest.mark.parametrize("attack", list(WRONG_WRITES))
def test_a_write_that_is_not_exactly_the_approved_one_is_rolled_back(
        tmp_path: Path, attack: str, load: Callable[[Path], Ledger]) -> None:
    """Before: bean-check of the written ledger was the only check after writing, and each
    of these passes it; the commit stood. (The workflow commits with the ledger as parsed,
    whose entries the proof reuses; a fully loaded one is parsed again.)"""
    original, wrong, approved = WRONG_WRITES[attack]
    scratch = tmp_path / "scratch.beancount"
    scratch.write_text(wrong)
    assert bean_check(scratch) == []  # bean-check alone would let it through
    ledger = books_with(tmp_path, original)
    loaded = load(ledger)
    before = tree_hashes(ledger.parent)
    with pytest.raises(CheckFailedError) as info:
        commit_files(loaded, {ledger: wrong.encode()}, lambda: bean_check_here(ledger),
                     loaded.errors, expected=approved)
    assert info.value.exit_code == ExitCode.CHECK_FAILED == 3
    assert "do not hold exactly the approved entries" in str(info.value)
    assert "every file was put back as it was" in str(info.value)
    assert tree_hashes(ledger.parent) == before
    assert Journal(ledger).records() == []


def test_the_right_write_is_proven_and_kept(tmp_path: Path) -> None:
    original = HEAD + MEMO + TAIL
    right = HEAD + MEMO + "\n" + BALANCE + "\n\n" + TAIL
    ledger = books_with(tmp_path, original)
    loaded = load_ledger(ledger)
    commit_files(loaded, {ledger: right.encode()}, lambda: bean_check_here(ledger),
                 loaded.errors, expected=[BALANCE + "\n"])
    assert ledger.read_text() == right
    (record,) = Journal(ledger).records()
    assert record.state == "done"


def test_an_edited_entry_is_proven_as_edited(tmp_path: Path) -> None:
    """The workflow hands the commit the texts the user approved, edits included: the
    write is proven against what the user saw last."""
    original = HEAD + DELI + TAIL
    statement = STATEMENT + "2024-01-07,CAFE,-2.00,93.00\n"
    ledger = books_with(tmp_path, original, statement)

    def edit(items: list[Proposal]) -> list[Decision]:
        out = []
        for item in items:
            text = item.text.replace('"CAFE"', '"Corner Cafe"', 1) \
                if item.spec.kind == "transaction" else None
            out.append(Decision(item.id, True, text))
        return out

    outcome = reconcile(ledger, [ledger.parent / "st.csv"], OfflineAgent(),
                        load_settings(ledger, account="Assets:Bank", yes=False),
                        RecordingUI(edit))
    assert outcome.committed and outcome.edited
    written = ledger.read_text()
    assert "Corner Cafe" in written
    assert bean_check(ledger) == []
    added = Counter(entries_of(written)) - Counter(entries_of(original))
    assert sum(added.values()) == 3  # the review account's open, the edited entry, the balance


# --- 4c. errors the ledger already has, whose message quotes a line number -------------

BROKEN_BELOW = """\
2024-01-21 open Assets:Broker
2024-01-21 * "Buy"
  Assets:Broker  1 HOOL {10 USD}
  Equity:Opening
2024-01-22 * "Sell at a cost nobody paid"
  Assets:Broker  -1 HOOL {12 USD}
  Equity:Opening
2024-01-25 * "Typed twice"
  Expenses:Food  3.00 USD
  Equity:Opening
2024-01-25 * "Typed twice"
  Expenses:Food  3.00 USD
  Equity:Opening
"""


def test_errors_the_ledger_had_below_the_new_entry_are_still_its_own(tmp_path: Path) -> None:
    """`No position matches` and `Duplicate entry` print the entries they concern, line
    numbers included; every entry written above them shifted those numbers. Before: the
    gate counted both as new errors (exit 3, nothing written); and past the gate the
    check after writing did the same (every commit above them rolled back)."""
    original = ('plugin "beancount.plugins.noduplicates"\n' + HEAD + DELI + TAIL
                + BROKEN_BELOW)
    ledger = books_with(tmp_path, original)
    had = bean_check(ledger)
    assert [m.split(": ", 1)[1][:20] for m in had] == ["No position matches ",
                                                       "Duplicate entry: Tra"]
    code, err = reconcile_yes(ledger)
    assert code == 0, err
    assert "Wrote 1 entry" in err
    written = ledger.read_text()
    assert Counter(entries_of(written)) == Counter(entries_of(original) + entries_of(BALANCE))
    assert [re.sub(r"\d+", "N", m) for m in bean_check(ledger)] == \
        [re.sub(r"\d+", "N", m) for m in had]


def test_the_check_after_writing_matches_old_errors_by_entry(tmp_path: Path) -> None:
    """The same, at the commit alone: the written ledger's errors, lines shifted by the
    inserted entry, are the ledger's old ones (the stage's line map says where each line
    was); a new error in the inserted entry still counts."""
    original = HEAD + DELI + TAIL + BROKEN_BELOW
    ledger = books_with(tmp_path, original)
    loaded = load_ledger(ledger)
    assert len(loaded.errors) == 1  # No position matches
    parsed = parse_ledger(ledger)
    stage = stage_items(parsed, [_balance(parsed, "95.00")])
    try:
        commit_files(loaded, stage.new_bytes, lambda: bean_check_here(ledger),
                     loaded.errors, expected=list(stage.texts.values()), stage=stage)
    finally:
        remove_stage(stage)
    assert "2024-01-06 balance" in ledger.read_text()
    ledger.write_text(original)
    loaded = load_ledger(ledger)
    stage = stage_items(parsed, [_balance(parsed, "94.00")])  # fails: a new error
    before = tree_hashes(ledger.parent)
    try:
        with pytest.raises(CheckFailedError):
            commit_files(loaded, stage.new_bytes, lambda: bean_check_here(ledger),
                         loaded.errors, expected=list(stage.texts.values()), stage=stage)
    finally:
        remove_stage(stage)
    assert tree_hashes(ledger.parent) == before


def _balance(ledger: Ledger, number: str) -> Proposal:
    view = LedgerView(ledger.entries, ledger.options)
    spec = validate({**BALANCE_95, "number": number}, view.accounts, {})
    return Proposal("P1", spec, format_directive(spec))


# --- 4. the gate's quick check equals a full check: what used to tell them apart --------

CLOSING = """\
plugin "beancount.plugins.check_closing"
option "operating_currency" "USD"

2024-01-01 open Assets:Bank USD
2024-01-01 open Assets:Gift USD
2024-01-01 open Expenses:Food
2024-01-01 open Equity:Opening

2024-01-02 * "Opening"
  Assets:Bank  100.00 USD
  Assets:Gift   50.00 USD
  Equity:Opening

2024-01-10 * "Gift card used up"
  Assets:Gift  -50.00 USD
    closing: TRUE
  Expenses:Food
"""
SPEND_GIFT = ('propose.transaction(date(2024, 1, 5), "Cafe", "", [("Assets:Gift", "-5.00 USD"),'
              ' ("Expenses:Food",)], evidence=[])\n')

AT_COST = """\
option "operating_currency" "USD"

2024-01-01 open Assets:Bank USD
2024-01-01 open Assets:Broker
2024-01-01 open Assets:Elsewhere
2024-01-01 open Equity:Opening

2024-01-02 * "Buy"
  Assets:Broker  10 HOOL {100 USD}
  Assets:Bank  -1000 USD

2024-01-20 * "Buy more"
  Assets:Broker  5 HOOL {110 USD}
  Assets:Bank  -550 USD
"""
MOVE_SHARES = ('propose.transaction(date(2024, 1, 10), "Move", "to the other broker", '
               '[("Assets:Broker", "-10 HOOL"), ("Assets:Elsewhere", "10 HOOL")], '
               'evidence=[])\n')


def _script_run(ledger: Path, code: str) -> tuple[dict[str, Any], RunResult]:
    """The same script twice: `run --dry-run --json` through the command (its report),
    then a run in this process whose reviewer approves everything (the commit path)."""
    (ledger.parent / "script.py").write_text(code)
    proc = run_cli_in_process("run", ledger.name, "script.py", "--dry-run", "--json",
                              cwd=ledger.parent)
    before = tree_hashes(ledger.parent)
    outcome = reconcile(ledger, [], ScriptAgent(code, "script.py"),
                        load_settings(ledger, yes=False), RecordingUI())
    assert tree_hashes(ledger.parent) == before
    return report(proc), outcome


@pytest.mark.parametrize("ledger_text, code, error", [
    pytest.param(CLOSING, SPEND_GIFT, "Balance failed for 'Assets:Gift'",
                 id="check_closing-plugin-zero-balance-broken"),
    pytest.param(AT_COST, MOVE_SHARES, "No position matches",
                 id="shares-moved-without-cost-break-a-later-buy-at-cost"),
])
def test_the_gate_sees_what_the_full_check_sees(tmp_path: Path, ledger_text: str, code: str,
                                                error: str) -> None:
    """Before: the quick check reused entries the check_closing plugin had changed in place
    (its `closing:` gone, so no zero balance), or booked the moved shares on their own (the
    later buy at cost was not booked again): the gate passed, the dry run's report said
    `check.passed: true`, and an approved commit rolled back after writing (exit 3)."""
    ledger = books_with(tmp_path, ledger_text)
    assert bean_check(ledger) == []
    dry, outcome = _script_run(ledger, code)
    assert dry["check"]["passed"] is False
    assert any(error in e["message"] for e in dry["check"]["errors"]), dry["check"]
    assert not outcome.committed
    assert outcome.exit_code == ExitCode.CHECK_FAILED


def test_a_ledger_with_its_own_root_names_reconciles_and_commits(tmp_path: Path) -> None:
    """Before: the inserted entries were parsed with beancount's default root names, so
    `Aktiva:Bank` was an invalid account and every proposal was dropped (exit 3), though
    bean-check of the staged ledger is clean."""
    german = ('option "name_assets" "Aktiva"\noption "name_liabilities" "Passiva"\n'
              'option "name_equity" "Eigenkapital"\noption "name_income" "Ertrag"\n'
              'option "name_expenses" "Aufwand"\n')
    original = german + (HEAD + DELI + TAIL).replace("Assets:", "Aktiva:").replace(
        "Expenses:", "Aufwand:").replace("Equity:", "Eigenkapital:")
    ledger = books_with(tmp_path, original, STATEMENT + "2024-01-07,DELI,-2.00,93.00\n")
    assert bean_check(ledger) == []
    proc = run_cli_in_process("reconcile", ledger.name, "st.csv", "--account", "Aktiva:Bank",
                              "--yes", cwd=ledger.parent)
    assert proc.returncode == 0, proc.stderr
    assert "Wrote 2 entries" in proc.stderr
    written = ledger.read_text()
    assert bean_check(ledger) == []
    added = Counter(entries_of(written)) - Counter(entries_of(original))
    (txn,), (balance,) = ([t for t in added.elements() if kind in t.split("\n")[0]]
                          for kind in (" * ", " balance "))
    assert txn.startswith("2024-01-07 * ") and re.search(r"Aktiva:Bank +-2.00 USD", txn)
    assert balance.startswith("2024-01-08 balance Aktiva:Bank") and "93.00 USD" in balance


PURE_PLUGINS = ('plugin "beancount.plugins.noduplicates"\n'
                'plugin "beancount.plugins.auto_accounts"\n'
                'plugin "beancount.plugins.implicit_prices"\n')


@pytest.mark.parametrize("ledger_text, raw, shortcut", [
    pytest.param(HEAD + DELI + TAIL, BALANCE_95, True, id="no-plugins"),
    pytest.param(PURE_PLUGINS + HEAD + DELI + TAIL, BALANCE_95, True,
                 id="plugins-that-leave-entries-alone"),
    pytest.param(CLOSING, {**BALANCE_95, "date": "2024-01-11", "account": "Assets:Gift",
                           "number": "0.00"}, False, id="check_closing-changes-entries"),
    pytest.param(AT_COST, {**BALANCE_95, "date": "2024-01-03", "number": "-1000"}, True,
                 id="at-cost-ledger-but-a-cash-account"),
    pytest.param(AT_COST, {"kind": "transaction", "date": "2024-01-10", "payee": "Move",
                           "narration": "", "postings": [
                               {"account": "Assets:Broker", "number": "-1",
                                "currency": "HOOL"},
                               {"account": "Assets:Elsewhere"}]}, False,
                 id="posting-on-an-account-holding-lots"),
])
def test_the_quick_check_is_kept_where_it_is_exact(tmp_path: Path, sandbox_for: Any,
                                                   ledger_text: str, raw: dict[str, Any],
                                                   shortcut: bool) -> None:
    """The common case keeps the incremental check (no plugins, or plugins known to leave
    entries alone, and postings on accounts without lots); the rest get the full one. The
    verdict is a full check's either way."""
    ledger = books_with(tmp_path, ledger_text)
    parsed, full = parse_ledger(ledger), load_ledger(ledger)
    view = LedgerView(parsed.entries, parsed.options)
    spec = validate(raw, view.accounts, {})
    stage = stage_items(parsed, [Proposal("P1", spec, format_directive(spec))])
    try:
        box = sandbox_for(ledger)
        readable = (stage.root, stage.source_root, ledger.parent)
        box.begin_check(stage.main, readable, incremental_request(parsed, stage))
        quick = gate_result(stage, full.errors, box.end_check())
        assert box.last_check["incremental"] is shortcut, box.last_check
        whole = gate_result(stage, full.errors, to_ledger_errors(load_entries(stage.main)[1]))
        assert quick == whole
    finally:
        remove_stage(stage)


def test_a_duplicate_across_files_stays_the_ledgers_own_error(tmp_path: Path) -> None:
    """Found while building the differential: with an entry typed twice in two files on
    the same day, beancount reports the one that sorts second, by line number. An entry
    written above the first one moves it below the second: a full check then reports the
    other one. Before: the gate's quick check (the first one's old line) passed and the
    check after writing saw a new error (exit 3, rolled back); now the quick check numbers
    such entries as the staged file does, and an error about a pair is the same error
    whichever of the two it is reported at."""
    folder = tmp_path / "books"
    folder.mkdir()
    same = '2024-03-01 * "Same"\n  Assets:Bank  -1.00 USD\n  Expenses:Food\n'
    (folder / "a.beancount").write_text(
        '2024-01-02 * "Opening"\n  Assets:Bank  100.00 USD\n  Equity:Opening\n' + same)
    (folder / "b.beancount").write_text("; typed again below\n" * 5 + same)
    ledger = folder / "books.beancount"
    ledger.write_text('plugin "beancount.plugins.noduplicates"\ninclude "a.beancount"\n'
                      'include "b.beancount"\n' + HEAD.split("\n\n")[1] + "\n")
    had = bean_check(ledger)
    assert len(had) == 1 and "b.beancount:6: Duplicate entry" in had[0]
    code = ('propose.transaction(date(2024, 2, 1), "Cafe", "", [("Assets:Bank", '
            '"-2.00 USD"), ("Expenses:Food",)], evidence=[])\n')
    settings = load_settings(ledger, yes=False, output=folder / "a.beancount")
    outcome = reconcile(ledger, [], ScriptAgent(code, "cafe.py"), settings, RecordingUI())
    assert outcome.committed
    assert outcome.gate is not None and outcome.gate.passed
    (now,) = bean_check(ledger)
    assert re.search(r"a\.beancount:\d+: Duplicate entry", now)  # the same pair, at the other
