"""A closing balance the file states in words, above or below its table: "Kontostand vom
28.11.2025: 208,70 EUR", "Ending balance as of 10/31/2025,,"1,913.56"", "Closing balance".

Only balances at the END of the period are read (not "Beginning", "Alter Kontostand",
"Available"), and only with a date: a balance without its day can't be asserted.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from beanagent.statements import csv_detect as det

_CLOSING = re.compile(
    # Not a card statement's "New balance" (what is owed, usually written positive while
    # the export's charges are negative: the sign can't be trusted).
    r"(?i)\b(?:ending|closing|end|final)\s+(?:ledger\s+)?balance\b|"
    r"\b(?:neuer\s+|aktueller\s+)?kontostand\b|\bschlusssaldo\b|\bendsaldo\b|"
    r"\bneuer\s+saldo\b|\bsaldo\s+(?:neu|per|am|vom)\b|\bsolde\s+final\b")
_NOT_CLOSING = re.compile(
    r"(?i)\b(?:beginning|opening|start|starting|previous|old|alter?|anfangs\w*|available|"
    r"verf[uü]gbar\w*)\b")
_DATE_TOKEN = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}|\d{1,4}[./-]\d{1,2}[./-]\d{2,4}|"
    r"\d{1,2}[ -][^\W\d_]{3,9}\.?,?[ -]\d{2,4}|[^\W\d_]{3,9}\.? \d{1,2},? \d{4}")
_CURRENCY = re.compile(r"\b([A-Z]{3})\b|([€£])")


_SUMMARY = re.compile(r"(?i)\b(?:balance|saldo|kontostand|total|totals|summe)\b")


def is_summary(text: str) -> bool:
    """A cell naming a balance or total (a summary row in the table, not a transaction)."""
    return bool(_SUMMARY.search(text))


@dataclasses.dataclass(frozen=True)
class Stated:
    balance: Decimal
    date: datetime.date
    currency: str | None
    line: int


def find_closing(rows: Sequence[tuple[int, Sequence[str]]], decimal: str,
                 to_date: Callable[[str], datetime.date | None]) -> Stated | None:
    """The last closing balance stated in `rows` (line, cells), read with the file's decimal
    mark and date reader (or any date shape that reads the value one way only)."""
    found: Stated | None = None
    for line, cells in rows:
        stated = _read_row(line, [c.strip() for c in cells], decimal, to_date)
        if stated is not None and (found is None or stated.date >= found.date):
            found = stated
    return found


def _read_row(line: int, cells: list[str], decimal: str,
              to_date: Callable[[str], datetime.date | None]) -> Stated | None:
    at = next((i for i, c in enumerate(cells)
               if _CLOSING.search(c) and not _NOT_CLOSING.search(c)), None)
    if at is None:
        return None
    day = None
    rest: list[str] = []
    for i, cell in enumerate(cells):
        text = cell
        for token in _DATE_TOKEN.findall(cell):
            got = _date(token, to_date)
            if got is not None:
                day = day or got
                text = text.replace(token, " ")
        if i == at:
            text = _CLOSING.sub(" ", text)
        if i >= at:
            rest.append(text)
    if day is None:
        return None
    for text in rest:
        core = det.number_core(text)
        if core is None:
            continue
        try:
            money = det.parse_money(_money_part(text, core), decimal)
        except ValueError:
            continue
        if money is None:
            continue
        m = _CURRENCY.search(text)
        currency = money.currency or (m.group(1) or {"€": "EUR", "£": "GBP"}[m.group(2)]
                                      if m else None)
        return Stated(money.value, day, currency, line)
    return None


def _money_part(text: str, core: str) -> str:
    """The amount inside a cell like ': 208,70 EUR' or '-1,234.56 CR': the number and the
    sign, parenthesis or currency written against it."""
    start = text.find(core)
    before = re.search(r"[(\-−+]?\s*(?:[A-Z]{3}\s*|[€£$]\s*)?[(\-−+]?\s*$", text[:start])
    after = re.match(r"\s*(?:[A-Z]{3}|[€£$]|CR|DR)?\s*\)?", text[start + len(core):])
    lead = before.group(0) if before else ""
    trail = after.group(0) if after else ""
    return lead + core + trail


def _date(token: str, to_date: Callable[[str], datetime.date | None]) -> datetime.date | None:
    got = to_date(token)
    if got is not None:
        return got
    readings = {d for shape in det.date_shapes_of(token)
                if (d := det.parse_date_shape(token, shape)) is not None}
    return readings.pop() if len(readings) == 1 else None


_IBAN = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)\b")


def _iban_valid(text: str) -> bool:
    """ISO 13616's check (mod 97 of the rearranged digits). Written here: a library such as
    schwifty would bring its bank registry along for these few lines."""
    code = text[4:] + text[:4]
    digits = "".join(str(int(ch, 36)) for ch in code)
    return 15 <= len(text) <= 34 and int(digits) % 97 == 1


def find_iban(rows: Sequence[tuple[int, Sequence[str]]]) -> str | None:
    """The account's IBAN when the lines above the table name exactly one valid IBAN
    ("Kontoauszug;DE89 3704 …"): the statement's account id, matched to `iban:` metadata."""
    found = {
        compact
        for _, cells in rows for cell in cells for m in _IBAN.finditer(cell.upper())
        if _iban_valid(compact := m.group(1).replace(" ", ""))
    }
    return found.pop() if len(found) == 1 else None
