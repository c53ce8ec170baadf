"""CSV statement parsing: layout detection, formats, ordering, errors, real peer files."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements import csv_detect
from beanagent.statements.csv import parse_csv, parse_csv_file
from beanagent.statements.model import RawStatement

DATA = Path(__file__).resolve().parent / "data" / "csv"
D = Decimal
day = datetime.date


def write(tmp_path: Path, content: str | bytes, name: str = "stmt.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def parse_text(tmp_path: Path, content: str | bytes, **options: object) -> RawStatement:
    return parse_csv(write(tmp_path, content), "stmt.csv", CsvOptions(**options))  # type: ignore[arg-type]


def error_of(tmp_path: Path, content: str | bytes, **options: object) -> BadInputError:
    with pytest.raises(BadInputError) as info:
        parse_text(tmp_path, content, **options)
    return info.value


def summary(st: RawStatement) -> list[tuple[int | None, datetime.date, Decimal, Decimal | None]]:
    return [(ln.ref.line, ln.date, ln.amount, ln.balance) for ln in st.lines]


# ------------------------------------------------------------------ fixture files

FIXTURES = [
    # file, options, [(line, date, amount, balance)], closing (balance, date), currency
    pytest.param(
        "boa_checking.csv",
        {},
        [
            (9, day(2025, 10, 2), D("-9.99"), D("1224.57")),
            (10, day(2025, 10, 15), D("5000.00"), D("6224.57")),
            (11, day(2025, 10, 20), D("-311.01"), D("5913.56")),
            (12, day(2025, 10, 31), D("-4000.00"), D("1913.56")),
        ],
        (D("1913.56"), day(2025, 10, 31)),
        None,
        id="boa-preamble-and-beginning-balance-row",
    ),
    pytest.param(
        "german_giro.csv",
        {},
        [
            (7, day(2025, 11, 15), D("-1266.44"), D("-1266.44")),
            (6, day(2025, 11, 15), D("2500.00"), D("1233.56")),
            (5, day(2025, 11, 28), D("-4.50"), D("1229.06")),
        ],
        (D("1229.06"), day(2025, 11, 28)),
        "EUR",
        id="german-cp1252-semicolon-newest-first",
    ),
    pytest.param(
        "uk_paid_in_out.tsv",
        {},
        [
            (2, day(2025, 11, 1), D("1500.00"), D("1500.00")),
            (3, day(2025, 11, 3), D("-120.00"), D("1380.00")),
            (4, day(2025, 11, 14), D("-35.10"), D("1344.90")),
        ],
        (D("1344.90"), day(2025, 11, 14)),
        "GBP",
        id="uk-bom-tab-paid-in-out-pound",
    ),
    pytest.param(
        "debit_negative.csv",
        {},
        [
            (2, day(2025, 2, 28), D("-54.20"), None),
            (3, day(2025, 3, 3), D("2000.00"), None),
            (4, day(2025, 3, 4), D("-950.00"), None),
        ],
        (None, None),
        None,
        id="negative-debits-used-as-is-transaction-date-preferred",
    ),
    pytest.param(
        "multiline.csv",
        {},
        [
            (2, day(2025, 5, 1), D("-1.00"), None),
            (4, day(2025, 5, 2), D("2.00"), None),
            (5, day(2025, 5, 3), D("-3.00"), None),
        ],
        (None, None),
        None,
        id="multiline-quoted-fields-keep-physical-lines",
    ),
    pytest.param(
        "headerless.csv",
        {},
        [
            (1, day(2025, 5, 13), D("-12.50"), None),
            (2, day(2025, 5, 14), D("1000.00"), None),
            (3, day(2025, 5, 16), D("-45.00"), None),
        ],
        (None, None),
        None,
        id="headerless-content-fallback",
    ),
    pytest.param(
        "same_day_newest_first.csv",
        {},
        [
            (4, day(2025, 6, 10), D("100.00"), D("100.00")),
            (3, day(2025, 6, 10), D("-10.00"), D("90.00")),
            (2, day(2025, 6, 10), D("-5.00"), D("85.00")),
        ],
        (D("85.00"), day(2025, 6, 10)),
        None,
        id="same-day-order-from-running-balance",
    ),
    pytest.param(
        "card_charges_positive.csv",
        {"negate": True},
        [
            (2, day(2025, 1, 5), D("-23.99"), None),
            (3, day(2025, 1, 17), D("500.00"), None),
            (4, day(2025, 1, 20), D("-15.49"), None),
        ],
        (None, None),
        None,
        id="negate-card-charges",
    ),
]


@pytest.mark.parametrize(("name", "options", "expected", "closing", "currency"), FIXTURES)
def test_fixture_files(
    name: str,
    options: dict[str, object],
    expected: list[tuple[int, datetime.date, Decimal, Decimal | None]],
    closing: tuple[Decimal | None, datetime.date | None],
    currency: str | None,
) -> None:
    st = parse_csv(DATA / name, f"in/{name}", CsvOptions(**options))  # type: ignore[arg-type]
    assert st.file == f"in/{name}"
    assert st.format == "csv"
    assert summary(st) == expected
    assert all(ln.ref.file == f"in/{name}" for ln in st.lines)
    assert (st.closing_balance, st.closing_date) == closing
    assert st.currency == currency


def test_descriptions_payees_and_ids() -> None:
    boa = parse_csv(DATA / "boa_checking.csv", "boa.csv")
    assert boa.lines[0].description == (
        "SPOTIFY USA DES:SPOTIFY ID:XXXXX INDN:JOHN DOE CO ID:XXXXX PPD"
    )
    assert boa.lines[2].description == "Zelle payment to JANE DOE Conf# abc123"  # collapsed
    assert all(ln.payee is None and ln.ref.id is None for ln in boa.lines)

    giro = parse_csv(DATA / "german_giro.csv", "giro.csv")
    assert [(ln.description, ln.payee) for ln in giro.lines] == [
        ("Abschlag Strom", "Stadtwerke"),
        ("Gehalt November", "Arbeitgeber GmbH"),
        ("Kartenzahlung Café", "Café Müller"),  # cp1252 bytes decoded
    ]

    debits = parse_csv(DATA / "debit_negative.csv", "d.csv")
    assert [(ln.description, ln.payee, ln.ref.id) for ln in debits.lines] == [
        ("Weekly shop", "Grocer", "R-1"),
        ("Salary", "Employer", "R-2"),
        ("Rent March", "Landlord", "R-3"),
    ]
    multi = parse_csv(DATA / "multiline.csv", "m.csv")
    assert multi.lines[0].description == "First line second line, with comma"
    assert str(multi.lines[2].ref) == "m.csv:5"


# ------------------------------------------------------------------------ encoding


@pytest.mark.parametrize(
    ("raw", "options", "expected"),
    [
        ("Date,Description,Amount\n2025-01-02,Café,-1.00\n".encode(), {}, "Café"),
        (b"\xef\xbb\xbfDate,Description,Amount\n2025-01-02,Caf\xc3\xa9,-1.00\n", {}, "Café"),
        (b"Date,Description,Amount\n2025-01-02,Caf\xe9,-1.00\n", {}, "Café"),  # cp1252
        (b"Date,Description,Amount\n2025-01-02,\x80 fee,-1.00\n", {}, "€ fee"),  # cp1252 euro
        (
            "Date\tDescription\tAmount\n2025-01-02\tCafé\t-1.00\n".encode("utf-16"),
            {},
            "Café",
        ),
        # Valid UTF-8 bytes read as latin-1 because the user said so.
        (
            "Date,Description,Amount\n2025-01-02,Café,-1.00\n".encode(),
            {"encoding": "latin-1"},
            "CafÃ©",
        ),
    ],
    ids=["utf8", "utf8-bom", "cp1252-fallback", "cp1252-euro", "utf16-bom", "override"],
)
def test_encoding(tmp_path: Path, raw: bytes, options: dict[str, object], expected: str) -> None:
    st = parse_text(tmp_path, raw, **options)
    assert [ln.description for ln in st.lines] == [expected]
    assert st.lines[0].amount == D("-1.00")


def test_bom_does_not_hide_the_first_header(tmp_path: Path) -> None:
    st = parse_text(tmp_path, b"\xef\xbb\xbfDate,Amount\n2025-01-02,5\n")
    assert summary(st) == [(2, day(2025, 1, 2), D("5"), None)]


def test_bom_stripped_with_explicit_encoding(tmp_path: Path) -> None:
    # Headerless, so a BOM left on the first cell would spoil the first date.
    raw = b"\xef\xbb\xbf2025-01-02,5,Shop\n2025-01-03,6,Cafe\n"
    st = parse_text(tmp_path, raw, encoding="utf-8")
    assert [(ln.date, ln.amount) for ln in st.lines] == [
        (day(2025, 1, 2), D("5")),
        (day(2025, 1, 3), D("6")),
    ]


def test_unknown_encoding_override(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Amount\n2025-01-02,5\n", encoding="no-such-codec")
    assert str(err) == "stmt.csv: unknown encoding 'no-such-codec'"


# ----------------------------------------------------------------------- delimiter

ROWS = [
    ["Date", "Description", "Amount"],
    ["2025-02-01", "Shop, Inc", "-12.00"],
    ["2025-02-03", "Pay", "100.00"],
]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_detected(tmp_path: Path, delimiter: str) -> None:
    def cell(c: str) -> str:
        return f'"{c}"' if delimiter in c else c

    text = "\n".join(delimiter.join(cell(c) for c in row) for row in ROWS) + "\n"
    assert csv_detect.detect_delimiter(text) == delimiter
    st = parse_text(tmp_path, text)
    assert [(ln.description, ln.amount) for ln in st.lines] == [
        ("Shop, Inc", D("-12.00")),
        ("Pay", D("100.00")),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A preamble of differently shaped rows (where csv.Sniffer gives up).
        (
            "Account: 123\nFrom;01.01.2025;to;31.01.2025\n\nDatum;Text;Betrag\n"
            "02.01.2025;A, b;-1,50\n03.01.2025;C;2,00\n04.01.2025;D;3,00\n",
            ";",
        ),
        # Decimal commas make ',' split rows unevenly; ';' stays consistent.
        ("Datum;Betrag;Text\n01.01.2025;-1,50;a\n02.01.2025;20;b\n03.01.2025;3,25;c\n", ";"),
        # Every description holds one comma: both split evenly, the wider split wins.
        ("Date\tText\tAmount\n2025-01-01\ta, b\t1\n2025-01-02\tc, d\t2\n", "\t"),
        ("single column\nonly\n", ","),
    ],
    ids=["preamble", "decimal-commas", "tab-with-commas", "fallback"],
)
def test_detect_delimiter(text: str, expected: str) -> None:
    assert csv_detect.detect_delimiter(text) == expected


def test_delimiter_override(tmp_path: Path) -> None:
    # With ';' forced the whole line is one field, so no columns can be found.
    err = error_of(tmp_path, "Date,Amount\n2025-01-02,5\n2025-01-03,6\n", delimiter=";")
    assert "no recognisable date/amount columns" in str(err)
    err = error_of(tmp_path, "Date,Amount\n2025-01-02,5\n", delimiter="|")
    assert "unsupported CSV delimiter '|'" in str(err)


# ---------------------------------------------------------------------------- dates

DATE_CASES = [
    (["2025-10-02", "2025-10-13"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["2025-10-02T08:15:00", "2025-10-13 23:59:59+02:00"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["10/02/2025", "10/13/2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["3/6/2016", "3/18/2016"], [day(2016, 3, 6), day(2016, 3, 18)]),
    (["02.10.2025", "13.10.2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["02/10/2025", "13/10/2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["10/02/25", "10/13/25"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["2025/10/02", "2025/10/13"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["02-10-2025", "13-10-2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["20251002", "20251013"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["2 Oct 2025", "13 Oct 2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["02-Okt-2025", "13. Dez 2025"], None),  # second shape is not supported: error
    (["02 Mär 2025", "13 Dez 2025"], [day(2025, 3, 2), day(2025, 12, 13)]),
    (["Oct 2, 2025", "Oct 13, 2025"], [day(2025, 10, 2), day(2025, 10, 13)]),
    (["02.10.25", "13.10.25"], [day(2025, 10, 2), day(2025, 10, 13)]),
]


@pytest.mark.parametrize(("values", "expected"), DATE_CASES)
def test_date_formats(
    tmp_path: Path, values: list[str], expected: list[datetime.date] | None
) -> None:
    text = "Date,Amount\n" + "".join(f'"{v}",1.00\n' for v in values)
    if expected is None:
        err = error_of(tmp_path, text)
        assert err.line == 3 and "cannot read date '13. Dez 2025'" in str(err)
    else:
        assert [ln.date for ln in parse_text(tmp_path, text).lines] == expected


def test_date_format_decided_from_all_values(tmp_path: Path) -> None:
    # Only the last row proves day/month order; the first two would fit both.
    text = "Date,Amount\n01/02/2025,1\n03/04/2025,2\n05/25/2025,3\n"
    assert [ln.date for ln in parse_text(tmp_path, text).lines] == [
        day(2025, 1, 2),
        day(2025, 3, 4),
        day(2025, 5, 25),
    ]


def test_ambiguous_dates(tmp_path: Path) -> None:
    text = "Date,Amount\n01/02/2025,1\n03/04/2025,2\n"
    err = error_of(tmp_path, text)
    message = str(err)
    assert message.startswith("stmt.csv: dates are ambiguous")
    assert "--csv-date-format %m/%d/%Y or %d/%m/%Y" in message
    assert "date_format in beanagent.toml" in message
    assert "\n" not in message
    us = parse_text(tmp_path, text, date_format="%m/%d/%Y")
    eu = parse_text(tmp_path, text, date_format="%d/%m/%Y")
    assert [ln.date for ln in us.lines] == [day(2025, 1, 2), day(2025, 3, 4)]
    assert [ln.date for ln in eu.lines] == [day(2025, 2, 1), day(2025, 4, 3)]


def test_ambiguous_two_digit_years(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Amount\n01/02/25,1\n")
    assert "--csv-date-format %m/%d/%y or %d/%m/%y" in str(err)


def test_unparseable_date_names_its_line(tmp_path: Path) -> None:
    text = 'Date,Description,Amount\n2025-01-02,"a\nb",1\n2025-13-45,c,2\n2025-01-04,d,3\n'
    err = error_of(tmp_path, text)
    assert (err.file, err.line) == ("stmt.csv", 4)
    assert "cannot read date '2025-13-45'" in str(err)


def test_date_format_override_with_time(tmp_path: Path) -> None:
    text = "Date,Amount\n02/01/2025 10:00,1\n"
    st = parse_text(tmp_path, text, date_format="%d/%m/%Y")
    assert st.lines[0].date == day(2025, 1, 2)
    err = error_of(tmp_path, text, date_format="%Y-%m-%d")
    assert err.line == 2 and "expected %Y-%m-%d" in str(err)


# -------------------------------------------------------------------------- columns

COLUMN_CASES = [
    # header, row, expected (date, amount, description, payee, balance, id)
    (
        "Trans. Date,Post Date,Details,Amount (USD),Reference",
        "01/15/2025,01/16/2025,SHOP,-3.50,X1",
        (day(2025, 1, 15), D("-3.50"), "SHOP", None, None, "X1"),
    ),
    (
        "Posting Date,Transaction Date,Narrative,Amount,Running Balance",
        "2025-01-16,2025-01-15,Coffee,-3.50,96.50",
        (day(2025, 1, 15), D("-3.50"), "Coffee", None, D("96.50"), None),
    ),
    (
        "Buchungstag;Wertstellung;Buchungstext;Verwendungszweck;Betrag;Kontostand",
        "15.01.2025;16.01.2025;Lastschrift;Miete;-500,00;1.000,00",
        # Verwendungszweck (the purpose) beats Buchungstext (only the booking type).
        (day(2025, 1, 15), D("-500.00"), "Miete", None, D("1000.00"), None),
    ),
    (
        "Datum;Name;Beschreibung;Soll;Haben;Saldo",
        "15.01.2025;Max;Miete;500,00;;1.000,00",
        (day(2025, 1, 15), D("-500.00"), "Miete", "Max", D("1000.00"), None),
    ),
    (
        "Booking Date,Payee,Memo,Withdrawal(s),Deposit(s),FITID",
        "2025-01-15,ACME,Invoice 7,,250.00,F1",
        (day(2025, 1, 15), D("250.00"), "Invoice 7", "ACME", None, "F1"),
    ),
    (
        "DATE,NAME,PAID OUT,PAID IN,BALANCE",
        "15/01/2025,Tesco,4.20,,95.80",
        (day(2025, 1, 15), D("-4.20"), "Tesco", None, D("95.80"), None),
    ),
    (
        "Date,Transaction Description,Money Out,Money In,Transaction ID",
        "2025-01-15,Refund,,1.00,T-9",
        (day(2025, 1, 15), D("1.00"), "Refund", None, None, "T-9"),
    ),
    (
        "Date,Debit,Credit,Description,Balance",  # split columns, both filled
        "2025-01-15,2.00,5.00,Net,3.00",
        (day(2025, 1, 15), D("3.00"), "Net", None, D("3.00"), None),
    ),
]


@pytest.mark.parametrize(("header", "row", "expected"), COLUMN_CASES)
def test_columns_by_header_name(
    tmp_path: Path, header: str, row: str, expected: tuple[object, ...]
) -> None:
    st = parse_text(tmp_path, f"{header}\n{row}\n")
    (ln,) = st.lines
    assert (ln.date, ln.amount, ln.description, ln.payee, ln.balance, ln.ref.id) == expected


def test_currency_from_header_and_column(tmp_path: Path) -> None:
    st = parse_text(tmp_path, "Date,Amount (USD)\n2025-01-02,1\n")
    assert st.currency == "USD"
    st = parse_text(tmp_path, "Date,Amount,Currency\n2025-01-02,1,eur\n2025-01-03,2,EUR\n")
    assert st.currency == "EUR"
    # rows disagree: one statement per currency (parse_csv_file), never one of mixed lines
    err = error_of(tmp_path, "Date,Amount,Währung\n2025-01-02,1,EUR\n2025-01-03,2,USD\n")
    assert "holds 2 statements (EUR, USD)" in str(err)
    st = parse_text(tmp_path, "Date,Amount\n2025-01-02,1\n")
    assert st.currency is None


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"date_col": "2", "amount_col": "4"}, (day(2025, 1, 3), D("-7.00"))),
        ({"date_col": "when", "amount_col": "Net"}, (day(2025, 1, 2), D("-7.00"))),
        ({"date_col": "When", "amount_col": "gross"}, (day(2025, 1, 2), D("-7.50"))),
        (
            {"date_col": "when", "debit_col": "Fee", "credit_col": "3"},
            (day(2025, 1, 2), D("-8.00")),
        ),
    ],
)
def test_column_overrides(
    tmp_path: Path, options: dict[str, object], expected: tuple[object, object]
) -> None:
    text = "When,Settled,Gross,Net,Fee\n2025-01-02,2025-01-03,-7.50,-7.00,0.50\n"
    (ln,) = parse_text(tmp_path, text, **options).lines
    assert (ln.date, ln.amount) == expected


def test_unknown_override_column(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Amount\n2025-01-02,1\n", amount_col="Betrag")
    assert err.line == 1
    assert "--csv-amount-col 'Betrag': no such column (the header has: Date, Amount)" in str(err)


def test_content_fallback_unknown_header_names(tmp_path: Path) -> None:
    text = "Wann,Was,Wieviel\n2025-01-02,Bread,-2.50\n2025-01-05,Pay,10.00\n"
    st = parse_text(tmp_path, text)
    assert [(ln.date, ln.amount, ln.description) for ln in st.lines] == [
        (day(2025, 1, 2), D("-2.50"), "Bread"),
        (day(2025, 1, 5), D("10.00"), "Pay"),
    ]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("When,Booked,Amount\n2025-01-02,2025-01-03,1\n", "date could be any of 'When', 'Booked'"),
        ("Date,Gross,Net\n2025-01-02,1,2\n", "amount could be any of 'Gross', 'Net'"),
        ("Date,Text\n2025-01-02,abc\n", "no amount column"),
    ],
)
def test_no_recognisable_columns(tmp_path: Path, text: str, detail: str) -> None:
    err = error_of(tmp_path, text)
    message = str(err)
    assert message.startswith("stmt.csv:1: no recognisable date/amount columns")
    assert detail in message
    assert "--csv-date-col/--csv-amount-col" in message


def test_header_line_override(tmp_path: Path) -> None:
    text = "Date,Amount\nnot,really\n\nDay,Value\n2025-01-02,3\n"
    st = parse_text(tmp_path, text, header_line=4, date_col="Day", amount_col="Value")
    assert summary(st) == [(5, day(2025, 1, 2), D("3"), None)]
    err = error_of(tmp_path, text, header_line=3)
    assert "header line 3 is blank" in str(err)


# -------------------------------------------------------------------------- amounts

MONEY_CASES = [
    ("1,234.56", ".", D("1234.56")),
    ("1.234,56", ",", D("1234.56")),
    ("1 234,56", ",", D("1234.56")),
    ("1\u00a0234,56", ",", D("1234.56")),
    ("1'234.56", ".", D("1234.56")),
    ("1,23,456.78", ".", D("123456.78")),
    ("$12.34", ".", D("12.34")),
    ("-$12.34", ".", D("-12.34")),
    ("$-12.34", ".", D("-12.34")),
    ("€ 1.234,50", ",", D("1234.50")),
    ("12,00 €", ",", D("12.00")),
    ("£5", ".", D("5")),
    ("USD 12.34", ".", D("12.34")),
    ("12.34 EUR", ".", D("12.34")),
    ("(12.34)", ".", D("-12.34")),
    ("($1,000.00)", ".", D("-1000.00")),
    ("12.34-", ".", D("-12.34")),
    ("+12.34", ".", D("12.34")),
    ("12.34 CR", ".", D("12.34")),
    ("12.34 DR", ".", D("-12.34")),
    ("12.34dr", ".", D("-12.34")),
    ("−7.5", ".", D("-7.5")),
    ("0", ".", D("0")),
    ("د.ا.\u200f4.750", ".", D("4.750")),
]


@pytest.mark.parametrize(("text", "decimal", "expected"), MONEY_CASES)
def test_parse_money(text: str, decimal: str, expected: Decimal) -> None:
    money = csv_detect.parse_money(text, decimal)
    assert money is not None and money.value == expected
    assert str(money.value) == str(expected)  # scale kept, no float on the way


@pytest.mark.parametrize(
    "text", ["abc", "12.34.56", "1,2", "(12.34", "--5", "12 34", "n/a", "12abc", ".50", "1,2345.00"]
)
def test_parse_money_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        csv_detect.parse_money(text, ".")


def test_parse_money_currency_codes() -> None:
    assert csv_detect.parse_money("12.34 EUR", ".") == csv_detect.Money(D("12.34"), "EUR")
    assert csv_detect.parse_money("€1", ".") == csv_detect.Money(D("1"), "EUR")
    assert csv_detect.parse_money("$1", ".") == csv_detect.Money(D("1"), None)
    assert csv_detect.parse_money("  ", ".") is None


@pytest.mark.parametrize(
    ("values", "default", "expected"),
    [
        (["1,234", "5.50"], ".", "."),
        (["1.234", "5,50"], ".", ","),
        (["1.234", "1.234.567"], ".", ","),
        (["1,234", "1,234,567"], ",", "."),
        (["1,234"], ",", ","),  # no evidence: the delimiter's default
        (["1,234"], ".", "."),
        (["0,123"], ".", ","),
        (["1234,567"], ".", ","),
    ],
)
def test_choose_decimal(values: list[str], default: str, expected: str) -> None:
    assert csv_detect.choose_decimal(values, default) == expected


def test_decimal_detected_from_whole_column(tmp_path: Path) -> None:
    # "1.234" alone could be either; the other rows show '.' is thousands.
    text = 'Date,Amount\n2025-01-02,"1.234"\n2025-01-03,"-5,50"\n2025-01-04,"2.000,25"\n'
    assert [ln.amount for ln in parse_text(tmp_path, text).lines] == [
        D("1234"),
        D("-5.50"),
        D("2000.25"),
    ]
    forced = parse_text(tmp_path, "Date;Amount\n2025-01-02;1,234\n", decimal=".")
    assert forced.lines[0].amount == D("1234")
    # Nothing in the file tells, and no ledger judged: refused, never guessed.
    err = error_of(tmp_path, "Date;Amount\n2025-01-02;1,234\n")
    assert "--csv-decimal" in str(err) and "'1,234'" in str(err)


def test_non_numeric_amount_names_its_line(tmp_path: Path) -> None:
    text = 'Date,Description,Amount\n2025-01-02,a,1.00\n2025-01-03,"multi\nline",pending\n'
    err = error_of(tmp_path, text)
    assert (err.file, err.line) == ("stmt.csv", 3)
    assert "cannot read amount 'pending' in column 'Amount'" in str(err)


def test_minority_decimal_mark_is_an_error(tmp_path: Path) -> None:
    text = 'Date,Amount\n2025-01-02,1.50\n2025-01-03,2.25\n2025-01-04,"3,5"\n'
    err = error_of(tmp_path, text)
    assert err.line == 4 and "--csv-decimal" in str(err)


# ------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("rows", "expected_lines"),
    [
        (["2025-01-01,a,1,1", "2025-01-01,b,2,3", "2025-01-02,c,3,6"], [2, 3, 4]),
        (["2025-01-02,c,3,6", "2025-01-01,b,2,3", "2025-01-01,a,1,1"], [4, 3, 2]),
        # Same day and no balance to tell: the file's order stands.
        (["2025-01-01,a,1,", "2025-01-01,b,2,"], [2, 3]),
        # Same day, balances read oldest-first.
        (["2025-01-01,a,1,1", "2025-01-01,b,2,3"], [2, 3]),
    ],
    ids=["oldest-first", "newest-first", "same-day-no-balance", "same-day-forward"],
)
def test_chronological_order(tmp_path: Path, rows: list[str], expected_lines: list[int]) -> None:
    st = parse_text(tmp_path, "Date,Description,Amount,Balance\n" + "\n".join(rows) + "\n")
    assert [ln.ref.line for ln in st.lines] == expected_lines
    dates = [ln.date for ln in st.lines]
    assert dates == sorted(dates)


def test_closing_balance_is_chronologically_last(tmp_path: Path) -> None:
    text = "Date,Amount,Balance\n2025-01-03,-1,9\n2025-01-02,5,10\n2025-01-01,5,5\n"
    st = parse_text(tmp_path, text)
    assert (st.closing_balance, st.closing_date) == (D("9"), day(2025, 1, 3))
    negated = parse_text(tmp_path, text, negate=True)
    assert (negated.closing_balance, [ln.amount for ln in negated.lines]) == (
        D("-9"),
        [D("-5"), D("-5"), D("1")],
    )


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "stmt.csv: the file is empty"),
        (b"  \r\n\n", "stmt.csv: the file is empty"),
        (b"\xef\xbb\xbf", "stmt.csv: the file is empty"),
        (b"Date,Description,Amount\n", "stmt.csv: no statement lines"),
        (b"Date,Description,Amount\n\n2025-01-01,Opening,\n", "stmt.csv: no statement lines"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "stmt.csv: does not look like a CSV"),
        (bytes(range(256)) * 4, "stmt.csv: does not look like a CSV"),
        (b"hello\nworld\n", "stmt.csv: no recognisable date/amount columns"),
        (b"just one line", "stmt.csv: no statement lines"),
    ],
    ids=["empty", "blank", "bom-only", "header-only", "no-amounts", "png", "bytes", "prose", "one"],
)
def test_bad_input_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    message = str(error_of(tmp_path, content))
    assert message.startswith(expected)
    assert "\n" not in message


def test_amount_without_date(tmp_path: Path) -> None:
    err = error_of(tmp_path, "Date,Amount\n2025-01-02,1\n,2\n2025-01-03,3\n")
    assert err.line == 3 and "no date in column 'Date'" in str(err)


def test_footer_rows_are_skipped(tmp_path: Path) -> None:
    text = "Date,Description,Amount\n2025-01-02,a,1\n2025-01-03,b,2\nTotal,,3\n***END***\n"
    assert [ln.amount for ln in parse_text(tmp_path, text).lines] == [D("1"), D("2")]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"^gone\.csv: cannot read the file"):
        parse_csv(tmp_path / "missing.csv", "gone.csv")


def test_never_a_traceback_on_mangled_input(tmp_path: Path) -> None:
    """Truncated, byte-flipped and shuffled variants of every fixture either parse or
    raise BadInputError; any other exception is a bug."""
    rng = random.Random(1234)
    sources = [p.read_bytes() for p in sorted(DATA.iterdir())]
    for n in range(300):
        data = bytearray(rng.choice(sources))
        mode = n % 3
        if mode == 0:
            del data[rng.randrange(len(data)) :]
        elif mode == 1:
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            lines = bytes(data).split(b"\n")
            rng.shuffle(lines)
            data = bytearray(b"\n".join(lines))
        path = write(tmp_path, bytes(data), f"m{n}.csv")
        try:
            parse_csv(path, path.name)
        except BadInputError as err:
            assert "\n" not in str(err)


# ----------------------------------------------------------------- real peer files


def test_realworld_beangulp_csvbank(realworld: Path) -> None:
    # Chase-style, newest first; golden: statement.csv.beancount beside it.
    st = parse_csv(realworld / "beangulp/examples/tests/csvbank/statement.csv", "statement.csv")
    assert [(ln.date, ln.amount) for ln in st.lines] == [
        (day(2016, 3, 4), D("-1300.00")),
        (day(2016, 3, 5), D("110.00")),
        (day(2016, 3, 6), D("-60.00")),
        (day(2016, 3, 14), D("-150.00")),
        (day(2016, 3, 15), D("2590.73")),
        (day(2016, 3, 18), D("-2680.89")),
    ]
    # "Description" wins over "Details" (which only says DEBIT/CREDIT).
    assert st.lines[0].description == "BOOGLE WALLET US000NEI9T WEB ID: C234567890"
    assert st.lines[0].balance == D("3600.02") and st.lines[0].ref.line == 7
    # Golden: "2016-03-19 balance ... 3409.86 USD", i.e. as of the end of 2016-03-18.
    assert (st.closing_balance, st.closing_date) == (D("3409.86"), day(2016, 3, 18))


def test_realworld_beangulp_example(realworld: Path) -> None:
    st = parse_csv(realworld / "beangulp/beangulp/file_type_testdata/example.csv", "example.csv")
    # The "***END OF FILE***" trailer is not a row.
    assert len(st.lines) == 6
    assert [ln.amount for ln in st.lines[:3]] == [D("31.04"), D("-31.04"), D("0.00")]
    assert st.lines[0].ref.id == "10223506553"
    assert st.lines[-1].date == day(2013, 9, 30)
    assert (st.closing_balance, st.closing_date) == (D("0.00"), day(2013, 9, 30))  # NET CASH


def test_realworld_hledger_csb43(realworld: Path) -> None:
    st = parse_csv(realworld / "hledger/examples/csv/banking/csb43.csv", "csb43.csv")
    assert [(ln.date, ln.amount, ln.description) for ln in st.lines] == [
        (day(2019, 11, 2), D("1500.00"), "MY_INCOME_LINE"),
        (day(2019, 11, 10), D("-500.00"), "MY_EXPENSE_LINE"),
    ]
    assert st.currency == "EUR"
    # initial_balance/final_balance are statement totals, not a running balance.
    assert st.closing_balance is None


def test_realworld_hledger_monefy(realworld: Path) -> None:
    path = realworld / "hledger/examples/csv/apps/monefy.csv"
    # Every date is 06/12/2021, so the order cannot be detected; hledger's own rules
    # file (monefy.csv.rules) says "date-format %d/%m/%Y".
    with pytest.raises(BadInputError, match="ambiguous"):
        parse_csv(path, "monefy.csv")
    # Its "account" column names two accounts: one statement each, never one of both.
    cash, card = parse_csv_file(path, "monefy.csv", CsvOptions(date_format="%d/%m/%Y"))
    assert (cash.account_id, card.account_id) == ("Cash", "Payment card")
    assert {ln.date for st in (cash, card) for ln in st.lines} == {day(2021, 12, 6)}
    assert [ln.amount for ln in cash.lines] == [D("-55"), D("-25"), D("1280.8"), D("-200")]
    assert [ln.amount for ln in card.lines] == [D("-180"), D("4884"), D("-12"), D("200")]
    assert cash.currency == card.currency == "USD"
    assert cash.lines[0].description == "fbbd"


def test_realworld_hledger_ynab(realworld: Path) -> None:
    found = parse_csv_file(realworld / "hledger/examples/csv/apps/ynab4-rtl.csv", "ynab.csv")
    # Outflow/Inflow columns with a right-to-left dinar symbol before each number; the
    # "Account" column names two accounts: one statement each.
    assert [(st.account_id, [(ln.date, ln.amount, ln.payee, ln.description)
                             for ln in st.lines]) for st in found] == [
        ("checking1", [(day(2022, 11, 7), D("-4.750"), "shop1", "Lunch")]),
        ("creditcard1", [(day(2022, 12, 11), D("-93.210"), "coffeeshop", "Coffee")]),
    ]
    # one line per account: nothing to check its running balance against
    assert [st.closing_balance for st in found] == [D("0.000"), D("56.790")]


def test_realworld_hledger_paypal(realworld: Path) -> None:
    path = realworld / "hledger/examples/csv/other/paypal-custom.csv"
    # Gross, Fee and Net are all amounts; which one is the user's call.
    with pytest.raises(BadInputError, match="amount could be any of 'Gross', 'Fee', 'Net'"):
        parse_csv(path, "paypal.csv")
    st = parse_csv(path, "paypal.csv", CsvOptions(amount_col="Net"))
    assert len(st.lines) == 7
    # Name is the counterparty; the purpose is the first filled text column (Note is
    # empty, so Item Title), and a row with neither says what kind of booking it is.
    assert (st.lines[0].date, st.lines[0].amount, st.lines[0].payee) == (
        day(2019, 10, 1),
        D("-6.99"),
        "Calm Radio",
    )
    assert st.lines[0].description.startswith("MONTHLY - $1 for the first 2 Months")
    assert (st.lines[1].payee, st.lines[1].description) == (None, "Bank Deposit to PP Account")
    assert st.lines[0].ref.id == "06P57143A2806728E"
    assert (st.lines[-1].date, st.lines[-1].amount) == (day(2019, 10, 22), D("9.41"))
    assert st.currency == "USD"


def test_realworld_hledger_stripe(realworld: Path) -> None:
    path = realworld / "hledger/examples/csv/other/stripe.csv"
    with pytest.raises(BadInputError, match="date could be any of 'created_utc'"):
        parse_csv(path, "stripe.csv")
    st = parse_csv(path, "stripe.csv", CsvOptions(date_col="created_utc", amount_col="net"))
    assert [(ln.date, ln.amount, ln.ref.id) for ln in st.lines] == [
        (day(2020, 1, 23), D("12.00"), "txn_14G11HjubSIHf9IKrvJdwN"),
        (day(2020, 1, 23), D("-0.77"), "txn_14G11HjHgubIH9ZvbPgYO7"),
    ]
    assert st.lines[1].description == "REFUND FOR PAYMENT"
    assert st.currency == "USD"
