"""What every statement importer produces: plain, immutable values.

These types cross the sandbox boundary as JSON (`to_json` / `from_json`), so scripts
see exactly what the host parsed. Amounts are `Decimal`, dates `datetime.date`.
"""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from typing import Any

# What a statement line may hold. Amounts: what a proposal may carry (mirrors
# core.proposals.MAX_NUMBER and MAX_DECIMALS), far beyond any bank's; dates: the years a
# bank writes (the CSV detector's too). A value outside them would otherwise crash the
# run later (a date plus the matching window overflows; Decimal arithmetic past its
# context's 28 digits raises) or be refused only after the agent's work.
MAX_AMOUNT = Decimal("1e15")
MAX_DECIMALS = 8
YEARS = range(1900, 2101)


def amount_problem(number: Decimal) -> str | None:
    """Why a statement amount can't be used (to follow "amount '…' "), or None."""
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        return f"is out of range (amounts are below {MAX_AMOUNT:,.0f})"
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        return f"has more than {MAX_DECIMALS} decimals"
    return None


def date_problem(day: datetime.date) -> str | None:
    """Why a statement date can't be used (to follow "date '…' "), or None."""
    if day.year not in YEARS:
        return f"is out of range (years {YEARS.start} to {YEARS.stop - 1})"
    return None


@dataclasses.dataclass(frozen=True)
class Ref:
    """Where a statement line comes from: file, 1-based physical line (if the format has
    lines), and the bank's own id (OFX FITID, a CSV reference column) if it has one."""

    file: str
    line: int | None = None
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ref:
        return cls(file=str(data["file"]), line=data.get("line"), id=data.get("id"))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} ({self.id})" if self.id else where


@dataclasses.dataclass(frozen=True)
class StatementLine:
    """One row of a statement, signed from the account holder's point of view
    (money into the account is positive, a card purchase is negative)."""

    ref: Ref
    date: datetime.date
    amount: Decimal
    description: str
    balance: Decimal | None = None  # running balance after this line, if the bank gives one
    payee: str | None = None  # a separate payee/name field, when the format has one
    check: str | None = None  # the check number of a paper check (OFX CHECKNUM, "CHECK 1234")

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref.to_json(),
            "date": self.date.isoformat(),
            "amount": str(self.amount),
            "description": self.description,
            "balance": None if self.balance is None else str(self.balance),
            "payee": self.payee,
            "check": self.check,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatementLine:
        bal = data.get("balance")
        return cls(
            ref=Ref.from_json(data["ref"]),
            date=datetime.date.fromisoformat(data["date"]),
            amount=Decimal(data["amount"]),
            description=data["description"],
            balance=None if bal is None else Decimal(bal),
            payee=data.get("payee"),
            check=data.get("check"),
        )


@dataclasses.dataclass(frozen=True)
class Statement:
    """A parsed statement for one account. Lines are in chronological order (the
    importer reverses newest-first files); same-day lines keep the bank's order."""

    file: str
    format: str  # "csv", "ofx", "beangulp:<importer name>"
    account: str
    currency: str
    lines: tuple[StatementLine, ...]
    closing_balance: Decimal | None = None
    # The day the closing balance is "as of" (end of that day); the balance assertion
    # goes on the next day, since Beancount checks balances at the start of a day.
    closing_date: datetime.date | None = None

    @property
    def start(self) -> datetime.date | None:
        return min((ln.date for ln in self.lines), default=None)

    @property
    def end(self) -> datetime.date | None:
        return max((ln.date for ln in self.lines), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "account": self.account,
            "currency": self.currency,
            "lines": [ln.to_json() for ln in self.lines],
            "closing_balance": None if self.closing_balance is None else str(self.closing_balance),
            "closing_date": None if self.closing_date is None else self.closing_date.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        cb = data.get("closing_balance")
        cd = data.get("closing_date")
        return cls(
            file=data["file"],
            format=data["format"],
            account=data["account"],
            currency=data["currency"],
            lines=tuple(StatementLine.from_json(x) for x in data["lines"]),
            closing_balance=None if cb is None else Decimal(cb),
            closing_date=None if cd is None else datetime.date.fromisoformat(cd),
        )


@dataclasses.dataclass(frozen=True)
class RawStatement:
    """What a format parser returns before the account is resolved against the ledger.

    `account_id` is the bank's account number when the format carries one (OFX ACCTID);
    `currency` is None when the format does not say (most CSVs)."""

    file: str
    format: str
    lines: tuple[StatementLine, ...]
    currency: str | None = None
    account_id: str | None = None
    closing_balance: Decimal | None = None
    closing_date: datetime.date | None = None
    notes: tuple[str, ...] = ()  # what the importer skipped or doubted, for the user
    account: str | None = None  # set by formats that know it (beangulp importers)
