"""A corpus of malformed inputs: each gives one clear line naming the file (and the line
where there is one), the documented exit code, no traceback, and every file byte-identical.
Inputs that are merely unusual (UTF-16, cp1252, a note row among the transactions) work."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, run_cli_in_process, tree_hashes

MARCH = (REPO_ROOT / "tests" / "data" / "e2e" / "march.csv").read_text()
OFX = (REPO_ROOT / "ledgers" / "statements" / "bofa-checking-2025-11.ofx").read_text()
ROWS = MARCH.splitlines()


def with_row(row: str) -> str:
    return "\n".join([*ROWS[:3], row, *ROWS[3:]]) + "\n"


def huge() -> str:
    body = [f"2024-03-{1 + i % 28:02d},SHOP {i % 500},-{1 + i % 97}.{i % 100:02d}"
            for i in range(10_001)]
    return "\n".join(["Date,Description,Amount", *body]) + "\n"


def append_to_ledger(text: str) -> Callable[[Path], None]:
    def change(books: Path) -> None:
        path = books / "books.beancount"
        path.write_text(path.read_text() + text)
    return change


def latin1_include(books: Path) -> None:
    (books / "cafe.beancount").write_bytes(
        '2024-03-02 * "Caf\xe9"\n  Expenses:Food:Coffee  1.00 USD\n  Assets:Bank:Checking\n'
        .encode("latin-1"))
    append_to_ledger('\ninclude "cafe.beancount"\n')(books)


def utf16_ledger(books: Path) -> None:
    path = books / "books.beancount"
    path.write_bytes(codecs.BOM_UTF16_LE + path.read_text().encode("utf-16-le"))


def truncated_ledger(books: Path) -> None:
    path = books / "books.beancount"
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"Expenses:Food:Coffee", 400) + 9])


# (name, how to break the books folder, statement file name and bytes, needles)
LEDGER_CASES = [
    ("unclosed string",
     append_to_ledger('\n2024-03-30 * "Unclosed\n  Assets:Bank:Checking  -1 USD\n'),
     ["books.beancount:", "does not parse", "Invalid token"]),
    ("included file not UTF-8", latin1_include, ["cafe.beancount:1", "does not parse"]),
    ("UTF-16 ledger", utf16_ledger, ["books.beancount", "binary"]),
    ("truncated mid-posting", truncated_ledger, ["books.beancount:", "does not parse"]),
    ("empty ledger", lambda books: (books / "books.beancount").write_text(""),
     ["books.beancount", "no Beancount directives"]),
]

STATEMENT_CASES = [
    ("truncated OFX", "cut.ofx", OFX[:1500], ["cut.ofx:", "truncated"]),
    ("login page saved as OFX", "page.ofx", "<html><body>Please log in</body></html>\n",
     ["page.ofx", "not an OFX file"]),
    ("OFX for an account the ledger doesn't know", "other.ofx", OFX,
     ["other.ofx", "account"]),
    ("impossible date", "date.csv", with_row("2024-13-45,COFFEE,-3.00"),
     ["date.csv:4", "cannot read date"]),
    ("garbled amount", "amount.csv", with_row("2024-03-05,COFFEE,12.3.4"),
     ["amount.csv:4", "cannot read amount"]),
    ("random bytes", "noise.csv", bytes(range(256)) * 40, ["noise.csv", "binary"]),
    ("huge statement", "huge.csv", huge(), ["huge.csv", "10,000"]),
]


def assert_refused(books: Path, proc_args: list[str], needles: list[str]) -> None:
    before = tree_hashes(books)
    proc = run_cli_in_process(*proc_args, cwd=books)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("beanagent: error")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert tree_hashes(books) == before


@pytest.mark.parametrize("name, breakage, needles", LEDGER_CASES,
                         ids=[c[0] for c in LEDGER_CASES])
def test_malformed_ledger(books: Path, name: str, breakage: Callable[[Path], None],
                          needles: list[str]) -> None:
    breakage(books)
    assert_refused(books, ["reconcile", "books.beancount", "march.csv", "-a",
                           "Assets:Bank:Checking", "--yes"], needles)


@pytest.mark.parametrize("name, file, content, needles", STATEMENT_CASES,
                         ids=[c[0] for c in STATEMENT_CASES])
def test_malformed_statement(books: Path, name: str, file: str, content: str | bytes,
                             needles: list[str]) -> None:
    path = books / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    account = [] if file == "other.ofx" else ["-a", "Assets:Bank:Checking"]
    assert_refused(books, ["reconcile", "books.beancount", file, *account, "--yes"], needles)


@pytest.mark.parametrize("file, data", [
    ("utf16.csv", codecs.BOM_UTF16_LE + MARCH.encode("utf-16-le")),
    ("cp1252.csv", MARCH.replace("KALE & CO", "CAFÉ KALE & CO").encode("cp1252")),
    ("crlf.csv", MARCH.replace("\n", "\r\n").encode()),
])
def test_unusual_but_valid_statements_work(books: Path, file: str, data: bytes) -> None:
    (books / file).write_bytes(data)
    proc = run_cli_in_process("reconcile", "books.beancount", file, "-a", "Assets:Bank:Checking",
                              "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert '"lines": 6' in proc.stdout


def test_a_garbage_row_among_transactions_is_skipped_with_a_warning(books: Path) -> None:
    (books / "page.csv").write_text(with_row("<html><body>Session expired</body></html>"))
    proc = run_cli_in_process("reconcile", "books.beancount", "page.csv", "-a",
                              "Assets:Bank:Checking", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert "page.csv:4: skipped a row with no amount" in proc.stderr
    assert '"lines": 6' in proc.stdout
