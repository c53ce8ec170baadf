"""The command line as a user meets it: exit codes, one-line errors, untouched files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from beanagent.cli import app
from tests.helpers import bean_check, report, run_cli, run_cli_in_process, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"


def assert_one_line_error(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_help_lists_commands_and_examples() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("reconcile", "run", "query", "doctor", "Exit codes"):
        assert word in result.output
    result = CliRunner().invoke(app, ["reconcile", "--help"])
    assert "Examples" in result.output and "--closing-balance" in result.output


def test_dry_run_json_report_contract(books: Path) -> None:
    before = tree_hashes(books)
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                              "Assets:Bank:Checking", "--dry-run", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert set(rep) == {"version", "ledger", "statements", "matches", "proposals", "proof",
                        "unmatched_ledger", "balance", "check", "committed", "agent",
                        "findings", "error"}
    assert rep["error"] is None  # a run that fails (exit 2-6) says why here
    assert rep["findings"] == []  # with statements, the ledger-only checks don't run
    st = rep["statements"][0]
    assert st == {"file": "march.csv", "format": "csv", "account": "Assets:Bank:Checking",
                  "currency": "USD", "lines": 6, "start": "2024-03-01", "end": "2024-03-08",
                  "closing_balance": "2845.73 USD"}
    assert [m["statement"]["line"] for m in rep["matches"]] == [2, 3]
    assert rep["matches"][0]["entry"] == {"file": "books.beancount", "line": 33}
    kinds = [p["kind"] for p in rep["proposals"]]
    assert kinds.count("transaction") == 4 and kinds.count("open") == 1
    kale = next(p for p in rep["proposals"] if "KALE" in p["text"])
    assert kale["text"].startswith('2024-03-08 ! "KALE & CO, OAKLAND"')
    assert "Expenses:FIXME" in kale["text"] and kale["confidence"] == 0.0
    assert kale["evidence"] == [{"file": "march.csv", "line": 7, "id": None}]
    assert kale["file"] == "books.beancount"
    coffee = next(p for p in rep["proposals"] if "-4.75 USD" in p["text"])
    assert "Expenses:Food:Coffee" in coffee["text"] and coffee["confidence"] >= 0.6
    assert rep["unmatched_ledger"][0]["amount"] == "-4.50 USD"
    assert "likely duplicate" in rep["unmatched_ledger"][0]["reason"]
    culprits = rep["balance"].pop("culprits")
    assert rep["balance"] == {"account": "Assets:Bank:Checking", "date": "2024-03-09",
                              "statement": "2845.73 USD", "ledger": "2841.23 USD",
                              "difference": "4.50 USD"}
    assert [(c["kind"], c["amount"], c["where"]) for c in culprits] == [
        ("ledger-only", "-4.50 USD", ["books.beancount:41"])]
    check = rep["check"]
    assert 0 <= check["hidden_seconds"] <= check["seconds"]
    assert {k: check[k] for k in ("passed", "errors", "dropped")} == {
        "passed": True, "errors": [], "dropped": []}
    assert rep["agent"]["name"] == "offline" and rep["agent"]["steps"] == 1
    assert "+2024-03-08 ! \"KALE & CO, OAKLAND\"" in proc.stderr  # the diff
    assert tree_hashes(books) == before


def test_yes_commits_and_second_run_proposes_nothing(books: Path) -> None:
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                              "Assets:Bank:Checking", "--yes", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["committed"] is True
    assert bean_check(books / "books.beancount") == []
    text = (books / "books.beancount").read_text()
    assert text.index("2024-03-04 open Expenses:FIXME") < text.index("2024-03-08 !")
    # Date order: the March entries sit between the existing ones.
    assert text.index("2024-03-05 * \"Acme Corp\"") < text.index("2024-03-02 * \"Blue Bottle\"") \
        or text.rstrip().endswith("13.25 USD")
    again = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                               "Assets:Bank:Checking", "--yes", "--json", cwd=books)
    assert again.returncode == 0
    assert report(again)["proposals"] == []


def test_non_terminal_without_yes_refuses(books: Path) -> None:
    before = tree_hashes(books)
    proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", "Assets:Bank:Checking",
                   cwd=books)
    assert_one_line_error(proc, 2, "not a terminal", "--yes")
    assert tree_hashes(books) == before


@pytest.mark.parametrize("args, needles", [
    (["reconcile", "nope.beancount", "march.csv", "-n"], ["nope.beancount", "not found"]),
    (["reconcile", "books.beancount", "missing.csv", "-n"], ["missing.csv", "not found"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "-a", "Assets:Nope"],
     ["march.csv", "Assets:Nope is not open"]),
    (["reconcile", "books.beancount", "march.csv", "-n"], ["march.csv", "--account"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "-a", "Assets:Bank:Checking",
      "--closing-balance", "lots"], ["closing-balance"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "-a", "Assets:Bank:Checking",
      "--closing-balance", "10 EUR"], ["EUR"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "--agent", "anthropic"],
     ["ANTHROPIC_API_KEY"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "--agent", "openai"],
     ["--base-url", "OPENAI_API_KEY"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "--agent", "openai", "--base-url",
      "http://127.0.0.1:9/v1"], ["--model NAME"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "--agent", "openai", "--base-url",
      "file:///etc/passwd", "--model", "m"], ["http(s) URL"]),
    (["reconcile", "books.beancount", "march.csv", "-n", "--actions", "json"],
     ["--actions apply to the LLM agents"]),
    (["query", "books.beancount", "SELEKT nonsense"], ["query failed"]),
])
def test_bad_input_is_one_line_exit_2(books: Path, args: list[str], needles: list[str]) -> None:
    before = tree_hashes(books)
    proc = run_cli_in_process(*args, cwd=books)
    assert_one_line_error(proc, 2, *needles)
    assert tree_hashes(books) == before


@pytest.mark.parametrize("name, content, needle", [
    ("empty.csv", "", "empty"),
    ("header.csv", "Date,Description,Amount\n", "no statement lines"),
    ("junk.csv", "hello world\nfoo bar\n", "march"),
    ("binary.csv", "\x00\x01\x02garbage", "binary"),
])
def test_bad_statements(books: Path, name: str, content: str, needle: str) -> None:
    (books / name).write_text(content)
    before = tree_hashes(books)
    proc = run_cli_in_process("reconcile", "books.beancount", name, "-n", "-a",
                              "Assets:Bank:Checking", cwd=books)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert name in proc.stderr
    assert tree_hashes(books) == before


def test_currency_mismatch(books: Path) -> None:
    (books / "eur.ofx").write_text(
        "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>1234-5678"
        "</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240304"
        "<TRNAMT>-4.75<FITID>A1<NAME>CAFE</STMTTRN></BANKTRANLIST></STMTRS></STMTTRNRS>"
        "</BANKMSGSRSV1></OFX>\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "eur.ofx", "-n", cwd=books)
    assert_one_line_error(proc, 2, "eur.ofx", "currency EUR", "Assets:Bank:Checking")


def test_ofx_account_found_from_open_metadata(books: Path) -> None:
    (books / "usd.ofx").write_text(
        "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>12345678"
        "</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240304"
        "<TRNAMT>-4.75<FITID>A1<NAME>SQ *BLUE BOTTLE</STMTTRN></BANKTRANLIST></STMTRS>"
        "</STMTTRNRS></BANKMSGSRSV1></OFX>\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "usd.ofx", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["statements"][0]["account"] == "Assets:Bank:Checking"
    assert 'bank_ref: "A1"' in rep["proposals"][0]["text"]


def test_broken_ledger_files(books: Path) -> None:
    (books / "bin.beancount").write_bytes(b"\x00\x01binary")
    proc = run_cli_in_process("reconcile", "bin.beancount", "march.csv", "-n", cwd=books)
    assert_one_line_error(proc, 2, "bin.beancount", "binary")
    (books / "latin.beancount").write_bytes(b'2024-01-01 open Assets:Caf\xe9\n')
    proc = run_cli_in_process("reconcile", "latin.beancount", "march.csv", "-n", cwd=books)
    assert_one_line_error(proc, 2, "latin.beancount:1", "UTF-8")
    (books / "prose.beancount").write_text("this is not a ledger\n")
    proc = run_cli_in_process("reconcile", "prose.beancount", "march.csv", "-n", cwd=books)
    assert_one_line_error(proc, 2, "prose.beancount", "no Beancount directives")


def test_ledger_with_existing_errors_warns_once_and_carries_on(books: Path) -> None:
    path = books / "books.beancount"
    path.write_text(path.read_text() + "\n2024-03-20 * \"Bad\"\n  Expenses:Nope  1.00 USD\n"
                    "  Assets:Bank:Checking\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                              "Assets:Bank:Checking", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("already has") == 1
    assert report(proc)["check"]["passed"] is True


def test_run_script_gate_failure_exit_3(books: Path) -> None:
    (books / "bad.py").write_text(
        "propose.balance('Assets:Bank:Checking', date(2024, 3, 1), '1.00 USD')\n")
    before = tree_hashes(books)
    proc = run_cli_in_process("run", "books.beancount", "bad.py", "--yes", "--json", cwd=books)
    assert proc.returncode == 3, proc.stderr
    rep = report(proc)
    assert rep["check"]["passed"] is False
    assert "Balance failed" in rep["check"]["errors"][0]["message"]
    assert "(proposal P1)" in rep["check"]["errors"][0]["message"]
    assert [d["id"] for d in rep["check"]["dropped"]] == ["P1"]
    assert rep["proposals"] == [] and rep["committed"] is False
    assert tree_hashes(books) == before


def test_gate_drops_failing_proposals_and_commits_the_rest(books: Path) -> None:
    """Self-correction: the wrong balance fails the check and is dropped with its error;
    the good entry (backed by its statement line) is reviewed and written alone."""
    (books / "mixed.py").write_text(
        "line = statements[0].lines[-1]\n"
        "propose.transaction(date(2024, 3, 9), 'Corner Deli', 'Lunch', "
        "[('Assets:Bank:Checking', line.amount, 'USD'), ('Expenses:Food:Groceries',)], "
        "evidence=[line])\n"
        "propose.balance('Assets:Bank:Checking', date(2024, 3, 10), '1.00 USD')\n")
    proc = run_cli_in_process("run", "books.beancount", "mixed.py", "march.csv", "-a",
                              "Assets:Bank:Checking", "--yes",
                              "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["check"]["passed"] is True
    assert [d["id"] for d in rep["check"]["dropped"]] == ["P2"]
    assert "Balance failed" in rep["check"]["dropped"][0]["reason"]
    assert [p["id"] for p in rep["proposals"]] == ["P1"] and rep["committed"] is True
    assert "P2 dropped: it fails bean-check" in proc.stderr
    text = (books / "books.beancount").read_text()
    assert '2024-03-09 * "Corner Deli" "Lunch"' in text and "balance" not in text.split(
        "Corner Deli")[1]
    assert bean_check(books / "books.beancount") == []


def test_run_script_that_raises_exit_5(books: Path) -> None:
    (books / "boom.py").write_text("x = 1\nraise RuntimeError('nope')\n")
    proc = run_cli_in_process("run", "books.beancount", "boom.py", "--yes", cwd=books)
    assert proc.returncode == 5
    assert "RuntimeError: nope" in proc.stderr and 'File "<script>", line 2' in proc.stderr


def test_run_saved_script_reproduces_the_agent(books: Path) -> None:
    first = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                               "Assets:Bank:Checking", "-n", "--json", "--save-script", "saved.py",
                               cwd=books)
    assert first.returncode == 0
    second = run_cli_in_process("run", "books.beancount", "saved.py", "march.csv", "-a",
                                "Assets:Bank:Checking", "-n", "--json", cwd=books)
    assert second.returncode == 0, second.stderr
    strip = [{k: v for k, v in p.items()} for p in report(first)["proposals"]]
    assert report(second)["proposals"] == strip


def test_query_and_doctor(books: Path) -> None:
    proc = run_cli_in_process("query", "books.beancount",
                              "SELECT account, sum(number) AS total WHERE account ~ 'Checking' "
                              "GROUP BY account", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert report(proc) == [{"account": "Assets:Bank:Checking", "total": "1859.23"}]
    doc = run_cli("doctor", cwd=books)
    assert doc.returncode == 0
    assert "beancount" in doc.stdout and "sandbox" in doc.stdout.lower()


def test_card_csv_with_positive_charges_is_flipped(tmp_path: Path) -> None:
    ledgers = Path(__file__).resolve().parents[1] / "ledgers"
    shutil.copytree(ledgers, tmp_path / "l", ignore=shutil.ignore_patterns("__pycache__"))
    src = tmp_path / "l" / "inbox" / "chase-sapphire-2025-11.csv"
    rows = src.read_text().splitlines()
    flipped = [rows[0]]
    for row in rows[1:]:
        cells = row.split(",")
        cells[5] = cells[5][1:] if cells[5].startswith("-") else "-" + cells[5]
        flipped.append(",".join(cells))
    (tmp_path / "l" / "amex-style.csv").write_text("\n".join(flipped) + "\n")
    normal = run_cli_in_process("reconcile", "sample.beancount",
                                "inbox/chase-sapphire-2025-11.csv", "-n", "--json",
                                cwd=tmp_path / "l")
    proc = run_cli_in_process("reconcile", "sample.beancount", "amex-style.csv", "-n", "--json",
                              "-a", "Liabilities:US:Chase:Sapphire", cwd=tmp_path / "l")
    assert proc.returncode == 0, proc.stderr
    assert "amounts look inverted" in proc.stderr
    texts = [p["text"].split("\n", 1)[1] for p in report(proc)["proposals"]]
    assert texts == [p["text"].split("\n", 1)[1] for p in report(normal)["proposals"]]
    assert len(texts) >= 4


def test_user_beangulp_importer(books: Path) -> None:
    (books / "import_config.py").write_text('''
from beangulp.importers import csvbase

class MyBank(csvbase.Importer):
    date = csvbase.Date("When", "%d.%m.%Y")
    narration = csvbase.Column("What")
    amount = csvbase.Amount("How much")

    def identify(self, filepath):
        return filepath.endswith(".mybank")

CONFIG = [MyBank("Assets:Bank:Checking", "USD")]
''')
    (books / "march.mybank").write_text("When,What,How much\n01.03.2024,SQ *BLUE BOTTLE,-4.50\n"
                                        "08.03.2024,KALE & CO,-13.25\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.mybank", "--importers",
                              "import_config.py", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["statements"][0]["format"].startswith("beangulp:")
    assert rep["statements"][0]["account"] == "Assets:Bank:Checking"
    assert len(rep["matches"]) == 1
    assert [p["date"] for p in rep["proposals"] if p["kind"] == "transaction"] == ["2024-03-08"]


def test_several_lines_for_one_entry_and_a_split_entry(books: Path) -> None:
    path = books / "books.beancount"
    path.write_text(path.read_text() + '''
2024-03-07 * "Hardware store" "paid in two parts at the till"
  Assets:Bank:Checking  -30.00 USD
  Expenses:Food:Groceries

2024-03-07 * "Costco" "one charge, split across two categories"
  Assets:Bank:Checking  -20.00 USD
  Assets:Bank:Checking  -5.00 USD
  Expenses:Food:Groceries
''')
    (books / "parts.csv").write_text("Date,Description,Amount\n2024-03-07,HARDWARE #1,-12.00\n"
                                     "2024-03-07,HARDWARE #2,-18.00\n"
                                     "2024-03-07,COSTCO WHOLESALE,-25.00\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "parts.csv", "-a",
                              "Assets:Bank:Checking", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["proposals"] == []
    notes = {m["statement"]["line"]: m["note"] for m in rep["matches"]}
    assert set(notes) == {2, 3, 4}
    assert "together with 1 other statement line" in (notes[2] or "")
    assert notes[4] is None  # the split entry matches its single line exactly


def test_settings_reach_the_sandboxed_engine(books: Path) -> None:
    (books / "beanagent.toml").write_text('review_account = "Expenses:Unknown"\n'
                                          "confident = 0.99\nwindow_days = 0\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a",
                              "Assets:Bank:Checking", "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    texts = [p["text"] for p in report(proc)["proposals"]]
    assert any(t.startswith("2024-03-04 open Expenses:Unknown") for t in texts)
    rent = next(t for t in texts if "-1500.00 USD" in t)
    assert rent.split()[1] == "!"  # confidence 0.73 is below 0.99
    assert any('* "Acme Corp"' in t for t in texts)  # 1.00 stays unflagged
