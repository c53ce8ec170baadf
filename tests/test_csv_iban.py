"""A CSV whose preamble names the account's IBAN ("Kontoauszug;DE89 3704 …", as German
banks write it; synthetic, after the layout of a DKB/Sparkasse export) finds its account by
`iban:` metadata without a rule. Only a valid IBAN (ISO 13616 check digits), only one."""

from __future__ import annotations

from pathlib import Path

import pytest

from beanagent.statements.csv import parse_csv_file
from beanagent.statements.csv_preamble import find_iban
from tests.helpers import run_cli_in_process

BODY = ("Buchungstag;Auftraggeber / Begünstigter;Verwendungszweck;Betrag\n"
        "03.11.2025;REWE Markt GmbH;Kartenzahlung;-42,17\n"
        "05.11.2025;ACME GmbH;Gehalt;2.100,00\n")


def ids(tmp_path: Path, preamble: str) -> list[str | None]:
    path = tmp_path / "giro.csv"
    path.write_text(preamble + BODY, encoding="utf-8")
    return [st.account_id for st in parse_csv_file(path, "giro.csv")]


@pytest.mark.parametrize(("preamble", "found"), [
    ("Kontoauszug;DE89370400440532013000\n\n", "DE89370400440532013000"),
    ('"Konto:";"DE89 3704 0044 0532 0130 00"\n\n', "DE89370400440532013000"),
    ("Kontoauszug;DE88370400440532013000\n\n", None),  # one check digit off
    ("Von;DE89370400440532013000\nAn;GB82WEST12345698765432\n\n", None),  # which one?
    ("", None),
])
def test_preamble_iban(tmp_path: Path, preamble: str, found: str | None) -> None:
    assert ids(tmp_path, preamble) == [found]


def test_iban_in_a_row_is_not_the_account(tmp_path: Path) -> None:
    """The other party's IBAN in a transaction's purpose is not the statement's account."""
    path = tmp_path / "giro.csv"
    path.write_text(BODY + "07.11.2025;Vermieter;Miete DE89370400440532013000;-950,00\n",
                    encoding="utf-8")
    [st] = parse_csv_file(path, "giro.csv")
    assert st.account_id is None and len(st.lines) == 3
    assert find_iban([(1, ["Miete", "DE89370400440532013000"])]) == "DE89370400440532013000"


def test_account_found_by_iban_metadata(tmp_path: Path) -> None:
    (tmp_path / "books.beancount").write_text(
        'option "operating_currency" "EUR"\n'
        '2025-01-01 open Assets:Bank:Giro EUR\n  iban: "DE89 3704 0044 0532 0130 00"\n'
        "2025-01-01 open Assets:Bank:Other EUR\n", encoding="utf-8")
    (tmp_path / "giro.csv").write_text("Kontoauszug;DE89370400440532013000\n\n" + BODY,
                                       encoding="utf-8")
    proc = run_cli_in_process("reconcile", "books.beancount", "giro.csv", "--dry-run",
                              "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"account": "Assets:Bank:Giro"' in proc.stdout
