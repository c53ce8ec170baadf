"""Bank CSV exports to a `RawStatement`, detecting the layout so users rarely need flags.

Detection is per file, from all of its rows: encoding, delimiter, where the header is
(banks put summary blocks above it), which column is which (English and German names,
then content), the date format and the decimal mark. Whatever detection cannot decide
safely becomes a one-line `BadInputError` telling the user which override to pass;
guessing wrong would silently put money on the wrong day or off by a factor of 1000.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import itertools
import pathlib
from collections.abc import Callable, Sequence
from decimal import Decimal

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements import csv_detect as det
from beanagent.statements.judge import Judge
from beanagent.statements.model import (
    RawStatement,
    Ref,
    StatementLine,
    amount_problem,
    date_problem,
)
from beanagent.text import line_breaker, one_line

_ROLES = ("date", "amount", "debit", "credit", "balance", "id", "currency", "description")
_MONEY_ROLES = ("amount", "debit", "credit")
_FLAGS = {role: f"--csv-{role}-col" for role in (*_ROLES, "payee")}
_HEADER_SCAN = 60  # rows searched for a header; preambles are a handful of lines


@dataclasses.dataclass(frozen=True)
class _Row:
    line: int  # physical line where the record starts
    cells: tuple[str, ...]

    def get(self, ix: int | None) -> str:
        return self.cells[ix].strip() if ix is not None and ix < len(self.cells) else ""

    @property
    def filled(self) -> int:
        return sum(1 for cell in self.cells if cell.strip())


@dataclasses.dataclass
class _Columns:
    names: list[str]  # for messages: the header text, or "column N"
    index: dict[str, int]  # role -> 0-based column
    currency_hint: str | None = None  # from a header like "Amount (EUR)"

    def name(self, role: str) -> str:
        return self.names[self.index[role]]


def parse_csv(path: pathlib.Path, display: str, options: CsvOptions | None = None
              ) -> RawStatement:
    """Parse one bank CSV export; lines come back in chronological order."""
    options = options or CsvOptions()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read the file: {exc.strerror or exc}", file=display) from exc
    text = _decode(data, display, options.encoding)
    if options.delimiter is not None and options.delimiter not in det.DELIMITERS:
        raise BadInputError(
            f"unsupported CSV delimiter {options.delimiter!r} (use ',', ';' or a tab)",
            file=display,
        )
    if options.decimal not in (None, ".", ","):
        raise BadInputError(f"decimal mark must be '.' or ',', not {options.decimal!r}")
    delimiter = options.delimiter or det.detect_delimiter(text)
    rows = _read_rows(text, delimiter, display)
    header, body = _locate_header(rows, options, display)
    cols = _resolve_columns(header, body, options, display)
    # A ';' file is a continental export almost always, so its lone '1,234' means 1.234.
    default = "," if delimiter == ";" else "."
    money_cells = [
        core
        for row in body
        for role in (*_MONEY_ROLES, "balance")
        if role in cols.index and (core := det.number_core(row.get(cols.index[role])))
    ]
    decimal = options.decimal or det.choose_decimal(money_cells, default)
    to_date, expected = _date_reader(body, cols, options, display)
    lines, currencies, skipped = _build_lines(body, cols, decimal, to_date, expected, options,
                                              display)
    if not lines:
        raise BadInputError("no statement lines (no dated row with an amount)", file=display)
    lines = _chronological(lines)
    last = lines[-1]
    return RawStatement(
        file=display,
        format="csv",
        lines=tuple(lines),
        currency=_currency(currencies, cols),
        closing_balance=last.balance,
        closing_date=last.date if last.balance is not None else None,
        notes=tuple(skipped),
    )


def _decode(data: bytes, display: str, encoding: str | None) -> str:
    if not data.strip():
        raise BadInputError("the file is empty", file=display)
    try:
        text = det.decode_bytes(data, encoding)
    except LookupError as exc:
        raise BadInputError(f"unknown encoding {encoding!r}", file=display) from exc
    except UnicodeError as exc:
        raise BadInputError(f"the file is not valid {encoding}: {exc}", file=display) from exc
    except det.NotTextError as exc:
        raise BadInputError("does not look like a CSV file (binary data)", file=display) from exc
    if not text.strip():
        raise BadInputError("the file is empty", file=display)
    return text


def _read_rows(text: str, delimiter: str, display: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    rows: list[_Row] = []
    # reader.line_num is the last physical line consumed, so a record starts one line
    # after the previous record ended, even when a quoted field spans several lines.
    start = 1
    try:
        for cells in reader:
            rows.append(_Row(start, tuple(cells)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BadInputError(f"malformed CSV: {exc}", file=display, line=start) from exc
    return rows


def _has_values(row: _Row) -> bool:
    """Whether a row holds data (a date or a number) rather than column names."""
    return any(
        cell.strip() and (det.date_shapes_of(cell) or det.looks_numeric(cell)) for cell in row.cells
    )


def _locate_header(
    rows: list[_Row], options: CsvOptions, display: str
) -> tuple[_Row | None, list[_Row]]:
    """The header row (None for a headerless file) and the rows after it."""
    if options.header_line is not None:
        for i, row in enumerate(rows):
            if row.line == options.header_line and row.filled:
                return row, rows[i + 1 :]
        raise BadInputError(
            f"header line {options.header_line} is blank or not the start of a row",
            file=display,
        )
    scan = [(i, row) for i, row in enumerate(rows[:_HEADER_SCAN]) if row.filled]
    named = [
        spec.strip().casefold()
        for spec in (getattr(options, f"{role}_col") for role in (*_ROLES, "payee"))
        if spec and not spec.strip().isdigit()
    ]
    if named:
        for i, row in scan:
            folded = {cell.strip().casefold() for cell in row.cells}
            if all(name in folded for name in named):
                return row, rows[i + 1 :]
    # By names: first a row naming a date and a money column, then any row naming two
    # known columns (PayPal's "Gross"/"Net" are not amount names, but "Date" is).
    strong = [(i, row) for i, row in scan if _header_strength(row) == 2]
    weak = [(i, row) for i, row in scan if _header_strength(row) == 1]
    for i, row in strong or weak:
        return row, rows[i + 1 :]
    # By shape: the first row holding a date and another number starts the data; the
    # row just above it is the header if it holds no values itself.
    for i, row in enumerate(rows):
        dated = [j for j, cell in enumerate(row.cells) if cell.strip() and det.date_shapes_of(cell)]
        numeric = [
            j for j, cell in enumerate(row.cells) if j not in dated and det.looks_numeric(cell)
        ]
        if row.filled >= 2 and dated and numeric:
            above = [r for r in rows[:i] if r.filled]
            if above and len(above[-1].cells) == len(row.cells) and not _has_values(above[-1]):
                return above[-1], rows[i:]
            return None, rows[i:]
    if len(scan) <= 1:
        raise BadInputError("no statement lines (no row with a date and an amount)", file=display)
    raise BadInputError(
        "no recognisable date/amount columns (no header row and no row with a date and "
        "an amount); pass --csv-header-line, --csv-date-col and --csv-amount-col",
        file=display,
    )


def _header_strength(row: _Row) -> int:
    roles = det.header_roles(row.cells)
    if _has_values(row):
        return 0
    if "date" in roles and roles & set(_MONEY_ROLES):
        return 2
    if len(roles) >= 2 and roles & {"date", *_MONEY_ROLES}:
        return 1
    return 0


def _resolve_columns(
    header: _Row | None, body: list[_Row], options: CsvOptions, display: str
) -> _Columns:
    width = max([len(header.cells) if header else 0, *(len(r.cells) for r in body)])
    heads = [header.get(i) if header else "" for i in range(width)]
    cols = _Columns(names=[h or f"column {i + 1}" for i, h in enumerate(heads)], index={})
    where = header.line if header else None

    for role in (*_ROLES, "payee"):
        spec = getattr(options, f"{role}_col")
        if spec:
            cols.index[role] = _column_by_spec(spec, heads, role, display, where)
    money_override = any(r in cols.index for r in _MONEY_ROLES)

    normalized = [det.normalize_header(h) for h in heads]
    for role in (*_ROLES, "payee"):
        if role in cols.index or (money_override and role in _MONEY_ROLES):
            continue
        if role in ("debit", "credit") and "amount" in cols.index:
            continue  # a signed amount column wins over split debit/credit ones
        taken = set(cols.index.values())
        ranked = [
            (rank, i)
            for i, (name, _) in enumerate(normalized)
            if i not in taken and (rank := det.header_rank(role, name)) is not None
        ]
        if ranked:
            cols.index[role] = min(ranked)[1]
    # "Name"/"Payee" is the payee only beside a real description; alone it is the text.
    if "description" not in cols.index and "payee" in cols.index and not options.payee_col:
        cols.index["description"] = cols.index.pop("payee")
    for role in _MONEY_ROLES:
        if role in cols.index and normalized[cols.index[role]][1]:
            cols.currency_hint = normalized[cols.index[role]][1]

    _content_fallback(cols, body, width, display, where)
    return cols


def _column_by_spec(spec: str, heads: list[str], role: str, display: str, where: int | None) -> int:
    text = spec.strip()
    if text.isdigit():
        number = int(text)
        if number < 1:
            raise BadInputError(f"{_FLAGS[role]} {text}: columns count from 1", file=display)
        return number - 1
    folded = [h.casefold() for h in heads]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    wanted = det.normalize_header(text)[0]
    for i, head in enumerate(heads):
        if head and det.normalize_header(head)[0] == wanted:
            return i
    shown = one_line(", ".join(h for h in heads if h)) or "none"
    raise BadInputError(
        f"{_FLAGS[role]} {text!r}: no such column (the header has: {shown})",
        file=display,
        line=where,
    )


def _content_fallback(
    cols: _Columns, body: list[_Row], width: int, display: str, where: int | None
) -> None:
    """Find the date/amount columns from their values when the header did not name them,
    but only when exactly one column qualifies."""
    rows = [r for r in body if r.filled >= 2]

    def candidates(test: Callable[[str], bool]) -> list[int]:
        found = []
        for i in range(width):
            if i in cols.index.values():
                continue
            values = [r.get(i) for r in rows if r.get(i)]
            if values and len(values) * 2 >= len(rows) and all(map(test, values)):
                found.append(i)
        return found

    missing = []
    if "date" not in cols.index:
        dates = candidates(lambda v: bool(det.date_shapes_of(v)))
        if len(dates) == 1:
            cols.index["date"] = dates[0]
        else:
            missing.append(_which("date", dates, cols))
    if not any(r in cols.index for r in _MONEY_ROLES):
        amounts = candidates(lambda v: det.looks_numeric(v) and not det.date_shapes_of(v))
        if len(amounts) == 1:
            cols.index["amount"] = amounts[0]
        else:
            missing.append(_which("amount", amounts, cols))
    if missing:
        raise BadInputError(
            f"no recognisable date/amount columns ({'; '.join(missing)}); pass "
            "--csv-date-col/--csv-amount-col (or --csv-debit-col/--csv-credit-col) "
            "with a header name or a column number",
            file=display,
            line=where,
        )
    if "description" not in cols.index:
        # No named text column: take the most wordy one rather than leave it blank.
        letters = {
            i: sum(ch.isalpha() for r in rows for ch in r.get(i))
            for i in range(width)
            if i not in cols.index.values()
        }
        if letters and max(letters.values()) > 0:
            cols.index["description"] = max(letters, key=lambda i: (letters[i], -i))


def _which(role: str, found: Sequence[int], cols: _Columns) -> str:
    if not found:
        return f"no {role} column"
    return f"{role} could be any of " + ", ".join(repr(cols.names[i]) for i in found)


def _date_reader(
    body: list[_Row], cols: _Columns, options: CsvOptions, display: str
) -> tuple[Callable[[str], datetime.date | None], str]:
    """How to read the date column, decided from all its values, and its format name."""
    if options.date_format:
        fmt = options.date_format
        return (lambda v: det.parse_date_format(v, fmt)), fmt
    ix = cols.index["date"]
    values = [r.get(ix) for r in body if r.filled >= 2 and any(ch.isdigit() for ch in r.get(ix))]
    verdict = det.choose_date_shape(values)
    if verdict.ambiguous:
        a, b = verdict.ambiguous
        raise BadInputError(
            f"dates are ambiguous: every date in column {cols.name('date')!r} (e.g. "
            f"{verdict.example!r}) fits both {a} and {b}; pass --csv-date-format {a} or "
            f"{b} (or set date_format in beanagent.toml)",
            file=display,
        )
    shape = verdict.shape
    if shape is None:
        return (lambda v: None), "a date"
    return (lambda v: det.parse_date_shape(v, shape)), shape


def _build_lines(
    body: list[_Row],
    cols: _Columns,
    decimal: str,
    to_date: Callable[[str], datetime.date | None],
    expected: str,
    options: CsvOptions,
    display: str,
) -> tuple[list[StatementLine], list[str | None], list[str]]:
    """Rows to lines in file order; also the currency each line names (column or code) and
    a note for each row skipped among the transactions for having no amount."""
    ix = cols.index
    money_roles = [r for r in _MONEY_ROLES if r in ix]

    def money(row: _Row, role: str) -> det.Money | None:
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

    lines: list[StatementLine] = []
    currencies: list[str | None] = []
    for n, row in enumerate(body):
        if not any(row.get(ix[r]) for r in money_roles):
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
            if n > last_dated and not any(ch.isdigit() for ch in date_text):
                continue  # a totals/footer row after the last transaction
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
        balance = balance_money.value if balance_money else None
        if options.negate:
            amount = -amount
            balance = None if balance is None else -balance
        # Text fields on one line, their controls made visible (text.one_line)
        payee = one_line(row.get(ix.get("payee"))) or None
        codes = {m.currency for m in parts.values() if m and m.currency}
        column_currency = one_line(row.get(ix.get("currency"))).upper() or None
        currencies.append(column_currency or (codes.pop() if len(codes) == 1 else None))
        lines.append(
            StatementLine(
                ref=Ref(file=display, line=row.line, id=_bank_id(row.get(ix.get("id")))),
                date=date,
                amount=amount,
                description=one_line(row.get(ix.get("description"))),
                balance=balance,
                payee=payee,
            )
        )
    return lines, currencies, skipped


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


def _chronological(lines: list[StatementLine]) -> list[StatementLine]:
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


def _currency(currencies: list[str | None], cols: _Columns) -> str | None:
    found = set(currencies)
    if len(found) == 1 and None not in found:
        return found.pop()
    if found <= {None}:
        return cols.currency_hint
    return None


def parse_csv_file(path: pathlib.Path, display: str, options: CsvOptions | None = None,
                   judge: Judge | None = None) -> list[RawStatement]:
    """Every statement in one CSV file (one per currency when rows name several)."""
    return [parse_csv(path, display, options)]
