"""CSV rows to statement lines, once the layout is known (csv.py): amounts signed (split
debit/credit columns, a debit/credit type column), dates read, text fields on one line,
each line with the currency its row names, in chronological order."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import itertools
from collections.abc import Callable, Sequence
from decimal import Decimal

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements import csv_detect as det
from beanagent.statements import csv_sign
from beanagent.statements.csv_preamble import is_summary
from beanagent.statements.model import Ref, StatementLine, amount_problem, date_problem
from beanagent.text import line_breaker, one_line

MONEY_ROLES = ("amount", "debit", "credit")


@dataclasses.dataclass(frozen=True)
class Row:
    line: int  # physical line where the record starts
    cells: tuple[str, ...]

    def get(self, ix: int | None) -> str:
        return self.cells[ix].strip() if ix is not None and ix < len(self.cells) else ""

    @property
    def filled(self) -> int:
        return sum(1 for cell in self.cells if cell.strip())


@dataclasses.dataclass
class Columns:
    names: list[str]  # for messages: the header text, or "column N"
    index: dict[str, int]  # role -> 0-based column
    currency_hint: str | None = None  # from a header like "Amount (EUR)"
    type_flag: str = ""  # what to pass to read the sign from another column
    more_text: list[int] = dataclasses.field(default_factory=list)  # other purpose columns

    def name(self, role: str) -> str:
        return self.names[self.index[role]]


@dataclasses.dataclass(frozen=True)
class Built:
    # file order, each with its row's currency and account (a column naming the holder's
    # account, in exports of several: Mint's "Account Name", YNAB's "Account")
    lines: list[tuple[StatementLine, str | None, str | None]]
    skipped: list[str]  # notes: rows among the transactions skipped for having no amount
    unused: list[Row]  # rows that gave no line (where a stated closing balance may be)


def build_lines(body: Sequence[Row], cols: Columns, decimal: str,
                to_date: Callable[[str], datetime.date | None], expected: str,
                options: CsvOptions, display: str) -> Built:
    ix = cols.index
    money_roles = [r for r in MONEY_ROLES if r in ix]

    def money(row: Row, role: str) -> det.Money | None:
        text = row.get(ix.get(role))
        try:
            found = det.parse_money(text, decimal)
        except ValueError:
            raise BadInputError(
                f"cannot read amount {text!r} in column {cols.name(role)!r}"
                f" (decimal mark {decimal!r}; --csv-decimal overrides)",
                file=display,
                line=row.line,
            ) from None
        problem = amount_problem(found.value) if found else None
        if problem:
            shown = text if len(text) <= 24 else text[:24] + "…"
            raise BadInputError(f"amount {shown!r} in column {cols.name(role)!r} {problem}",
                                file=display, line=row.line)
        return found

    # Debits written as positive numbers are subtracted; a debit column that already
    # holds negative numbers is used as it is.
    subtract_debits = "debit" in ix and any(_lenient(r.get(ix["debit"]), decimal) > 0 for r in body)
    dated = [i for i, r in enumerate(body) if r.filled and to_date(r.get(ix["date"]))]
    last_dated = max(dated, default=-1)
    first_dated = min(dated, default=-1)
    skipped: list[str] = []
    unused: list[Row] = []

    rows: list[tuple[Row, datetime.date, Decimal, Decimal | None, str | None]] = []
    for n, row in enumerate(body):
        if not any(row.get(ix[r]) for r in money_roles):
            unused.append(row)
            # blank rows, notes, "Beginning balance" rows without an amount; one among the
            # transactions is worth a word (an error page pasted in, a broken export)
            if first_dated < n < last_dated and row.filled:
                text = " ".join(" ".join(row.cells).split())
                skipped.append(f"{display}:{row.line}: skipped a row with no amount: "
                               f"{text[:60]!r}")
            continue
        date_text = row.get(ix["date"])
        date = to_date(date_text) if date_text else None
        if date is None:
            if (n > last_dated and not any(ch.isdigit() for ch in date_text)) or \
                    is_summary(date_text):
                unused.append(row)
                continue  # a totals/footer row, or "Closing balance 30/11/2025"
            problem = f"cannot read date {date_text!r}" if date_text else "no date"
            raise BadInputError(
                f"{problem} in column {cols.name('date')!r} (expected {expected})",
                file=display,
                line=row.line,
            )
        out_of_range = date_problem(date)  # a --csv-date-format reads any year strptime does
        if out_of_range:
            raise BadInputError(f"date {date_text!r} {out_of_range}", file=display,
                                line=row.line)
        parts = {role: money(row, role) for role in money_roles}
        if "amount" in parts:
            amount = parts["amount"].value if parts["amount"] else Decimal(0)
        else:
            debit_money, credit_money = parts.get("debit"), parts.get("credit")
            debit = debit_money.value if debit_money else Decimal(0)
            credit = credit_money.value if credit_money else Decimal(0)
            amount = credit - debit if subtract_debits else credit + debit
        balance_money = money(row, "balance") if "balance" in ix else None
        codes = {m.currency for m in parts.values() if m and m.currency}
        column_currency = one_line(row.get(ix.get("currency"))).upper() or None
        currency = column_currency or (codes.pop() if len(codes) == 1 else None)
        rows.append((row, date, amount, balance_money.value if balance_money else None,
                     currency))

    sign = None
    if "type" in ix:
        sign = csv_sign.plan(ix["type"], cols.name("type"),
                             [(row.line, row.get(ix["type"]), amount)
                              for row, _, amount, _, _ in rows], display, cols.type_flag)
    holder = _holder([row for row, *_ in rows], cols)
    lines: list[tuple[StatementLine, str | None, str | None]] = []
    for row, date, amount, balance, currency in rows:
        if sign is not None:
            amount = csv_sign.apply(sign, row.get(ix["type"]), amount)
        if options.negate:
            amount = -amount
            balance = None if balance is None else -balance
        payee, description = _texts(row, cols, amount, holder)
        lines.append((StatementLine(
            ref=Ref(file=display, line=row.line, id=_bank_id(row.get(ix.get("id")))),
            date=date,
            amount=amount,
            description=description,
            balance=balance,
            payee=payee,
        ), currency, one_line(row.get(ix.get("account"))) or None))
    return Built(lines, skipped, unused)


def _holder(rows: Sequence[Row], cols: Columns) -> str | None:
    """With "From"/"To" columns, the account holder: the name on one side of most rows."""
    if "from" not in cols.index or "to" not in cols.index:
        return None
    sides = [(row.get(cols.index["from"]), row.get(cols.index["to"])) for row in rows]
    sides = [pair for pair in sides if any(pair)]
    counts = collections.Counter(name for pair in sides for name in set(pair) if name)
    if not counts:
        return None
    name, seen = counts.most_common(1)[0]
    return name if seen * 2 > len(sides) else None


def _texts(row: Row, cols: Columns, amount: Decimal, holder: str | None
           ) -> tuple[str | None, str]:
    """(payee, description), each on one line (text.one_line). The payee is the counterparty
    column, or with "From"/"To" columns (Venmo) the side that isn't the account holder (by
    the amount's sign when the holder is on neither side); the description is the purpose,
    else the payee, else what kind of booking it is."""
    ix = cols.index
    payee = one_line(row.get(ix.get("payee")))
    if not payee and "from" in ix and "to" in ix:
        sender, receiver = row.get(ix["from"]), row.get(ix["to"])
        if holder in (sender, receiver) and sender != receiver:
            payee = one_line(receiver if sender == holder else sender)
        else:
            payee = one_line(receiver if amount < 0 else sender)
    texts = [row.get(ix.get("description")), *(row.get(i) for i in cols.more_text
                                                if i not in ix.values())]
    description = one_line(next((text for text in texts if text), ""))
    if not description:
        description = payee or one_line(row.get(ix.get("kind")))
    return payee or None, description


def _bank_id(text: str) -> str | None:
    """A reference column's value as it is (it must match what earlier runs booked),
    unless it holds a control, bidi or separator character: then on one line, those made
    visible."""
    return (one_line(text) if line_breaker(text) is not None else text) or None


def _lenient(text: str, decimal: str) -> Decimal:
    try:
        money = det.parse_money(text, decimal)
    except ValueError:
        return Decimal(0)
    return money.value if money else Decimal(0)


def chronological(lines: list[StatementLine]) -> list[StatementLine]:
    """Oldest first. A file is newest-first when its dates mostly go down; when every
    date is the same, the running balance tells which way the rows were written."""
    pairs = list(itertools.pairwise(lines))
    ups = sum(b.date > a.date for a, b in pairs)
    downs = sum(b.date < a.date for a, b in pairs)
    newest_first = downs > ups
    if not ups and not downs:
        # each pair of neighbours that both carry a balance, with the two balances
        known = [(a, b, a.balance, b.balance) for a, b in pairs
                 if a.balance is not None and b.balance is not None]
        forward = all(after == before + b.amount for _, b, before, after in known)
        backward = all(before == after + a.amount for a, _, before, after in known)
        newest_first = bool(known) and backward and not forward
    ordered = lines[::-1] if newest_first else list(lines)
    # Stable: same-day rows keep the bank's order (reversed with the file if needed).
    ordered.sort(key=lambda ln: ln.date)
    return ordered


def balances_consistent(lines: Sequence[StatementLine]) -> bool:
    """Whether each running balance is the one before it plus the line's amount (lines in
    chronological order; a day's rows may be in either order, so each day is checked as a
    whole: its last balance is the previous day's plus the day's amounts)."""
    days = [list(group) for _, group in itertools.groupby(lines, key=lambda ln: ln.date)]
    previous: Decimal | None = None
    for group in days:
        if any(ln.balance is None for ln in group):
            return False
        end_candidates = {ln.balance for ln in group}
        total = sum((ln.amount for ln in group), Decimal(0))
        if previous is not None and previous + total not in end_candidates:
            return False
        previous = group[-1].balance if previous is None else previous + total
    return True
