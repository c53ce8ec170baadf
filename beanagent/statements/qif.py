"""QIF (Quicken Interchange Format) exports from Quicken, GnuCash, Money and many banks.

Why our own reader rather than `quiffen` (4.0): quiffen parses each date on its own with
dateutil, so one file can be read half month-first and half day-first without a word
(`13/01/2024` as 13 January, `03/02/2024` as 2 March, side by side); it keeps no line
numbers, and it pulls in pydantic and pins python-dateutil below 3. QIF itself is a few
one-letter fields per line, so a small reader that decides the date order once for the
whole file, and says where a record is broken, is less code than working around it.

What is read: the transactions of `!Type:Bank`, `CCard`, `Cash`, `Oth A` and `Oth L`
sections, one RawStatement per account (`!Account` name, as account_id: map it with
`account: "<name>"` on the ledger's open directive). Per record: `D` date, `T` (or `U`)
amount, signed from the account's view as QIF writes it, `P` payee, `M` memo (description
is the payee plus the memo), `N` check number. A split transaction (`S`/`E`/`$`) is one line
for its total. Quicken's "Opening Balance" record (a transfer to the account itself) is not
a transaction: skipped, with a note. Investment sections (`!Type:Invst`) are not read
(lots, prices and their cash legs are left out): skipped with a note, or the file refused
when it holds nothing else. Lists (categories, classes, securities, memorised
transactions) are ignored. QIF carries no currency and no closing balance.

Dates: ISO (2024-01-31) is read as is. Otherwise every date of the file is read the same way,
month/day or day/month: the file decides when one of its dates has a part above 12;
`--csv-date-format` decides when given; else the file is refused, naming that option. Two
digit years: after Quicken's apostrophe (1/ 1'01) they are 20xx; otherwise 00-68 are 20xx and
69-99 19xx. The decimal mark is decided for the whole file the same way (`--csv-decimal`).
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import re
from decimal import Decimal, InvalidOperation

from beanagent.errors import BadInputError
from beanagent.statements.common import clean, decode_text, read_bytes
from beanagent.statements.model import (
    RawStatement,
    Ref,
    StatementLine,
    amount_problem,
    date_problem,
)

QIF_SUFFIXES = frozenset({".qif"})

_HEADER = re.compile(r"(?im)^\s*!(?:type|account|option|clear)\b")
_CASH_TYPES = {"bank", "ccard", "cash", "oth a", "oth l"}
_INVEST_TYPES = {"invst", "port"}
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SLASHED = re.compile(r"(\d{1,2})[/.-](\d{1,2})([/.'-])(\d{2}|\d{4})")
_AMOUNT = re.compile(r"[-+]?[\d.,]*\d[\d.,]*")


def looks_like_qif(head: bytes) -> bool:
    return _HEADER.search(head.decode("latin-1")) is not None


@dataclasses.dataclass
class _Record:
    line: int
    account: str | None
    fields: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def get(self, code: str) -> str:
        return next((value for c, value in self.fields if c == code), "")


def parse_qif(path: pathlib.Path, display: str, date_format: str | None = None,
              decimal: str | None = None) -> list[RawStatement]:
    """One RawStatement per account with bank, card or cash transactions in the file.
    `date_format` (a strptime format: only whether %d or %m comes first is used) and
    `decimal` ("." or ",") are the user's overrides; see the module docstring."""
    text = decode_text(read_bytes(path, display))
    records, skipped_invest = _records(text, display)
    if not records:
        if skipped_invest:
            raise BadInputError(
                f"this QIF file only holds investment transactions ({skipped_invest} in "
                "!Type:Invst sections); beanagent reads bank, card and cash sections",
                file=display)
        raise BadInputError("no bank, card or cash transactions (!Type:Bank, CCard, Cash) in "
                            "this QIF file", file=display)
    day_first = _date_order(records, display, date_format)
    mark = decimal or _decimal_mark(records)
    notes = []
    if skipped_invest:
        notes.append(f"{display}: {skipped_invest} investment transaction(s) (!Type:Invst) "
                     "not read: beanagent reads the bank, card and cash sections only")
    by_account: dict[str | None, list[StatementLine]] = {}
    opening = 0
    for rec in records:
        if _is_opening_balance(rec):
            opening += 1
            continue
        by_account.setdefault(rec.account, []).append(_line(rec, display, day_first, mark))
    if opening:
        notes.append(f"{display}: {opening} 'Opening Balance' record(s) skipped: they set "
                     "the account's starting balance, they are not transactions")
    out = []
    for account, lines in by_account.items():
        lines.sort(key=lambda ln: ln.date)
        out.append(RawStatement(file=display, format="qif", lines=tuple(lines),
                                account_id=account, notes=tuple(notes)))
        notes = []  # said once
    if not out:
        raise BadInputError("no transactions in this QIF file (only an opening balance)",
                            file=display)
    return out


def _records(text: str, display: str) -> tuple[list[_Record], int]:
    """The transaction records of cash-like sections, and how many investment records were
    passed over."""
    records: list[_Record] = []
    invest = 0
    section = ""  # lower-cased type after !Type:, "account" inside an !Account block
    account: str | None = None
    pending_account: dict[str, str] = {}
    current: _Record | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("!"):
            head = line[1:].lower()
            if current is not None and current.fields and section in _CASH_TYPES:
                raise BadInputError("QIF record not closed with ^ before the next section",
                                    file=display, line=current.line)
            current = None
            section = "account" if head == "account" else (
                head.split(":", 1)[1].strip() if head.startswith("type:") else "other")
            continue
        if section == "account":
            if line.startswith("^"):
                account = pending_account.get("N") or account
                pending_account = {}
            else:
                pending_account[line[0].upper()] = line[1:].strip()
            continue
        reading = section in _CASH_TYPES
        if line.startswith("^"):
            if current is not None and current.fields:
                if reading:
                    records.append(current)
                elif section in _INVEST_TYPES:
                    invest += 1
            current = None
            continue
        if current is None:
            current = _Record(number, account)
        current.fields.append((line[0].upper(), line[1:].strip()))
    if current is not None and current.fields:
        if section in _CASH_TYPES:
            records.append(current)  # a last record without its ^: still whole
        elif section in _INVEST_TYPES:
            invest += 1
    return records, invest


def _is_opening_balance(rec: _Record) -> bool:
    category = rec.get("L")
    return rec.get("P").casefold() == "opening balance" and category.startswith("[") and \
        (rec.account is None or category.strip("[]") == rec.account)


def _date_parts(value: str) -> tuple[int, int, int, bool] | None:
    """(year, month, day, True) for ISO; (first, second, year, apostrophe) otherwise."""
    compact = value.replace(" ", "")
    m = _ISO.fullmatch(compact)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3)), True
    m = _SLASHED.fullmatch(compact)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(4)), \
            m.group(3) == "'" and len(m.group(4)) == 2
    return None


def _is_iso(value: str) -> bool:
    return _ISO.fullmatch(value.replace(" ", "")) is not None


def _date_order(records: list[_Record], display: str, date_format: str | None) -> bool:
    """True when the file's slashed dates are day/month."""
    if date_format and "%d" in date_format and "%m" in date_format:
        return date_format.index("%d") < date_format.index("%m")
    day_first_at = month_first_at = None
    slashed = False  # a date whose two readings differ (1/1 is the same either way)
    for rec in records:
        value = rec.get("D")
        parts = _date_parts(value)
        if parts is None or _is_iso(value):
            continue
        first, second = parts[0], parts[1]
        slashed = slashed or first != second
        if first > 12 >= second and day_first_at is None:
            day_first_at = rec.line
        if second > 12 >= first and month_first_at is None:
            month_first_at = rec.line
    if day_first_at and month_first_at:
        raise BadInputError(f"QIF dates disagree: line {day_first_at} is day/month, line "
                            f"{month_first_at} month/day; fix the export", file=display)
    if day_first_at or month_first_at or not slashed:
        return day_first_at is not None
    raise BadInputError("every date in this QIF file fits both month/day and day/month: pass "
                        "--csv-date-format %m/%d/%Y (US) or --csv-date-format %d/%m/%Y",
                        file=display)


def _date(rec: _Record, display: str, day_first: bool) -> datetime.date:
    value = rec.get("D")
    parts = _date_parts(value)
    try:
        if parts is None:
            raise ValueError(value)
        if _is_iso(value):
            day = datetime.date(parts[0], parts[1], parts[2])
        else:
            first, second, year, apostrophe = parts
            if year < 100:
                year += 2000 if apostrophe or year < 69 else 1900
            month, dom = (second, first) if day_first else (first, second)
            day = datetime.date(year, month, dom)
    except ValueError:
        shown = value[:20] or "(none)"
        raise BadInputError(f"QIF record has an unreadable date {shown!r} (D field)",
                            file=display, line=rec.line) from None
    problem = date_problem(day)
    if problem:
        raise BadInputError(f"QIF date {day} {problem}", file=display, line=rec.line)
    return day


def _decimal_mark(records: list[_Record]) -> str:
    comma = dot = False
    for rec in records:
        value = rec.get("T") or rec.get("U")
        comma = comma or re.search(r",\d{1,2}$", value) is not None
        dot = dot or re.search(r"\.\d{1,2}$", value) is not None
    return "," if comma and not dot else "."


def _amount(rec: _Record, display: str, mark: str) -> Decimal:
    value = (rec.get("T") or rec.get("U")).replace(" ", "")
    if not value:
        raise BadInputError("QIF record has no amount (T field)", file=display, line=rec.line)
    number: Decimal | None = None
    if _AMOUNT.fullmatch(value):
        group = "." if mark == "," else ","
        try:
            number = Decimal(value.replace(group, "").replace(mark, "."))
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        raise BadInputError(f"QIF record has an invalid amount {value[:24]!r}",
                            file=display, line=rec.line)
    problem = amount_problem(number)
    if problem:
        raise BadInputError(f"QIF amount {value[:24]!r} {problem}", file=display, line=rec.line)
    return number


def _line(rec: _Record, display: str, day_first: bool, mark: str) -> StatementLine:
    payee = clean(rec.get("P"))
    memo = clean(rec.get("M"))
    if memo and payee and memo.casefold() not in payee.casefold():
        description = f"{payee} / {memo}"
    else:
        description = payee or memo or clean(rec.get("L")) or "qif"
    check = rec.get("N")
    return StatementLine(
        ref=Ref(display, rec.line, None),
        date=_date(rec, display, day_first),
        amount=_amount(rec, display, mark),
        description=description,
        payee=payee or None,
        check=check if check.isdigit() else None,
    )
