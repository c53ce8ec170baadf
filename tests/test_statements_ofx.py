"""OFX parsing against real bank/card downloads and small hand-written edge cases."""

from __future__ import annotations

import datetime
import shutil
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements.dispatch import parse_statement_file
from beanagent.statements.model import RawStatement
from beanagent.statements.ofx import parse_ofx
from beanagent.statements.sniff import looks_like_ofx

DATA = Path(__file__).parent / "data" / "ofx"
D = datetime.date


def physical_lines(path: Path) -> list[str]:
    """The file's lines as an editor numbers them (\\r\\n, \\r and \\n all end a line)."""
    with path.open(encoding="latin-1", newline=None) as fh:
        return fh.read().split("\n")


def assert_refs_point_at_stmttrn(path: Path, statements: list[RawStatement]) -> None:
    """Every line's Ref.line is a line with an opening <STMTTRN>, and its FITID follows."""
    lines = physical_lines(path)
    for stmt in statements:
        for ln in stmt.lines:
            assert ln.ref.line is not None
            assert "<STMTTRN>" in lines[ln.ref.line - 1].upper()
            if ln.ref.id:
                assert ln.ref.id in "\n".join(lines[ln.ref.line - 1 :])


def assert_chronological(stmt: RawStatement) -> None:
    dates = [ln.date for ln in stmt.lines]
    assert dates == sorted(dates)


# --- real downloads -------------------------------------------------------------------


def test_beangulp_ofxdownload(realworld: Path) -> None:
    path = realworld / "beangulp/examples/tests/ofx/ofxdownload.ofx"
    [stmt] = parse_ofx(path, "ofxdownload.ofx")
    assert stmt.format == "ofx"
    assert stmt.file == "ofxdownload.ofx"
    assert stmt.account_id == "379700001111222"
    assert stmt.currency == "USD"
    assert stmt.closing_balance == Decimal("-2356.38")
    assert stmt.closing_date == D(2013, 12, 18)
    assert len(stmt.lines) == 12
    assert (stmt.lines[0].date, stmt.lines[-1].date) == (D(2013, 12, 1), D(2013, 12, 16))
    assert_chronological(stmt)
    first = stmt.lines[0]
    assert first.ref.id == "320133350353869664"
    assert first.amount == Decimal("-9.99")
    assert first.payee == "SPOTIFY USA 28770130901"
    assert first.description == "SPOTIFY USA 28770130901 / 2600720879 WWW.SPOTIFY.COM"
    # The whole body is on one physical line: every STMTTRN starts on it.
    lines = physical_lines(path)
    body_line = next(i for i, text in enumerate(lines, 1) if "<STMTTRN>" in text)
    assert first.ref.line == body_line
    assert first.ref.file == "ofxdownload.ofx"
    assert "<FITID>320133350353869664" in lines[body_line - 1]
    assert sum(ln.amount for ln in stmt.lines) == Decimal("-352.82")


def test_beangulp_bofa_card_statement(realworld: Path) -> None:
    path = realworld / "beangulp/examples/documents/Liabilities/US/CreditCard/2013-12-03.bofa.ofx"
    [stmt] = parse_ofx(path, "bofa.ofx")
    assert len(stmt.lines) == 27
    assert stmt.closing_balance == Decimal("-2093.01")
    assert stmt.closing_date == D(2013, 12, 3)
    assert (stmt.lines[0].date, stmt.lines[-1].date) == (D(2013, 10, 26), D(2013, 12, 2))
    assert_chronological(stmt)
    assert_refs_point_at_stmttrn(path, [stmt])


def test_beangulp_example_ofx(realworld: Path) -> None:
    path = realworld / "beangulp/beangulp/file_type_testdata/example.ofx"
    [stmt] = parse_ofx(path, "example.ofx")
    assert (stmt.account_id, stmt.currency) == ("092243467384967", "USD")
    assert len(stmt.lines) == 17
    assert stmt.closing_balance == Decimal("-3609.07")
    assert stmt.closing_date == D(2013, 12, 17)
    assert stmt.lines[-1].amount == Decimal("-34.43")


def test_beangulp_example_qbo_three_accounts(realworld: Path) -> None:
    """A QBO with a trailing NUL after </OFX>, newest-first, and three statements."""
    path = realworld / "beangulp/beangulp/file_type_testdata/example.qbo"
    stmts = parse_ofx(path, "example.qbo")
    assert [(s.account_id, len(s.lines), s.closing_balance) for s in stmts] == [
        ("011016298027", 10, Decimal("368.62")),
        ("122384459041", 4, Decimal("2468.87")),
        ("2542393734236684", 9, Decimal("0.00")),
    ]
    assert all(s.currency == "CAD" for s in stmts)
    for stmt in stmts:
        assert_chronological(stmt)
    assert_refs_point_at_stmttrn(path, stmts)


def test_beangulp_example_qfx_has_no_cash(realworld: Path) -> None:
    """A 401(k): every buy is funded by a contribution, not by cash; the rest moves none."""
    path = realworld / "beangulp/beangulp/file_type_testdata/example.qfx"
    with pytest.raises(BadInputError, match="only holds investment statements without cash "
                       r"transactions \(12 investment transaction\(s\) left out: funded from "
                       r"a 401\(k\) contribution source \(not cash\); 4 .*TRANSFER") as err:
        parse_ofx(path, "example.qfx")
    assert err.value.file == "example.qfx"


# (path, [(lines, closing balance) per statement], (statement, line, amount))
READABLE = [
    ("ofxparse/tests/fixtures/checking.ofx", [(3, "100.99")], (0, 2, "-25.00")),
    ("ofxparse/tests/fixtures/bank_medium.ofx", [(3, "382.34")], (0, 2, "-22.00")),
    ("ofxparse/tests/fixtures/anzcc.ofx", [(1, "-123.45")], (0, 0, "-5.50")),
    ("ofxparse/tests/fixtures/suncorp.ofx", [(1, "1234.12")], (0, 0, "-16.85")),
    ("ofxparse/tests/fixtures/multiple_accounts.ofx", [(0, "111"), (0, "222")], None),
    ("ofxparse/tests/fixtures/multiple_accounts2.ofx", [(0, "111"), (0, "222")], None),
    ("ofxparse/tests/fixtures/ofx-v102-empty-tags.ofx", [(1, None)], (0, 0, "12.34")),
    ("ofxtools/tests/data/stmtrs.ofx", [(2, "200.29")], (0, 1, "-300.00")),
    ("ofxtools/tests/data/stmtrs_euro.ofx", [(2, "200.29")], (0, 1, "-300.00")),
    ("ofxtools/tests/data/br_nubank_cc.ofx", [(6, "-1280.91")], (0, 5, "-33.46")),
    # End tags for data elements, nested wrongly, and no header at all.
    ("beancount-import/testdata/source/ofx/amex.ofx", [(3, "-2356.38")], (0, 0, "-143.94")),
    # XML-style `<BALAMT/>` in an SGML file.
    (
        "beancount-import/testdata/source/ofx/checking-emptyledgerbal.ofx",
        [(3, None)],
        (0, 2, "-25.00"),
    ),
]


@pytest.mark.parametrize(("rel", "shape", "sample"), READABLE, ids=[r[0] for r in READABLE])
def test_real_bank_and_card_files(
    realworld: Path,
    rel: str,
    shape: list[tuple[int, str | None]],
    sample: tuple[int, int, str] | None,
) -> None:
    path = realworld / rel
    stmts = parse_ofx(path, rel)
    assert [(len(s.lines), s.closing_balance) for s in stmts] == [
        (n, None if bal is None else Decimal(bal)) for n, bal in shape
    ]
    if sample is not None:
        s, i, amount = sample
        assert stmts[s].lines[i].amount == Decimal(amount)
    for stmt in stmts:
        assert stmt.format == "ofx"
        assert stmt.account_id
        assert_chronological(stmt)
        assert all(isinstance(ln.amount, Decimal) for ln in stmt.lines)
    assert_refs_point_at_stmttrn(path, stmts)


def test_empty_tags_file_details(realworld: Path) -> None:
    """`<CURDEF></CURDEF>`, an empty FITID and NAME, and an all-empty LEDGERBAL."""
    [stmt] = parse_ofx(realworld / "ofxparse/tests/fixtures/ofx-v102-empty-tags.ofx", "e.ofx")
    assert stmt.currency is None
    assert stmt.closing_date is None
    [line] = stmt.lines
    assert (line.ref.id, line.payee, line.description) == (None, None, "CBA:Transfer")


def test_memo_that_completes_a_truncated_name(realworld: Path) -> None:
    [stmt] = parse_ofx(realworld / "ofxparse/tests/fixtures/checking.ofx", "checking.ofx")
    first = stmt.lines[0]
    assert first.payee == "DIVIDEND EARNED FOR PERIOD OF 03"
    assert first.description.startswith("DIVIDEND EARNED FOR PERIOD OF 03/01/2011 THROUGH")


def test_brazilian_card_memo_only_and_unclosed_tranlist(realworld: Path) -> None:
    [stmt] = parse_ofx(realworld / "ofxtools/tests/data/br_nubank_cc.ofx", "nubank.ofx")
    assert stmt.currency == "BRL"
    assert all(ln.payee is None and ln.description == "-memo-message-" for ln in stmt.lines)
    # LEDGERBAL sits inside the never-closed BANKTRANLIST; it is still found.
    assert stmt.closing_date == D(2024, 3, 25)


BROKEN = [
    ("ofxparse/tests/fixtures/fail_nice/date_missing.ofx", "no DTPOSTED date", 33),
    ("ofxparse/tests/fixtures/fail_nice/decimal_error.ofx", "invalid TRNAMT amount '$120'", 34),
    ("ofxparse/tests/fixtures/fail_nice/empty_balance.ofx", "no BALAMT amount", 37),
    ("ofxparse/tests/fixtures/signon_fail.ofx", "invalid identification code", 11),
    ("ofxparse/tests/fixtures/error_message.ofx", "General Server Error", 22),
    ("ofxparse/tests/fixtures/bank_small.ofx", "no bank or credit-card statement", None),
    ("ofxparse/tests/fixtures/signon_success.ofx", "no bank or credit-card statement", None),
    ("ofxparse/tests/fixtures/account_listing_aggregation.ofx", "no bank or credit-card", None),
]


@pytest.mark.parametrize(("rel", "message", "line"), BROKEN, ids=[r[0] for r in BROKEN])
def test_broken_real_files_give_one_line_errors(
    realworld: Path, rel: str, message: str, line: int | None
) -> None:
    with pytest.raises(BadInputError) as err:
        parse_ofx(realworld / rel, rel)
    assert message in err.value.message
    assert err.value.file == rel
    assert err.value.line == line
    assert "\n" not in str(err.value)


NO_CASH = [
    ("ofxparse/tests/fixtures/investment_medium.ofx", "3 investment transaction(s) left out: "
     "in another currency"),  # USD cash lines in a CAD statement
    ("ofxparse/tests/fixtures/vanguard.ofx", "without cash transactions"),
    ("ofxparse/tests/fixtures/td_ameritrade.ofx", "without cash transactions;"),
    ("beancount-import/testdata/source/ofx/vanguard401k.ofx", "401(k) contribution source"),
    ("beancount-import/testdata/source/ofx/vanguard_roth_ira.ofx", "moving no cash (REINVEST)"),
]


@pytest.mark.parametrize(("rel", "message"), NO_CASH, ids=[r[0] for r in NO_CASH])
def test_investment_files_without_cash_are_refused_clearly(
    realworld: Path, rel: str, message: str
) -> None:
    with pytest.raises(BadInputError, match="lots at cost are not read") as err:
        parse_ofx(realworld / rel, rel)
    assert message in err.value.message
    assert err.value.file == rel


def test_investment_cash_ofxtools(realworld: Path) -> None:
    rel = "ofxtools/tests/data/invstmtrs.ofx"
    [stmt] = parse_ofx(realworld / rel, rel)
    assert (stmt.format, stmt.account_id, stmt.currency, stmt.closing_balance) == (
        "ofx", "999988", "USD", None)
    assert [(ln.date, ln.amount, ln.description, ln.ref.id) for ln in stmt.lines] == [
        (D(2005, 8, 25), Decimal("-5025.00"), "buy 100 ACME", "23321"),
        (D(2005, 8, 25), Decimal("1000.00"), "Customer deposit / Your check #1034", "12345"),
    ]
    assert "lots at cost, positions and prices are left out" in stmt.notes[0]
    assert "AVAILCASH) is not asserted" in stmt.notes[0]
    lines = physical_lines(realworld / rel)
    assert "<BUYSTOCK>" in lines[stmt.lines[0].ref.line - 1]  # type: ignore[operator]


def test_investment_cash_fidelity(realworld: Path) -> None:
    """Buys, sells, dividends, interest and a fee: every cash movement of the file."""
    rel = "ofxparse/tests/fixtures/fidelity.ofx"
    [stmt] = parse_ofx(realworld / rel, rel)
    assert stmt.account_id == "01234567890"
    amounts = [ln.amount for ln in stmt.lines]
    assert len(amounts) == 17
    assert sorted(amounts)[:2] == [Decimal("-5049.99"), Decimal("-2571.45")]
    assert Decimal("1089.30") in amounts  # SELLSTOCK TOTAL
    assert Decimal("5.53") in amounts  # INCOME DIV
    assert Decimal("-0.97") in amounts  # INVBANKTRAN fee
    sold = next(ln for ln in stmt.lines if ln.amount == Decimal("1089.30"))
    assert (sold.date, sold.description) == (D(2012, 7, 27), "sell 8 SPY / YOU SOLD")
    dividend = next(ln for ln in stmt.lines if ln.amount == Decimal("5.53"))
    assert dividend.description == "income div SPY / DIVIDEND RECEIVED"
    # Summed by hand from the file.
    assert sum(amounts) == Decimal("-10526.67")  # by hand: 8 buys, 4 dividends, 2 sells, 3 bank


def test_investment_cash_rounds_absurd_precision(realworld: Path) -> None:
    rel = "beancount-import/testdata/source/ofx/investment_buy_sell_income.ofx"
    [stmt] = parse_ofx(realworld / rel, rel)
    first = stmt.lines[0]
    assert (first.date, first.amount) == (D(2018, 7, 2), Decimal("-536.53479228"))
    assert any("9 TOTAL(s) with more than 8 decimals rounded to 8" in n for n in stmt.notes)
    # beancount-import's expected import: INCOME - DIV 62.65 USD to the cash account.
    assert any(ln.amount.quantize(Decimal("0.01")) == Decimal("62.65")
               and ln.description.startswith("income div") for ln in stmt.lines)


def test_bank_and_investment_in_one_file(realworld: Path) -> None:
    rel = "beancount-import/testdata/source/ofx/fidelity_treasury.ofx"
    [stmt] = parse_ofx(realworld / rel, rel)
    assert [(ln.date, ln.amount) for ln in stmt.lines] == [
        (D(2022, 11, 23), Decimal("1111.0000")),
        (D(2023, 1, 19), Decimal("-95325.01")),
        (D(2023, 3, 21), Decimal("96000.0000")),
    ]


# --- hand-written edge cases ------------------------------------------------------------


def test_ofx2_xml_bank_and_card() -> None:
    path = DATA / "bank_and_card_v2.ofx"
    bank, card = parse_ofx(path, "v2.ofx")
    assert (bank.account_id, bank.currency) == ("DE00123456789", "EUR")
    assert bank.closing_balance == Decimal("3442.40")
    assert bank.closing_date == D(2024, 1, 31)
    # Reordered by date; the two 15 January lines keep the file's order.
    assert [(ln.ref.id, ln.date, ln.amount) for ln in bank.lines] == [
        ("E-1", D(2024, 1, 3), Decimal("2500.00")),
        ("E-3", D(2024, 1, 15), Decimal("-45.10")),
        ("E-4", D(2024, 1, 15), Decimal("-12.50")),  # written "-12,50"
    ]
    assert [ln.description for ln in bank.lines] == [
        "ACME GmbH / Salary January",  # whitespace collapsed
        "Marks & Spencer",  # entity unescaped; a MEMO equal to NAME adds nothing
        "Café Zentral",  # from the PAYEE aggregate, UTF-8
    ]
    assert [ln.payee for ln in bank.lines] == ["ACME GmbH", "Marks & Spencer", "Café Zentral"]
    assert_refs_point_at_stmttrn(path, [bank, card])
    assert [ln.ref.line for ln in bank.lines] == [33, 25, 41]

    assert (card.account_id, card.currency, card.closing_balance) == (
        "4111XXXXXXXX1111",
        "EUR",
        None,
    )
    assert card.closing_date is None
    assert [(ln.date, ln.amount, ln.description) for ln in card.lines] == [
        (D(2024, 1, 20), Decimal("-99.99"), "ONLINE SHOP")
    ]


def test_crlf_sgml_without_closing_tags() -> None:
    path = DATA / "crlf_sgml.ofx"
    assert b"\r\n" in path.read_bytes(), "fixture must keep its CRLF line ends"
    [stmt] = parse_ofx(path, "crlf.ofx")
    assert (stmt.account_id, stmt.currency) == ("00012345678", "EUR")
    assert (stmt.closing_balance, stmt.closing_date) == (Decimal("1191.60"), D(2024, 1, 31))
    salary, bakery = stmt.lines
    assert (salary.ref.id, salary.amount, salary.description) == (
        "F-1",
        Decimal("1200.00"),
        "VIR SEPA EMPLOYEUR",
    )
    # 23:00 in New York is already 1 February in UTC; the bank's date is kept.
    assert (bakery.date, bakery.amount) == (D(2024, 1, 31), Decimal("-8.40"))
    assert bakery.description == "BOULANGERIE L'ÉPI / CB 30/01"  # decoded as cp1252
    lines = physical_lines(path)
    assert (bakery.ref.line, salary.ref.line) == (42, 51)
    assert lines[41] == lines[50] == "<STMTTRN>"


def test_truncated_file() -> None:
    with pytest.raises(BadInputError, match="truncated") as err:
        parse_ofx(DATA / "truncated.ofx", "truncated.ofx")
    assert err.value.file == "truncated.ofx"
    assert err.value.line == len(physical_lines(DATA / "truncated.ofx"))


def test_non_ofx_file_with_ofx_extension() -> None:
    with pytest.raises(BadInputError, match="not an OFX file") as err:
        parse_ofx(DATA / "not_really.ofx", "not_really.ofx")
    assert err.value.file == "not_really.ofx"


def test_stray_text_reports_its_line(tmp_path: Path) -> None:
    text = (DATA / "bank_and_card_v2.ofx").read_text(encoding="utf-8")
    broken = text.replace("1111</ACCTID>", "1111</ACCTID>stray text")
    path = tmp_path / "broken.ofx"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(BadInputError, match="malformed OFX") as err:
        parse_ofx(path, "broken.ofx")
    assert err.value.line == 69
    assert "stray text" in err.value.message
    assert "<OFX>" not in err.value.message  # not the whole body, as ofxtools puts it


def test_looks_like_ofx() -> None:
    assert looks_like_ofx(b"\r\n\r\nOFXHEADER:100\r\nDATA:OFXSGML")
    assert looks_like_ofx(b'<?xml version="1.0"?>\n<?OFX OFXHEADER="200"?>')
    assert looks_like_ofx(b"\n<ofx>\n<SIGNONMSGSRSV1>")
    assert not looks_like_ofx(b"Date,Description,Amount\n2024-01-01,x,1\n")


# --- format dispatch (parse.py) ---------------------------------------------------------


def test_dispatch_sniffs_ofx_whatever_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "download.txt"
    shutil.copy(DATA / "crlf_sgml.ofx", path)
    [stmt] = parse_statement_file(path, "download.txt")
    assert (stmt.format, len(stmt.lines)) == ("ofx", 2)


def test_dispatch_qbo(realworld: Path) -> None:
    stmts = parse_statement_file(
        realworld / "beangulp/beangulp/file_type_testdata/example.qbo", "example.qbo"
    )
    assert len(stmts) == 3


def test_dispatch_ofx_extension_without_ofx_content_goes_to_ofx() -> None:
    with pytest.raises(BadInputError, match="not an OFX file"):
        parse_statement_file(DATA / "not_really.ofx", "not_really.ofx")


def test_dispatch_missing_empty_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="not found") as err:
        parse_statement_file(tmp_path / "nope.ofx", "nope.ofx")
    assert err.value.file == "nope.ofx"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(BadInputError, match="empty"):
        parse_statement_file(empty, "empty.csv")
    with pytest.raises(BadInputError, match="not a file"):
        parse_statement_file(tmp_path, "dir")


def test_dispatch_other_files_go_to_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the hand-off is tested here: csv.py is another module's job."""
    calls: list[tuple[Path, str, object]] = []

    def fake_parse_csv(path: Path, display: str, options: object,
                       judge: object = None) -> list[RawStatement]:
        calls.append((path, display, options))
        return [RawStatement(file=display, format="csv", lines=())]

    fake = types.ModuleType("beanagent.statements.csv")
    fake.parse_csv_file = fake_parse_csv  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "beanagent.statements.csv", fake)
    path = tmp_path / "bank.csv"
    path.write_text("Date,Amount\n2024-01-01,1.00\n", encoding="utf-8")

    [stmt] = parse_statement_file(path, "bank.csv")
    assert stmt.format == "csv"
    assert calls[0][:2] == (path, "bank.csv")
    assert calls[0][2] == CsvOptions()  # no overrides: detect everything
    given = object()
    parse_statement_file(path, "bank.csv", csv_options=given)  # type: ignore[arg-type]
    assert calls[1][2] is given


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<ofx><stmtrs></stmtrs></ofx>", "OFX tags are upper case"),
        (b"<OFX><OFX></OFX>", "<OFX> is never closed"),
        (b"\x00\xff<OFX>\x01</OFX>", "no bank or credit-card statement"),
        (
            b"<OFX><STMTRS><BANKTRANLIST><STMTTRN><DTPOSTED>20240101<TRNAMT>NaN"
            b"</STMTTRN></BANKTRANLIST></STMTRS></OFX>",
            "invalid TRNAMT amount 'NaN'",
        ),
        (
            b"<OFX><STMTRS><LEDGERBAL><BALAMT>1<DTASOF>2024</LEDGERBAL></STMTRS></OFX>",
            "invalid DTASOF date '2024'",
        ),
    ],
)
def test_garbage_gives_bad_input(tmp_path: Path, body: bytes, message: str) -> None:
    path = tmp_path / "x.ofx"
    path.write_bytes(body)
    with pytest.raises(BadInputError) as err:
        parse_ofx(path, "x.ofx")
    assert message in err.value.message


def test_second_copy_after_closing_tag_is_ignored(tmp_path: Path) -> None:
    raw = (DATA / "bank_and_card_v2.ofx").read_bytes()
    path = tmp_path / "twice.ofx"
    path.write_bytes(raw + raw)
    assert [len(s.lines) for s in parse_ofx(path, "twice.ofx")] == [3, 1]
