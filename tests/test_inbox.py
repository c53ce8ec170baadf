"""The inbox (issue 14): `beanagent reconcile LEDGER` with no statement files. Real ledgers
in temp folders, the real command: discovery confined to the ledger's folder, each route of
identification, the listing (text and JSON), the new files run together, what was
reconciled before skipped (the audit log's real record), and --all."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import report, run_cli_in_process, tree_hashes

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "ledgers"
BOFA, CHASE = "inbox/bofa-checking-2025-11.csv", "inbox/chase-sapphire-2025-11.csv"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The bundled sample: its ledger, beanagent.toml and inbox (the two CSV exports)."""
    for name in ("sample.beancount", "beanagent.toml"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    shutil.copytree(SAMPLE / "inbox", tmp_path / "inbox")
    return tmp_path


def listing(folder: Path, ledger: str = "sample.beancount", *args: str) -> dict[str, dict]:
    proc = run_cli_in_process("reconcile", ledger, "--list", "--json", *args, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return {f["file"]: f for f in json.loads(proc.stdout)["files"]}


def one_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# --- the listing ----------------------------------------------------------------------------


def test_list_shows_each_file_and_runs_nothing(sample: Path) -> None:
    before = tree_hashes(sample)
    proc = run_cli_in_process("reconcile", "sample.beancount", "--list", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "inbox (inbox/**/*): 2 files, 2 new"
    bofa = next(ln for ln in lines if ln.startswith(BOFA)).split()
    assert bofa == [BOFA, "csv", "Assets:US:BofA:Checking", "2025-11-03", "to", "2025-11-28",
                    "9", "new"]
    chase = next(ln for ln in lines if ln.startswith(CHASE)).split()
    assert chase[2] == "Liabilities:US:Chase:Sapphire" and chase[-2:] == ["25", "new"]
    assert tree_hashes(sample) == before  # no sandbox, no log, nothing written
    assert not (sample / ".beanagent").exists()


def test_list_json(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount", "--list", "--json", cwd=sample)
    data = json.loads(proc.stdout)
    assert data["inbox"] == ["inbox/**/*"]
    chase = next(f for f in data["files"] if f["file"] == CHASE)
    assert chase == {**chase, "status": "new", "format": "csv", "first": "2025-11-01",
                     "last": "2025-11-28", "lines": 25, "reconciled_before": None,
                     "reason": None, "runs": True,
                     "accounts": ["Liabilities:US:Chase:Sapphire"]}
    assert len(chase["sha256"]) == 64


def test_list_and_all_are_for_the_inbox_only(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount", BOFA, "--list", cwd=sample)
    one_error(proc, "--list and --all are for the inbox")
    proc = run_cli_in_process("reconcile", "sample.beancount", "--list", "-a",
                              "Assets:US:BofA:Checking", cwd=sample)
    one_error(proc, "--account")


# --- identification, by each route ------------------------------------------------------------


def test_the_ledger_decides_a_csv_with_no_rule_and_no_id(books: Path) -> None:
    (books / "inbox").mkdir()
    shutil.move(books / "march.csv", books / "inbox" / "march.csv")
    [march] = listing(books, "books.beancount").values()
    assert (march["status"], march["accounts"]) == ("new", ["Assets:Bank:Checking"])


def test_the_sample_without_rules_is_identified_by_the_ledger(sample: Path) -> None:
    (sample / "beanagent.toml").unlink()
    files = listing(sample)
    assert files[BOFA]["accounts"] == ["Assets:US:BofA:Checking"]
    assert files[CHASE]["accounts"] == ["Liabilities:US:Chase:Sapphire"]


def test_ofx_by_its_account_id_and_a_second_copy_held_back(sample: Path) -> None:
    shutil.copy(SAMPLE / "statements" / "bofa-checking-2025-11.ofx", sample / "inbox")
    files = listing(sample)
    ofx = files["inbox/bofa-checking-2025-11.ofx"]
    assert (ofx["format"], ofx["accounts"]) == ("ofx", ["Assets:US:BofA:Checking"])
    # The CSV of the same account and month comes first: run together, every line twice.
    assert ofx["status"] == "held back" and not ofx["runs"]
    assert BOFA in ofx["reason"] and "on its own" in ofx["reason"]
    (sample / BOFA).unlink()
    ofx = listing(sample)["inbox/bofa-checking-2025-11.ofx"]
    assert (ofx["status"], ofx["runs"]) == ("new", True)


def test_a_rule_names_the_account(books: Path) -> None:
    (books / "inbox").mkdir()
    shutil.move(books / "march.csv", books / "inbox" / "march.csv")
    (books / "beanagent.toml").write_text('[[statement]]\nmatch = "march*.csv"\n'
                                          'account = "Liabilities:Card"\n')
    [march] = listing(books, "books.beancount").values()
    assert march["accounts"] == ["Liabilities:Card"]


def test_the_users_importer_identifies_its_files(books: Path) -> None:
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
    (books / "inbox").mkdir()
    (books / "inbox" / "march.mybank").write_text(
        "When,What,How much\n01.03.2024,SQ *BLUE BOTTLE,-4.50\n08.03.2024,KALE & CO,-13.25\n")
    [mine] = listing(books, "books.beancount", "--importers", "import_config.py").values()
    assert mine["format"].startswith("beangulp:") and mine["accounts"] == ["Assets:Bank:Checking"]
    proc = run_cli_in_process("reconcile", "books.beancount", "--importers", "import_config.py",
                              "-n", "--json", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert [p["date"] for p in report(proc)["proposals"] if p["kind"] == "transaction"] == \
        ["2024-03-08"]


AMBIGUOUS = """\
option "operating_currency" "USD"

2024-01-01 open Assets:Checking USD
2024-01-01 open Assets:Savings USD
2024-01-01 open Assets:Wallet USD
2024-01-01 open Expenses:Coffee
2024-01-01 open Equity:Opening

2024-01-01 * "Opening"
  Assets:Checking  5000.00 USD
  Equity:Opening

2024-03-01 * "To savings"
  Assets:Checking  -100.00 USD
  Assets:Savings    100.00 USD

2024-03-08 * "To savings"
  Assets:Checking  -250.00 USD
  Assets:Savings    250.00 USD

2024-03-03 * "Cafe"
  Assets:Wallet  -3.20 USD
  Expenses:Coffee

2024-03-09 * "Cafe"
  Assets:Wallet  -4.10 USD
  Expenses:Coffee
"""


def test_an_ambiguous_csv_is_unidentified_and_the_others_still_run(tmp_path: Path) -> None:
    (tmp_path / "books.beancount").write_text(AMBIGUOUS)
    (tmp_path / "inbox").mkdir()
    # Transfers between two of the user's accounts match both of them equally.
    (tmp_path / "inbox" / "transfers.csv").write_text(
        "Date,Description,Amount\n2024-03-01,TRANSFER,-100.00\n2024-03-08,TRANSFER,-250.00\n")
    (tmp_path / "inbox" / "wallet.csv").write_text(
        "Date,Description,Amount\n2024-03-03,CAFE,-3.20\n2024-03-09,CAFE,-4.10\n"
        "2024-03-10,CAFE,-2.90\n")
    (tmp_path / "inbox" / "nothing.csv").write_text(
        "Date,Description,Amount\n2024-03-03,X,-77.70\n2024-03-05,Y,-12.34\n")
    files = listing(tmp_path, "books.beancount")
    transfers = files["inbox/transfers.csv"]
    assert transfers["status"] == "unidentified" and not transfers["runs"]
    assert "could be Assets:Checking (2 lines) or Assets:Savings (2 lines)" in \
        transfers["reason"]
    assert "[[statement]] rule" in transfers["reason"]
    assert "none of its 2 lines match" in files["inbox/nothing.csv"]["reason"]
    assert files["inbox/wallet.csv"]["accounts"] == ["Assets:Wallet"]
    text = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=tmp_path).stdout
    assert "  inbox/transfers.csv: unidentified: could be Assets:Checking" in text
    proc = run_cli_in_process("reconcile", "books.beancount", "-n", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert [st["file"] for st in rep["statements"]] == ["inbox/wallet.csv"]
    assert [p["date"] for p in rep["proposals"] if p["kind"] == "transaction"] == ["2024-03-10"]


# --- confinement ------------------------------------------------------------------------------


@pytest.mark.parametrize("glob", ["../*.csv", "/tmp/*.csv", "a/../../x/*.csv", "~/dl/*.csv"])
def test_a_glob_leaving_the_ledgers_folder_is_refused(books: Path, glob: str) -> None:
    (books / "beanagent.toml").write_text(f"inbox = [{json.dumps(glob)}]\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    one_error(proc, "inbox must be a list of globs inside the ledger's folder")


def test_links_out_of_the_folder_are_not_followed(books: Path, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    shutil.copy(books / "march.csv", outside / "secret.csv")
    (books / "inbox").mkdir()
    os.symlink(outside / "secret.csv", books / "inbox" / "secret.csv")
    os.symlink(outside, books / "inbox" / "sub")  # a folder: never walked into
    files = listing(books, "books.beancount")
    assert list(files) == ["inbox/secret.csv"]
    assert files["inbox/secret.csv"]["status"] == "unreadable"
    assert "links outside" in files["inbox/secret.csv"]["reason"]
    os.symlink(outside, books / "dl")
    (books / "beanagent.toml").write_text('inbox = ["dl/*.csv"]\n')
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    one_error(proc, "leads outside the ledger's folder")


def test_the_ledgers_own_files_hidden_files_and_state_are_skipped(books: Path) -> None:
    (books / "beanagent.toml").write_text('inbox = ["**/*"]\narchive = "documents"\n')
    for name in ("documents/Assets/Bank/old.csv", ".hidden.csv", ".beanagent/x.csv",
                 "sub/.cache/y.csv"):
        (books / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(books / "march.csv", books / name)
    files = listing(books, "books.beancount")
    assert list(files) == ["march.csv"]


def test_too_many_files_are_refused(books: Path) -> None:
    (books / "inbox").mkdir()
    for n in range(201):
        (books / "inbox" / f"{n}.csv").write_text("x\n")
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    one_error(proc, "holds 201 files", "up to 200")


# --- the run ----------------------------------------------------------------------------------


def test_a_bare_run_shows_the_listing_first(sample: Path) -> None:
    proc = run_cli_in_process("reconcile", "sample.beancount", "-n", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("inbox (inbox/**/*): 2 files, 2 new\n"), proc.stderr[:300]
    assert proc.stderr.index("2 files, 2 new") < proc.stderr.index("reading sample.beancount")


def test_new_files_run_together_then_nothing_is_new_then_all(sample: Path) -> None:
    ledger = sample / "sample.beancount"
    text = ledger.read_text()
    start = text.index('2025-11-20 * "Chase Card Payment"')
    ledger.write_text(text[:start] + text[text.index("\n\n", start) + 2:])
    proc = run_cli_in_process("reconcile", "sample.beancount", "--yes", "--json", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert sorted(st["file"] for st in rep["statements"]) == [BOFA, CHASE]
    # The card payment is on both statements: one entry, both legs.
    payment = [p for p in rep["proposals"] if "1206.54" in p["text"]]
    assert len(payment) == 1
    assert "Assets:US:BofA:Checking" in payment[0]["text"]
    assert "Liabilities:US:Chase:Sapphire" in payment[0]["text"]
    files = listing(sample)
    assert {f["status"] for f in files.values()} == {"reconciled before"}
    assert all(f["reconciled_before"] and not f["runs"] for f in files.values())
    again = run_cli_in_process("reconcile", "sample.beancount", "--yes", cwd=sample)
    assert again.returncode == 0, again.stderr
    assert "nothing new in the inbox (2 reconciled before)" in again.stderr
    assert "inbox/bofa" not in again.stderr.split("nothing new")[1]  # no statement was read
    every = run_cli_in_process("reconcile", "sample.beancount", "--all", "-n", "--json",
                               cwd=sample)
    assert every.returncode == 0, every.stderr
    rep = report(every)
    assert sorted(st["file"] for st in rep["statements"]) == [BOFA, CHASE]
    assert not [p for p in rep["proposals"] if p["kind"] == "transaction"]
    # A changed file with the same name is new again.
    with (sample / CHASE).open("a") as f:
        f.write("\n")
    files = listing(sample)
    assert (files[CHASE]["status"], files[BOFA]["status"]) == ("new", "reconciled before")


def test_an_empty_inbox_says_so(books: Path) -> None:
    proc = run_cli_in_process("reconcile", "books.beancount", "--list", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "inbox (inbox/**/*): 0 files\n"
    proc = run_cli_in_process("reconcile", "books.beancount", "-n", cwd=books)
    assert "the inbox (inbox/**/*) is empty: save statements there" in proc.stderr


def test_nothing_new_counts_what_cannot_run(sample: Path) -> None:
    (sample / "inbox" / "notes.txt").write_text("not a statement\n")
    proc = run_cli_in_process("reconcile", "sample.beancount", "--yes", cwd=sample)
    assert proc.returncode == 0, proc.stderr
    assert "  inbox/notes.txt: unreadable: " in proc.stderr
    again = run_cli_in_process("reconcile", "sample.beancount", "--yes", cwd=sample)
    assert "nothing new in the inbox (2 reconciled before; 1 that can't run, listed above)" \
        in again.stderr
