"""Hostile text (issue 12): what statements, ledgers and models write can't drive the
terminal, inject markup, crash a run, re-expand the prompt template, send the API key in
clear, or give $EDITOR commands. Each test is named for its attack; the CLI runs as a
subprocess, the review in a pseudo-terminal, the editor is real."""

from __future__ import annotations

import datetime
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path

import pexpect
import pytest
from beancount.core import data
from beancount.parser import parser

from beanagent.agent.llm import LLMAgent
from beanagent.core import proposals
from beanagent.core.edit import format_for_edit
from beanagent.core.proposals import ProposalError
from beanagent.ledger.view import AccountInfo
from beanagent.model import PostingSpec, Proposal, Spec, Step, StepResult, Task
from beanagent.statements.csv import parse_csv
from beanagent.statements.model import Ref, Statement, StatementLine
from beanagent.statements.ofx import parse_ofx
from beanagent.text import visible
from beanagent.ui.console import ConsoleUI
from tests.helpers import report, run_cli_in_process, tree_hashes

ACCOUNT = "Assets:Bank:Checking"
# What must never reach a terminal as it is (tab and newline aside): C0 and C1 controls,
# DEL, bidi controls, zero-width characters, line and paragraph separators.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
TITLE = "\x1b]0;pwned\x07"  # sets the terminal window's title
ERASE = "\x1b[2K\r"  # erases the line: the balance entry being approved
HOSTILE = f"PAY {TITLE} ME{ERASE} C1 \x9b31m DESREVER \u202eLIVE\u202c END"
# Plain purchases that keep the statement looking like text (few controls per byte).
PADDING = [f"2024-03-{day},GROCERY STORE NUMBER {day} MAIN STREET SPRINGFIELD,-{day}.10"
           for day in range(10, 22)]


def write_csv(folder: Path, *descriptions: str, name: str = "march.csv") -> Path:
    rows = ["Date,Description,Amount"]
    rows += [f'2024-03-0{4 + n},"{text}",-{n + 1}07.25' for n, text in enumerate(descriptions)]
    path = folder / name
    path.write_text("\n".join(rows + PADDING) + "\n", encoding="utf-8")
    return path


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    stderr = proc.stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("beanagent: error: "), stderr
    return last


# --- 1. terminal control -----------------------------------------------------------------


def test_escape_sequences_bidi_and_separators_never_reach_the_terminal(books: Path) -> None:
    """Statement text with ESC, C1 and bidi controls, and a ledger entry with them and a
    U+2028 on the diff's context line: every one is shown as its escape, on its own line."""
    with (books / "books.beancount").open("a", encoding="utf-8") as f:
        f.write(f'\n2024-03-05 * "Cafe {TITLE}" "before \u202eevil"\n'
                "  Assets:Bank:Checking  -3.00 USD\n  Expenses:Food:Coffee\n"
                '    note: "line\u2028split"\n')
    write_csv(books, HOSTILE)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books, env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert not RAW.search(proc.stderr), repr(RAW.findall(proc.stderr))
    # the statement's text, read with its controls escaped, in the table and the diff
    assert r"PAY \x1b]0;pwned\x07 ME\x1b[2K C1 \x9b31m DESREVER \u202eLIVE\u202c END" \
        in proc.stderr
    assert r"ledger only books.beancount:45 2024-03-05 -3.00 USD Cafe \x1b]0;pwned\x07" \
        in proc.stderr
    # the diff's context line keeps its U+2028 inside it: no line without a diff prefix
    assert '\n     note: "line\\u2028split"\n' in proc.stderr
    diff = proc.stderr.split("+++ b/books.beancount\n")[1].split("Dry run")[0]
    assert all(row[:1] in ("@", "+", " ") for row in diff.splitlines()), diff


def test_review_at_a_terminal_shows_escapes_not_controls(books: Path) -> None:
    write_csv(books, HOSTILE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "FORCE_COLOR", "NO_COLOR"))}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"})
    child = pexpect.spawn(sys.executable, ["-m", "beanagent", "reconcile", "books.beancount",
                                           "march.csv", "-a", ACCOUNT], cwd=str(books),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect(r"Accept P1\? ")
    child.sendline("n")
    kept = child.expect([r"Accept P2\? ", r"\[r/k\] "]) == 1  # P1 opens what P2 needs
    if kept:
        seen = str(child.before)
        child.sendline("k")
        child.expect(r"Accept P2\? ")
        seen += str(child.before)
    else:
        seen = str(child.before)
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == (0 if kept else 1)  # the open kept is written on its own
    assert r"statement march.csv:2: 2024-03-04 -107.25 PAY \x1b]0;pwned\x07" in seen
    for payload in (TITLE, "\x1b[2K", "\x9b", "\u202e"):
        assert payload not in seen


def test_console_escapes_script_output_warnings_and_diff_lines() -> None:
    """What the console prints from scripts, warnings and the diff: a separator never
    starts a line, a control never reaches the stream."""
    out = io.StringIO()
    ui = ConsoleUI(stream=out)
    ui.warn(f"line {HOSTILE} skipped")
    ui.step(Step(1, "print(...)", StepResult(True, f"out {TITLE}\n\tnext\n", False, None, [],
                                             0.1)))
    ui.step(Step(2, "x", StepResult(False, "", False, f"Error: {ERASE}\u2028gone", [], 0.1)))
    ui.diff('--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n+2024-03-04 * "a\u2028b"\n c\x85d\n')
    text = out.getvalue()
    assert not RAW.search(text), repr(text)
    assert "\nout \\x1b]0;pwned\\x07\n" in text and "next\n" in text  # (tabs: rich's)
    assert "\nError: \\x1b[2K\\x0d\\u2028gone\n" in text
    assert '\n+2024-03-04 * "a\\u2028b"\n c\\x85d' in text


@pytest.mark.parametrize("char", ["\x9b", "\x85", "\u2028", "\u2029", "\u202e", "\u2066",
                                  "\u200e", "\u200f", "\x1b", "\x7f"])
def test_proposal_rules_refuse_what_one_printed_line_cannot_show(char: str) -> None:
    raw = {"kind": "transaction", "date": "2024-03-04", "narration": f"a{char}b",
           "postings": [{"account": ACCOUNT, "number": "-1", "currency": "USD"},
                        {"account": "Expenses:Food", "number": None, "currency": None}]}
    accounts = {a: AccountInfo(a, datetime.date(2024, 1, 1), None, (), {})
                for a in (ACCOUNT, "Expenses:Food")}
    with pytest.raises(ProposalError, match=rf"narration contains .*U\+{ord(char):04X}"):
        proposals.validate(raw, accounts, {})
    raw["narration"] = "zero\u200cwidth joiners are allowed"  # Persian needs U+200C
    assert proposals.validate(raw, accounts, {}).narration == raw["narration"]


def test_visible_escapes_every_control_format_and_separator_character() -> None:
    hidden = [chr(c) for c in range(0x110000)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp", "Cs")]
    shown = visible("".join(hidden))
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") for ch in shown)
    assert visible("a\x1bb\u202ec\U000e0041") == "a\\x1bb\\u202ec\\U000e0041"
    assert visible("x\n\ty", keep="\n\t") == "x\n\ty"
    assert visible("[bold]é 中文 👍") == "[bold]é 中文 👍"  # printable text is untouched


def test_log_and_query_show_hostile_text_escaped(books: Path) -> None:
    with (books / "books.beancount").open("a", encoding="utf-8") as f:
        f.write(f'\n2024-03-03 * "Cafe {TITLE}" "before \u202eevil"\n'
                "  Assets:Bank:Checking  -3.00 USD\n  Expenses:Food:Coffee\n")
    (books / "evil.py").write_text(
        "# a comment with \x1b[2K in it\n"
        "for t in ledger.transactions('Assets:Bank:Checking'):\n"
        "    print(t.payee, t.narration)\n", encoding="utf-8")
    run = run_cli_in_process("run", "books.beancount", "evil.py", "march.csv", "-a", ACCOUNT,
                             "--dry-run", cwd=books)
    assert run.returncode == 0, run.stderr
    assert r"Cafe \x1b]0;pwned\x07 before \u202eevil" in run.stderr
    shown = run_cli_in_process("log", "books.beancount", "last", cwd=books)
    assert shown.returncode == 0, shown.stderr
    assert r"Cafe \x1b]0;pwned\x07 before \u202eevil" in shown.stdout
    assert r"# a comment with \x1b[2K in it" in shown.stdout
    listed = run_cli_in_process("log", "books.beancount", cwd=books)
    query = run_cli_in_process("query", "books.beancount",
                               "SELECT payee, narration WHERE payee ~ 'Cafe'", cwd=books)
    assert query.returncode == 0, query.stderr
    assert r"Cafe \x1b]0;pwned\x07" in query.stdout
    for proc in (run, shown, listed, query):
        assert not RAW.search(proc.stdout + proc.stderr), repr(proc.stdout + proc.stderr)


# --- 2. markup ---------------------------------------------------------------------------


def test_markup_in_descriptions_is_shown_literally(books: Path) -> None:
    write_csv(books, "Closing [/] bracket", "[conceal]secret[/conceal] pay",
              "Transfer [ref 2025/03]")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", cwd=books, env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    table = proc.stderr.split("Proposals (")[1].split("--- a/")[0]
    for line, text in ((2, "Closing [/] bracket"), (3, "[conceal]secret[/conceal] pay"),
                       (4, "Transfer [ref 2025/03]")):
        assert f"march.csv:{line} {text}" in table
        assert f'"{text}"' in proc.stderr  # the diff


def test_markup_in_file_names_is_shown_literally(books: Path) -> None:
    """A ledger and a statement whose names are markup: shown as they are, no crash after
    the commit (the "Wrote ..." line)."""
    (books / "books.beancount").rename(books / "books[bold].beancount")
    (books / "march.csv").rename(books / "march[conceal].csv")
    proc = run_cli_in_process("reconcile", "books[bold].beancount", "march[conceal].csv", "-a",
                              ACCOUNT, "--yes", cwd=books, env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert "march[conceal].csv (csv, Assets:Bank:Checking" in proc.stderr
    assert "ledger only books[bold].beancount:" in proc.stderr
    assert "Wrote 5 entries to books[bold].beancount." in proc.stderr


# --- 3. crashes from content -------------------------------------------------------------


def test_escape_in_a_statement_line_does_not_kill_the_offline_run(books: Path) -> None:
    write_csv(books, f"ESC {ERASE}here")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    texts = [p["text"] for p in report(proc)["proposals"]]
    assert any('"ESC \\\\x1b[2K here"' in t for t in texts), texts


def test_long_ofx_memo_and_bank_ids_do_not_kill_the_offline_run(books: Path) -> None:
    """A bank's 850-character MEMO is cut to the rules' 500 with "…"; a FITID or CHECKNUM
    too long to be a metadata value is not used as one."""
    memo = "SEPA TRANSFER " + "REFERENCE 0123456789 " * 40
    text = ofx(memo=memo).replace("<FITID>F1", "<FITID>" + "F" * 600 + "<CHECKNUM>" + "7" * 600)
    (books / "march.ofx").write_text(text, encoding="utf-8")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.ofx", "--dry-run", "--json",
                              cwd=books)
    assert proc.returncode == 0, proc.stderr
    entry = next(p["text"] for p in report(proc)["proposals"] if "SEPA TRANSFER" in p["text"])
    narration = next(part for part in entry.split('"') if "SEPA TRANSFER" in part)
    assert len(narration) == proposals.MAX_TEXT and narration.endswith("…")
    assert "F" * 600 not in entry and "7" * 600 not in entry and "bank_ref" in entry


def test_hostile_ledger_payee_does_not_kill_the_offline_run(books: Path) -> None:
    """The counter-account's example comes from the ledger: a payee with an escape and
    longer than the rules allow is made to fit, as is the reason quoting it."""
    payee = f"Mega{ERASE}corp " + "Subscriptions " * 50
    with (books / "books.beancount").open("a", encoding="utf-8") as f:
        for day in ("02-10", "02-20"):
            f.write(f'\n2024-{day} * "{payee}" "MEGACORP SUBSCRIPTION"\n'
                    "  Assets:Bank:Checking  -9.99 USD\n  Expenses:Rent\n")
    write_csv(books, "MEGACORP SUBSCRIPTION")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    item = next(p for p in report(proc)["proposals"] if "MEGACORP SUB" in p["text"])
    assert "Expenses:Rent" in item["text"] and "\\\\x1b[2K" in item["text"]
    assert len(item["reason"]) <= proposals.MAX_TEXT


def ofx(trnamt: str = "-4.00", posted: str = "20240304", balamt: str = "1000.00",
        asof: str = "20240331", memo: str = "x") -> str:
    return ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:UTF-8\n\n"
            "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD\n"
            "<BANKACCTFROM><BANKID>1<ACCTID>1234-5678<ACCTTYPE>CHECKING</BANKACCTFROM>\n"
            "<BANKTRANLIST>\n"
            f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{posted}<TRNAMT>{trnamt}<FITID>F1\n"
            f"<NAME>SHOP<MEMO>{memo}</STMTTRN>\n</BANKTRANLIST>\n"
            f"<LEDGERBAL><BALAMT>{balamt}<DTASOF>{asof}</LEDGERBAL>\n"
            "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n")


@pytest.mark.parametrize("attack, fields, message", [
    ("date_9999_12_31", {"posted": "99991231"}, r"march.ofx:9: .*DTPOSTED date 9999-12-31 is "
                                                r"out of range"),
    ("date_0001_01_01", {"asof": "00010101"}, r"DTASOF date 0001-01-01 is out of range"),
    ("balamt_1e400", {"balamt": "1E+400"}, r"march.ofx:12: .*BALAMT amount '1E\+400' is out "
                                           r"of range"),
    ("trnamt_1e400", {"trnamt": "-1E+400"}, r"TRNAMT amount '-1E\+400' is out of range"),
    ("nine_decimals", {"trnamt": "-4.123456789"}, r"has more than 8 decimals"),
])
def test_ofx_numbers_and_dates_out_of_range_are_one_line(books: Path, attack: str,
                                                         fields: dict[str, str],
                                                         message: str) -> None:
    (books / "march.ofx").write_text(ofx(**fields), encoding="utf-8")
    before = tree_hashes(books)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.ofx", "--dry-run", cwd=books)
    assert proc.returncode == 2, proc.stderr
    assert re.search(message, one_error_line(proc)), proc.stderr
    assert tree_hashes(books) == before


@pytest.mark.parametrize("attack, row, flags, message", [
    ("balance_1e400", "2024-03-04,Big,-4.75,1" + "0" * 400, (),
     r"march.csv:2: amount '10000.*' in column 'Balance' is out of range"),
    ("amount_1e40", "2024-03-04,Big,-1" + "0" * 40 + ",1.00", (), r"is out of range"),
    ("nine_decimals", "2024-03-04,Tiny,-4.123456789,1.00", (), r"has more than 8 decimals"),
    ("date_9999", "12/31/9999,Far,-4.00,1.00", ("--csv-date-format", "%m/%d/%Y"),
     r"march.csv:2: date '12/31/9999' is out of range"),
])
def test_csv_numbers_and_dates_out_of_range_are_one_line(books: Path, attack: str, row: str,
                                                         flags: tuple[str, ...],
                                                         message: str) -> None:
    (books / "march.csv").write_text(f"Date,Description,Amount,Balance\n{row}\n")
    before = tree_hashes(books)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", *flags, cwd=books)
    assert proc.returncode == 2, proc.stderr
    assert re.search(message, one_error_line(proc)), proc.stderr
    assert tree_hashes(books) == before


def test_controls_in_statement_text_are_escaped_when_read(tmp_path: Path) -> None:
    """Parsers keep descriptions, payees and bank ids on one line: whitespace controls
    become a space, every other control or bidi character its visible escape."""
    path = tmp_path / "s.csv"
    path.write_text('Date,Description,Payee,Ref,Amount\n'
                    f'2024-03-04,"a\tb\nc\u2028d {ERASE}e",P\u202eQ,ID\x1b1,-1.00\n'
                    + "\n".join(f"2024-03-{d},plain text for padding here,x,y,-1.00"
                                for d in range(10, 20)) + "\n", encoding="utf-8")
    line = parse_csv(path, "s.csv").lines[0]
    assert (line.description, line.payee, line.ref.id) == (
        "a b c d \\x1b[2K e", "P\\u202eQ", "ID\\x1b1")
    path = tmp_path / "s.ofx"
    path.write_text(ofx(memo=f"memo {TITLE}\u2029more\u200fend"), encoding="utf-8")
    line = parse_ofx(path, "s.ofx")[0].lines[0]
    assert line.description == "SHOP / memo \\x1b]0;pwned\\x07 more\\u200fend"


# --- 4. the prompt template --------------------------------------------------------------


def test_prompt_template_inserts_ledger_text_once() -> None:
    """A payee named "{statements}" (or "{facts}", "{api}") in the ledger's facts is text,
    not a placeholder: the statements block is in the prompt once, after the facts."""
    line = StatementLine(Ref("march.csv", 2), datetime.date(2024, 3, 4), Decimal("-1.00"),
                         "UNIQUE-LINE {facts}")
    task = Task((Statement("march.csv", "csv", ACCOUNT, "USD", (line,)),), "Expenses:FIXME",
                facts='Frequent payees: "{statements}", "{facts}", "{api}", "{actions}"')
    prompt = LLMAgent(model="m").system_prompt(task)
    assert prompt.count("UNIQUE-LINE") == 1
    assert 'Frequent payees: "{statements}", "{facts}", "{api}", "{actions}"' in prompt
    assert "UNIQUE-LINE {facts}" in prompt


# --- 5. the API key over plain http ------------------------------------------------------


@pytest.mark.parametrize("agent, url, env", [
    ("openai", "http://example.com/v1", {"OPENAI_API_KEY": "sk-secret"}),
    ("openai", None, {"OPENAI_API_KEY": "sk-secret", "OPENAI_BASE_URL": "http://10.1.2.3/v1"}),
    ("anthropic", "http://203.0.113.5", {"ANTHROPIC_API_KEY": "sk-ant-secret"}),
    ("anthropic", None, {"ANTHROPIC_API_KEY": "sk-ant-secret",
                         "ANTHROPIC_BASE_URL": "http://localhost.example.com"}),
])
def test_api_key_is_not_sent_over_plain_http_to_a_remote_host(
        books: Path, agent: str, url: str | None, env: dict[str, str]) -> None:
    before = tree_hashes(books)
    flags = ["--model", "m"] + (["--base-url", url] if url else [])
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--agent", agent, *flags, cwd=books, env=env)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert "unencrypted" in line and "--allow-insecure-url" in line
    assert len(proc.stderr.strip().splitlines()) <= 2  # at most a "reading" line before it
    assert tree_hashes(books) == before


def test_insecure_url_is_allowed_on_loopback_or_when_asked(books: Path) -> None:
    from beanagent.agent.llm import require_safe_url

    for url in ("http://localhost:11434/v1", "http://127.0.0.1:8080", "http://127.9.9.9",
                "http://[::1]:8080/v1", "https://example.com/v1", "HTTPS://api.x.com"):
        require_safe_url(url, allow_insecure=False)
    for url in ("http://example.com", "http://10.0.0.1:11434", "http://127.0.0.1.nip.io",
                "http://127.0.0.1@evil.example", "http://[::2]", "http://0.0.0.0"):
        with pytest.raises(Exception, match="unencrypted"):
            require_safe_url(url, allow_insecure=False)
        require_safe_url(url, allow_insecure=True)
    # with the flag the run goes on to the server (here: none, so the agent fails, exit 5)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                              "--dry-run", "--agent", "openai", "--model", "m", "--base-url",
                              "http://beanagent-test.invalid/v1", "--allow-insecure-url", cwd=books,
                              env={"OPENAI_API_KEY": "sk-secret"})
    assert proc.returncode == 5, proc.stderr
    assert "unencrypted" not in proc.stderr


def test_api_error_text_from_a_server_reaches_the_terminal_escaped(books: Path) -> None:
    from tests.fake_anthropic import FakeAPI, serve
    from tests.fake_openai import error

    fake = FakeAPI([error(400, "invalid_request_error", f"bad {TITLE} request{ERASE}")])
    with serve(fake):
        proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                                  "--dry-run", "--agent", "openai", "--model", "m", "--base-url",
                                  fake.url + "/v1", cwd=books)
    assert proc.returncode == 5, proc.stderr
    assert r"HTTP 400: bad \x1b]0;pwned\x07 request\x1b[2K" in one_error_line(proc)
    assert not RAW.search(proc.stderr), repr(proc.stderr)


# --- 6. $EDITOR and modelines ------------------------------------------------------------

MODELINE = re.compile(r"(?:^|\s)(?:vi:|vim[<=>]?\d*:|Vim:|ex:)")


def modeline_lines(text: str) -> list[int]:
    """Lines (0-based) where vim would see a modeline marker."""
    return [n for n, row in enumerate(text.split("\n")) if MODELINE.search(row)]


def test_text_for_the_editor_holds_no_modeline() -> None:
    narration = "PAY vim: set shell=/tmp/x: ex: vi: Vim: set ft=x:"
    spec = Spec("transaction", datetime.date(2024, 3, 4), payee="vim: set ft=pwned:",
                narration=narration,
                postings=(PostingSpec(ACCOUNT, Decimal("-1"), "USD"),
                          PostingSpec("Expenses:Food", Decimal("1"), "USD")),
                meta=(("memo", " vim600: set ft=x:"),))
    item = Proposal("P1", spec, proposals.format_directive(spec))
    for text in (format_for_edit(item),
                 format_for_edit(item, item.text, "refused: 'vim: set ft=x:' is bad\nvi: x")):
        assert modeline_lines(text) == [], text
        rows = text.rstrip("\n").split("\n")
        inside = [n for n, row in enumerate(rows) if not row.startswith(";")]
        assert min(inside) >= 5 and max(inside) < len(rows) - 5, text
        entries, errors, _ = parser.parse_string(text)
        entry = entries[0]
        assert not errors and isinstance(entry, data.Transaction)
        assert entry.narration == narration and entry.payee == spec.payee
        assert entry.meta["memo"] == " vim600: set ft=x:"


VIM_EDITOR = """\
#!/bin/sh
# A real vim, as a user's $EDITOR: modelines on (the default, but off for root), in ex
# mode; it writes down the filetype a modeline would set, then edits and saves.
here=$(dirname "$0")
exec vim -N -u NONE -i NONE -n -es --cmd 'set modeline modelines=5' \\
  -c "call writefile([&filetype], '$here/filetype')" \\
  -c '%s/Expenses:FIXME  /Expenses:Food:Coffee/' -c 'wq' "$1"
"""


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")
def test_vim_modeline_in_a_narration_is_not_applied(books: Path) -> None:
    write_csv(books, "PAY vim: set ft=pwned:")
    (books / "editor").mkdir()
    script = books / "editor" / "vim.sh"
    script.write_text(VIM_EDITOR)
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "FORCE_COLOR", "NO_COLOR"))}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb",
                "EDITOR": shlex.quote(str(script)), "VISUAL": "false"})
    child = pexpect.spawn(sys.executable, ["-m", "beanagent", "reconcile", "books.beancount",
                                           "march.csv", "-a", ACCOUNT], cwd=str(books),
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect(r"Accept P1\? ")  # the open of Expenses:FIXME
    child.sendline("y")
    child.expect(r"Accept P2\? ")
    child.sendline("e")
    child.expect("P2 edited:")
    child.expect(r"Accept P2\? ")
    child.sendline("y")
    child.expect(r"Accept P3\? ")
    child.sendline("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (books / "editor" / "filetype").read_text().strip() != "pwned"
    text = (books / "books.beancount").read_text()
    assert '2024-03-04 ! "PAY vim: set ft=pwned:"' in text  # the narration as it was
    assert re.search(r"Expenses:Food:Coffee +107\.25 USD", text)
