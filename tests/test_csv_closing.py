"""Issue 13: closing balances a file states in words ("Kontostand vom 28.11.2025: 208,70 EUR",
BofA's "Ending balance as of …" summary row) are read; a running Balance column still wins when
it adds up, and a disagreement between the two is reported in a note, never settled silently.
The files are synthetic, written in the banks' layouts (DKB, Bank of America)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

from beanagent.settings import CsvOptions
from beanagent.statements.csv import parse_csv
from beanagent.statements.model import RawStatement

DATA = Path(__file__).resolve().parent / "data" / "csv"
D = Decimal
day = datetime.date

BOFA_SUMMARY = (
    'Description,,Summary Amt.\n'
    'Beginning balance as of 10/01/2025,,"1,234.56"\n'
    'Total credits,,"5,000.00"\n'
    'Total debits,,"-4,321.00"\n'
    'Ending balance as of 10/31/2025,,"{ending}"\n'
    '\n'
)


def parse(tmp_path: Path, text: str, **options: object) -> RawStatement:
    path = tmp_path / "stmt.csv"
    path.write_text(text, encoding="utf-8")
    return parse_csv(path, "stmt.csv", CsvOptions(**options))  # type: ignore[arg-type]


def test_dkb_kontostand_preamble() -> None:
    st = parse_csv(DATA / "dkb_giro.csv", "dkb.csv")
    assert (st.closing_balance, st.closing_date) == (D("208.70"), day(2025, 11, 28))


def test_kontostand_in_one_cell(tmp_path: Path) -> None:
    st = parse(tmp_path, "Kontostand vom 28.11.2025: 1.208,70 EUR\n\n"
                         "Buchungstag;Verwendungszweck;Betrag\n27.11.2025;Miete;-500,00\n")
    assert (st.closing_balance, st.closing_date) == (D("1208.70"), day(2025, 11, 28))


def test_ending_balance_sentence(tmp_path: Path) -> None:
    st = parse(tmp_path, '"Ending balance as of 12/31/2024 1,234.56"\n\n'
                         "Date,Description,Amount\n12/30/2024,Coffee,-4.50\n")
    assert (st.closing_balance, st.closing_date) == (D("1234.56"), day(2024, 12, 31))


def test_bofa_summary_without_a_balance_column(tmp_path: Path) -> None:
    text = BOFA_SUMMARY.format(ending="1,913.56") + (
        "Date,Description,Amount\n"
        "10/01/2025,Beginning balance as of 10/01/2025,\n"
        "10/02/2025,SPOTIFY,-9.99\n10/15/2025,PAYROLL,\"5,000.00\"\n"
        "10/20/2025,Zelle payment,-311.01\n10/31/2025,ATM,-4000.00\n")
    st = parse(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (D("1913.56"), day(2025, 10, 31))


def test_running_balance_and_stated_balance_agree() -> None:
    st = parse_csv(DATA / "boa_checking.csv", "boa.csv")
    assert (st.closing_balance, st.closing_date) == (D("1913.56"), day(2025, 10, 31))
    assert not st.notes


def test_disagreement_is_a_note_and_the_running_balance_wins(tmp_path: Path) -> None:
    text = (DATA / "boa_checking.csv").read_text().replace('"1,913.56"\n', '"1,999.99"\n', 1)
    st = parse(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (D("1913.56"), day(2025, 10, 31))
    [note] = st.notes
    assert note.startswith("stmt.csv:5: the file states a closing balance of 1999.99")
    assert "using the balance column" in note


def test_a_running_balance_that_does_not_add_up_yields_to_the_stated_one(tmp_path: Path
                                                                         ) -> None:
    text = ("Closing balance 31.01.2025: 90,00\n\nDatum;Text;Betrag;Saldo\n"
            "02.01.2025;a;-10,00;90,00\n03.01.2025;b;-5,00;70,00\n")
    st = parse(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (D("90.00"), day(2025, 1, 31))
    assert "does not add up" in st.notes[0]


def test_footer_closing_balance_row(tmp_path: Path) -> None:
    text = ("Date,Description,Paid out,Paid in\n01/11/2025,Salary,,1500.00\n"
            "13/11/2025,Rent,120.00,\nClosing balance 30/11/2025,,,1380.00\n")
    st = parse(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (D("1380.00"), day(2025, 11, 30))


def test_beginning_and_available_balances_are_not_closing(tmp_path: Path) -> None:
    text = ("Beginning balance as of 01/01/2025,100.00\nAvailable balance 01/31/2025,55.00\n\n"
            "Date,Description,Amount\n01/02/2025,Coffee,-4.50\n01/13/2025,Cash,-20.00\n")
    st = parse(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (None, None)


def test_a_stated_balance_follows_negate(tmp_path: Path) -> None:
    text = ("Closing balance as of 01/31/2025: $45.50\n\nDate,Description,Amount\n"
            "01/02/2025,Coffee,4.50\n01/13/2025,Books,41.00\n")
    st = parse(tmp_path, text, negate=True)
    assert (st.closing_balance, st.closing_date) == (D("-45.50"), day(2025, 1, 31))
