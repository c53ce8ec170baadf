"""Bank CSV exports to `RawStatement`s, detecting the layout so users rarely need flags.

Detection is per file, from all of its rows: encoding, delimiter, where the header is
(banks put summary blocks above it), which column is which (English and German names,
then content), the date format and the decimal mark. When the file alone can't tell the
date order or the decimal mark, every reading is built and the ledger judges (the reading
whose lines match booked entries); whatever still can't be decided safely becomes a
one-line `BadInputError` telling the user which override to pass: guessing wrong would
silently put money on the wrong day or off by a factor of 1000.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import pathlib
from collections.abc import Callable, Sequence
from decimal import Decimal

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements import csv_detect as det
from beanagent.statements.csv_columns import locate_header, resolve_columns
from beanagent.statements.csv_lines import MONEY_ROLES as _MONEY_ROLES
from beanagent.statements.csv_lines import Columns as _Columns
from beanagent.statements.csv_lines import Row as _Row
from beanagent.statements.csv_lines import (
    balances_consistent,
    build_lines,
    chronological,
)
from beanagent.statements.csv_preamble import Stated, find_closing, find_iban, is_summary
from beanagent.statements.judge import Judge
from beanagent.statements.model import RawStatement, StatementLine


@dataclasses.dataclass(frozen=True)
class _Layout:
    rows: list[_Row]
    header: _Row | None
    body: list[_Row]
    cols: _Columns
    delimiter: str


@dataclasses.dataclass(frozen=True)
class _Reading:
    decimal: str
    date_shape: str
    statements: list[RawStatement]


def parse_csv_file(path: pathlib.Path, display: str, options: CsvOptions | None = None,
                   judge: Judge | None = None) -> list[RawStatement]:
    """Every statement in one CSV file: one per currency when rows name several, each in
    chronological order. `judge` picks between readings the file alone can't tell apart."""
    options = options or CsvOptions()
    layout = _layout(path, display, options)
    marks = _decimal_marks(layout, options)
    dates = _date_readers(layout, options, display)
    readings: list[_Reading] = []
    errors: list[BadInputError] = []
    for mark in marks:
        for to_date, shape in dates:
            try:
                readings.append(_Reading(mark, shape, _read(layout, mark, to_date, shape,
                                                            options, display)))
            except BadInputError as exc:
                errors.append(exc)
    if not readings:
        raise errors[0]
    distinct: list[_Reading] = []
    for reading in readings:
        if all(_key(reading) != _key(other) for other in distinct):
            distinct.append(reading)
    # The file's own running balance decides where it adds up under one reading only.
    adding = [r for r in distinct if all(balances_consistent(st.lines) for st in r.statements)]
    if adding and len(adding) < len(distinct):
        distinct = adding
    if len(distinct) == 1:
        return distinct[0].statements
    choice = judge([_merged(r.statements) for r in distinct]) if judge else None
    if choice is None:
        raise BadInputError(_ambiguity(layout, distinct, judge is not None), file=display)
    chosen = distinct[choice]
    how = []
    if len({r.decimal for r in distinct}) > 1:
        how.append(f"decimal mark {chosen.decimal!r}")
    if len({r.date_shape for r in distinct}) > 1:
        how.append(f"dates as {chosen.date_shape}")
    note = (f"{display}: read with {' and '.join(how)}: the file alone can't tell, and its "
            "lines match the ledger's entries only that way (--csv-decimal/--csv-date-format "
            "override)")
    return [dataclasses.replace(st, notes=(*st.notes, note)) for st in chosen.statements]


def parse_csv(path: pathlib.Path, display: str, options: CsvOptions | None = None
              ) -> RawStatement:
    """The one statement of a CSV file whose rows are one account's in one currency."""
    found = parse_csv_file(path, display, options)
    if len(found) > 1:
        shown = ", ".join(" ".join(filter(None, (st.account_id, st.currency))) or "?"
                          for st in found)
        raise BadInputError(f"the file holds {len(found)} statements ({shown})", file=display)
    return found[0]


def _key(reading: _Reading) -> list[tuple[object, ...]]:
    return [(st.currency, tuple((ln.ref.line, ln.date, ln.amount, ln.balance)
                                for ln in st.lines)) for st in reading.statements]


def _merged(statements: Sequence[RawStatement]) -> RawStatement:
    """One reading's lines as one statement, for the judge."""
    lines = tuple(ln for st in statements for ln in st.lines)
    return dataclasses.replace(statements[0], lines=lines)


def _ambiguity(layout: _Layout, readings: Sequence[_Reading], asked: bool) -> str:
    unsure = ", and the ledger can't tell which" if asked else ""
    parts = []
    shapes = list(dict.fromkeys(r.date_shape for r in readings))
    if len(shapes) > 1:
        example = next((row.get(layout.cols.index["date"]) for row in layout.body
                        if any(ch.isdigit() for ch in row.get(layout.cols.index["date"]))), "")
        a, b = shapes[0], shapes[1]
        parts.append(f"dates are ambiguous: every date in column {layout.cols.name('date')!r} "
                     f"(e.g. {example!r}) fits both {a} and {b}{unsure}; pass "
                     f"--csv-date-format {a} or {b} (or set date_format in beanagent.toml)")
    marks = list(dict.fromkeys(r.decimal for r in readings))
    if len(marks) > 1:
        example = next((cell for cell in _money_cells(layout)
                        if ("." in cell or "," in cell) and det.decimal_vote(cell) is None), "")
        parts.append(f"the decimal mark is ambiguous: no amount shows whether {example!r} "
                     f"is a whole number or a fraction{unsure}; pass --csv-decimal . or "
                     "--csv-decimal , (or set decimal in beanagent.toml)")
    return "; ".join(parts)


def _layout(path: pathlib.Path, display: str, options: CsvOptions) -> _Layout:
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
    header, body = locate_header(rows, options, display)
    cols = resolve_columns(header, body, options, display)
    _refuse_holdings(header, cols, display)
    return _Layout(rows, header, body, cols, delimiter)


# A running count of shares or units: the file follows a holding, not cash.
_HOLDING_NAMES = ("total shares", "share balance", "shares held", "units held",
                  "total units", "unit balance")


def _refuse_holdings(header: _Row | None, cols: _Columns, display: str) -> None:
    """A fund's share register (HealthEquity's investment export: Shares, Total Shares) is
    not a statement of cash: its amounts are trades whose cash side is another file's."""
    if header is None or "balance" in cols.index:
        return
    for cell in header.cells:
        if det.normalize_header(cell)[0] in _HOLDING_NAMES:
            raise BadInputError(
                f"this file tracks fund shares (column {cell.strip()!r}), not cash: pass the "
                "cash account's export (beanagent reconciles bank, card and brokerage cash, "
                "not holdings)", file=display, line=header.line)


def _money_cells(layout: _Layout) -> list[str]:
    ix = layout.cols.index
    return [core for row in layout.body for role in (*_MONEY_ROLES, "balance")
            if role in ix and (core := det.number_core(row.get(ix[role])))]


def _decimal_marks(layout: _Layout, options: CsvOptions) -> list[str]:
    """The decimal marks to try: the one the whole money columns vote for, else both when
    some value reads differently under each (a lone '1,000'), for the ledger to judge."""
    if options.decimal:
        return [options.decimal]
    cells = _money_cells(layout)
    # A ';' file is a continental export almost always: its reading is tried first.
    default = "," if layout.delimiter == ";" else "."
    chosen = det.choose_decimal(cells, default)
    votes = [v for v in map(det.decimal_vote, cells) if v]
    undecided = [c for c in cells if ("." in c or "," in c) and det.decimal_vote(c) is None]
    if votes.count(".") == votes.count(",") and undecided:
        return [default, "." if default == "," else ","]
    return [chosen]


def _date_readers(layout: _Layout, options: CsvOptions, display: str
                  ) -> list[tuple[Callable[[str], datetime.date | None], str]]:
    """How to read the date column, decided from all its values: one reader with its
    format's name, or both orders when every value fits both (for the ledger to judge)."""
    if options.date_format:
        fmt = options.date_format
        return [((lambda v: det.parse_date_format(v, fmt)), fmt)]
    ix = layout.cols.index["date"]
    values = [r.get(ix) for r in layout.body
              if r.filled >= 2 and any(ch.isdigit() for ch in r.get(ix))
              and not is_summary(r.get(ix))]
    verdict = det.choose_date_shape(values)
    shapes = list(verdict.ambiguous) if verdict.ambiguous else [verdict.shape]
    return [(_shape_reader(shape), shape or "a date") for shape in shapes]


def _shape_reader(shape: str | None) -> Callable[[str], datetime.date | None]:
    if shape is None:
        return lambda v: None
    return lambda v: det.parse_date_shape(v, shape)


def _read(layout: _Layout, decimal: str, to_date: Callable[[str], datetime.date | None],
          expected: str, options: CsvOptions, display: str) -> list[RawStatement]:
    """The file under one reading: a statement per account and currency its rows name."""
    built = build_lines(layout.body, layout.cols, decimal, to_date, expected, options,
                        display)
    if not built.lines:
        raise BadInputError("no statement lines (no dated row with an amount)", file=display)
    groups: dict[tuple[str | None, str | None], list[StatementLine]] = {}
    for line, currency, account in built.lines:
        groups.setdefault((account, currency), []).append(line)
    currencies = {currency for _, currency in groups}
    named = currencies - {None}
    # Rows with a blank currency cell are in the file's currency when it names one only.
    blank_as = layout.cols.currency_hint if not named else next(iter(named)) \
        if len(named) == 1 else None
    merged: dict[tuple[str | None, str | None], list[StatementLine]] = {}
    for (account, currency), lines in groups.items():
        merged.setdefault((account, currency or blank_as), []).extend(lines)
    groups = {key: sorted(lines, key=lambda ln: ln.ref.line or 0)
              for key, lines in merged.items()}
    currencies = {currency for _, currency in groups}
    # Where the file states its closing balance in words (preamble, summary rows, footer).
    before = [(r.line, r.cells) for r in layout.rows
              if layout.body and r.line < layout.body[0].line]
    stated = find_closing([*before, *((r.line, r.cells) for r in built.unused)], decimal,
                          to_date)
    # An IBAN above the table is the account's, when the rows name no account of their own.
    iban = find_iban(before) if {a for a, _ in groups} == {None} else None
    out = []
    several = len(groups) > 1
    for (account, currency), group in groups.items():
        lines = chronological(group)
        notes = list(built.skipped)
        closing, closing_date = _closing(lines, several, notes, display, currency)
        # A stated balance is the file's one account's; with several currencies, only the
        # one it names.
        if stated is not None and len({a for a, _ in groups}) == 1 and (
                stated.currency == currency if several
                else stated.currency in (None, currency) or currency is None):
            closing, closing_date = _with_stated(closing, closing_date, lines, stated,
                                                 bool(options.negate), notes, display)
        out.append(RawStatement(
            file=display, format="csv", lines=tuple(lines), currency=currency,
            account_id=account or iban, closing_balance=closing, closing_date=closing_date,
            notes=tuple(notes)))
    if several:
        shown = ", ".join(f"{len(st.lines)} in " + " ".join(
            filter(None, (st.account_id, st.currency or "no currency"))) for st in out)
        what = [w for w, n in (("accounts", len({a for a, _ in groups})),
                               ("currencies", len(currencies))) if n > 1]
        extra = (f"{display}: rows name several {' and '.join(what)} ({shown}): one "
                 "statement each")
        out = [dataclasses.replace(st, notes=(*st.notes, extra)) for st in out]
    return out


def _closing(lines: list[StatementLine], several: bool, notes: list[str], display: str,
             currency: str | None) -> tuple[Decimal | None, datetime.date | None]:
    """The running balance after the last line, when the file has one. With several
    currencies in one file, only a balance column that adds up within the currency's own
    lines is that currency's balance."""
    last = lines[-1]
    if last.balance is None:
        return None, None
    if several and not balances_consistent(lines):
        notes.append(f"{display}: the balance column does not add up within the "
                     f"{currency or 'unlabelled'} lines; no closing balance read for them")
        return None, None
    return last.balance, last.date


def _with_stated(closing: Decimal | None, closing_date: datetime.date | None,
                 lines: list[StatementLine], stated: Stated, negate: bool, notes: list[str],
                 display: str) -> tuple[Decimal | None, datetime.date | None]:
    """Combine the running balance with the one the file states in words: the running
    balance wins when it adds up; a disagreement is reported, never silently settled."""
    balance = -stated.balance if negate else stated.balance
    if closing is None or closing_date is None:
        return balance, stated.date
    if balance == closing:
        return closing, max(closing_date, stated.date)
    where = f"{display}:{stated.line}"
    if balances_consistent(lines):
        notes.append(f"{where}: the file states a closing balance of {balance} on "
                     f"{stated.date}, but its balance column ends at {closing} on "
                     f"{closing_date}; using the balance column")
        return closing, closing_date
    notes.append(f"{where}: the balance column does not add up and ends at {closing}; using "
                 f"the closing balance the file states ({balance} on {stated.date})")
    return balance, stated.date


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
