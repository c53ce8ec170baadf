"""The beangulp bridge: loading a user's import config and running its importers."""

from __future__ import annotations

import datetime
import shutil
from decimal import Decimal
from pathlib import Path

import beangulp
import pytest
from beancount.core import amount, data
from beangulp.importer import Adapter

from beanagent.errors import BadInputError
from beanagent.statements.beangulp_bridge import load_importers, parse_with_importers
from beanagent.statements.dispatch import parse_statement_file

DATA = Path(__file__).parent / "data" / "beangulp"
D = datetime.date


def line_of(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text)


def test_csvbase_config_extracts_lines_account_and_balance() -> None:
    importers = load_importers(DATA / "import_config.py")
    assert [type(i).__name__ for i in importers] == ["ChequeImporter", "BankImporter"]

    # The first importer does not identify bank.csv; the second does.
    [stmt] = parse_with_importers(DATA / "bank.csv", "bank.csv", importers)  # type: ignore[misc]
    assert stmt.format == "beangulp:import_config.BankImporter"
    assert stmt.account == "Assets:Bank:Checking"
    assert stmt.currency == "EUR"
    assert stmt.file == "bank.csv"
    # csvbase writes `balance 2024-03-10 2234.30`: the balance after 9 March.
    assert (stmt.closing_balance, stmt.closing_date) == (Decimal("2234.30"), D(2024, 3, 9))
    assert [(ln.date, ln.amount, ln.description, ln.payee) for ln in stmt.lines] == [
        (D(2024, 3, 1), Decimal("2500.00"), "ACME GmbH / Salary March", "ACME GmbH"),
        (D(2024, 3, 4), Decimal("-2.50"), "Card fee", None),
        (D(2024, 3, 4), Decimal("-63.20"), "Grocer / Weekly shopping", "Grocer"),
        (D(2024, 3, 9), Decimal("-1200.00"), "Landlord / Rent March", "Landlord"),
    ]
    # csvbase's lineno is the physical line of the row; the config stored the bank's id.
    assert [(ln.ref.file, ln.ref.line, ln.ref.id) for ln in stmt.lines] == [
        ("bank.csv", line_of(DATA / "bank.csv", "TX-1001"), "TX-1001"),
        ("bank.csv", line_of(DATA / "bank.csv", "TX-1002"), "TX-1002"),
        ("bank.csv", line_of(DATA / "bank.csv", "TX-1003"), "TX-1003"),
        ("bank.csv", line_of(DATA / "bank.csv", "TX-1004"), "TX-1004"),
    ]
    assert stmt.lines[0].ref.line == 2


def test_no_importer_identifies_the_file() -> None:
    importers = load_importers(DATA / "import_config.py")
    assert parse_with_importers(DATA / "old.txt", "old.txt", importers) is None


def test_old_style_importer_is_wrapped_with_beangulps_adapter() -> None:
    [importer] = load_importers(DATA / "old_style_config.py")
    assert isinstance(importer, Adapter)
    [stmt] = parse_with_importers(DATA / "old.txt", "old.txt", [importer])  # type: ignore[misc]
    assert (stmt.account, stmt.currency, stmt.closing_balance) == ("Liabilities:Card", "USD", None)
    [line] = stmt.lines
    assert (line.date, line.amount, line.description) == (
        D(2024, 5, 2),
        Decimal("-19.99"),
        "Streaming",
    )
    assert (line.ref.line, line.ref.id) == (2, "77")


class _Handmade(beangulp.Importer):
    """An importer producing the awkward cases: several postings on the account, other
    accounts only, metadata pointing elsewhere, several balances."""

    def identify(self, filepath: str) -> bool:
        return filepath.endswith("hand.dat")

    def account(self, filepath: str) -> str:
        return "Assets:Cash"

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        def posting(account: str, number: str, currency: str = "CHF") -> data.Posting:
            return data.Posting(
                account, amount.Amount(Decimal(number), currency), None, None, None, None
            )

        def txn(
            day: int, payee: str | None, narration: str, *postings: data.Posting, **meta: object
        ) -> data.Transaction:
            return data.Transaction(
                {"filename": filepath, "lineno": day, **meta},
                D(2024, 6, day),
                "*",
                payee,
                narration,
                frozenset(),
                frozenset(),
                list(postings),
            )

        def balance(day: int, number: str) -> data.Balance:
            return data.Balance(
                {"filename": filepath, "lineno": 0},
                D(2024, 6, day),
                "Assets:Cash",
                amount.Amount(Decimal(number), "CHF"),
                None,
                None,
            )

        return [
            balance(30, "70.00"),
            txn(
                12,
                None,
                "split",
                posting("Assets:Cash", "-10"),
                posting("Assets:Cash", "-5"),
                fitid="A9",
            ),
            txn(3, "Shop", "", posting("Assets:Cash", "100")),
            txn(5, None, "elsewhere", posting("Expenses:Food", "7")),
            data.Transaction(
                {"filename": "/somewhere/else.csv", "lineno": 8, "id": 12},
                D(2024, 6, 20),
                "*",
                None,
                "foreign meta",
                frozenset(),
                frozenset(),
                [posting("Assets:Cash", "-15")],
            ),
            balance(13, "85.00"),
        ]


def test_postings_balances_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "hand.dat"
    path.write_text("x\n")
    [stmt] = parse_with_importers(path, "hand.dat", [_Handmade()])  # type: ignore[misc]
    assert stmt.format.startswith("beangulp:") and stmt.format.endswith("_Handmade")
    assert [(ln.date, ln.amount, ln.description, ln.payee) for ln in stmt.lines] == [
        (D(2024, 6, 3), Decimal("100"), "Shop", "Shop"),
        (D(2024, 6, 12), Decimal("-15"), "split", None),  # two postings summed
        (D(2024, 6, 20), Decimal("-15"), "foreign meta", None),
    ]  # the entry without a posting on Assets:Cash is skipped
    assert [(ln.ref.line, ln.ref.id) for ln in stmt.lines] == [(3, None), (12, "A9"), (None, "12")]
    # The latest balance wins, as of the day before it.
    assert (stmt.closing_balance, stmt.closing_date) == (Decimal("70.00"), D(2024, 6, 29))


def test_importer_exception_is_a_one_line_error(tmp_path: Path) -> None:
    class Broken(_Handmade):
        def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
            raise ValueError("column 'Amount' missing")

    path = tmp_path / "hand.dat"
    path.write_text("x\n")
    with pytest.raises(BadInputError, match="failed in extract\\(\\): ValueError: column") as err:
        parse_with_importers(path, "hand.dat", [Broken()])
    assert err.value.file == "hand.dat"


def test_config_that_raises_names_its_line() -> None:
    config = DATA / "raising_config.py"
    with pytest.raises(BadInputError, match="RuntimeError: BANK_TOKEN is not set") as err:
        load_importers(config)
    assert err.value.file == str(config)
    assert err.value.line == line_of(config, "raise RuntimeError")


def test_config_with_syntax_error(tmp_path: Path) -> None:
    config = tmp_path / "import.py"
    config.write_text("CONFIG = []\nx = = 1\n")
    with pytest.raises(BadInputError, match="syntax error") as err:
        load_importers(config)
    assert err.value.line == 2


def test_config_that_runs_its_cli_unguarded(tmp_path: Path) -> None:
    config = tmp_path / "import.py"
    config.write_text("raise SystemExit(2)\n")
    with pytest.raises(BadInputError, match="__name__"):
        load_importers(config)


def test_config_without_importers() -> None:
    with pytest.raises(BadInputError, match="no importer list") as err:
        load_importers(DATA / "no_importers_config.py")
    assert "CONFIG, IMPORTERS, importers" in err.value.message


def test_config_with_something_else_in_the_list(tmp_path: Path) -> None:
    config = tmp_path / "import.py"
    config.write_text("IMPORTERS = ['not an importer']\n")
    with pytest.raises(BadInputError, match="item 1 of IMPORTERS is a str"):
        load_importers(config)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="import config not found") as err:
        load_importers(tmp_path / "import.py")
    assert err.value.file == str(tmp_path / "import.py")


def test_config_can_import_modules_beside_it(tmp_path: Path) -> None:
    (tmp_path / "mybank_importers_for_test.py").write_text(
        "from beangulp.importers import csvbase\n"
        "class Bank(csvbase.Importer):\n"
        "    date = csvbase.Date('Date', '%Y-%m-%d')\n"
        "    narration = csvbase.Column('Details')\n"
        "    amount = csvbase.Amount('Amount')\n"
        "    def identify(self, filepath):\n"
        "        return filepath.endswith('.csv')\n"
    )
    config = tmp_path / "import.py"
    config.write_text(
        "from mybank_importers_for_test import Bank\nimporters = [Bank('Assets:B', 'EUR')]\n"
    )
    [importer] = load_importers(config)
    assert type(importer).__name__ == "Bank"


def test_dispatch_tries_importers_first(tmp_path: Path) -> None:
    importers = load_importers(DATA / "import_config.py")
    path = tmp_path / "bank.csv"
    shutil.copy(DATA / "bank.csv", path)
    [stmt] = parse_statement_file(path, "bank.csv", importers=importers)
    assert stmt.format == "beangulp:import_config.BankImporter"
    assert len(stmt.lines) == 4


def test_dispatch_falls_back_to_ofx_when_no_importer_matches(realworld: Path) -> None:
    importers = load_importers(DATA / "import_config.py")
    path = realworld / "beangulp/examples/tests/ofx/ofxdownload.ofx"
    [stmt] = parse_statement_file(path, "ofxdownload.ofx", importers=importers)
    assert (stmt.format, len(stmt.lines)) == ("ofx", 12)
