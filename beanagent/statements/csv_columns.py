"""Which CSV row is the header and which column is which: by the names banks use (English,
German, Dutch), then by content, then the user's overrides. A date test honours the user's
--csv-date-format, so a shape detection doesn't know (10/2009/09 as %d/%Y/%m) still
finds the data rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from beanagent.errors import BadInputError
from beanagent.settings import CsvOptions
from beanagent.statements import csv_detect as det
from beanagent.statements import csv_sign
from beanagent.statements.csv_lines import MONEY_ROLES as _MONEY_ROLES
from beanagent.statements.csv_lines import Columns as _Columns
from beanagent.statements.csv_lines import Row as _Row
from beanagent.text import one_line

_ROLES = ("date", "amount", "debit", "credit", "balance", "id", "currency", "description")
# Columns found by name only (no flag): the two sides of a transfer (Venmo's From/To), the
# holder's account in multi-account exports; and (_KIND_NAMES) what kind of booking a row
# is, the text of last resort.
_EXTRA_ROLES = ("from", "to", "account")
_KIND_NAMES = ("type", "transaction type", "buchungstext", "umsatzart", "details",
               "transaction")
_FLAGS = {role: f"--csv-{role}-col" for role in (*_ROLES, "payee", "type")}
_HEADER_SCAN = 60  # rows searched for a header; preambles are a handful of lines



def date_test(options: CsvOptions) -> Callable[[str], bool]:
    """Whether a cell looks like a date: one of the shapes detection knows, or the user's
    --csv-date-format (which may be a shape detection doesn't know, like %d/%Y/%m)."""
    fmt = options.date_format

    def is_date(cell: str) -> bool:
        if not cell.strip() or not any(ch.isdigit() for ch in cell):
            return False
        if fmt and det.parse_date_format(cell, fmt) is not None:
            return True
        return bool(det.date_shapes_of(cell))

    return is_date


def _has_values(row: _Row, is_date: Callable[[str], bool]) -> bool:
    """Whether a row holds data (a date or a number) rather than column names."""
    return any(cell.strip() and (is_date(cell) or det.looks_numeric(cell)) for cell in row.cells)


def locate_header(
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
    is_date = date_test(options)
    scan = [(i, row) for i, row in enumerate(rows[:_HEADER_SCAN]) if row.filled]
    named = [
        spec.strip().casefold()
        for spec in (getattr(options, f"{role}_col") for role in (*_ROLES, "payee", "type"))
        if spec and not spec.strip().isdigit()
    ]
    if named:
        for i, row in scan:
            folded = {cell.strip().casefold() for cell in row.cells}
            if all(name in folded for name in named):
                return row, rows[i + 1 :]
    # By names: first a row naming a date and a money column, then any row naming two
    # known columns (PayPal's "Gross"/"Net" are not amount names, but "Date" is).
    strong = [(i, row) for i, row in scan if _header_strength(row, is_date) == 2]
    weak = [(i, row) for i, row in scan if _header_strength(row, is_date) == 1]
    for i, row in strong or weak:
        return row, rows[i + 1 :]
    # By shape: the first row holding a date and another number starts the data; the
    # row just above it is the header if it holds no values itself. A date column given by
    # number is the one looked at.
    date_spec = (options.date_col or "").strip()
    for i, row in enumerate(rows):
        dated = [j for j, cell in enumerate(row.cells) if is_date(cell)
                 and (not date_spec.isdigit() or j == int(date_spec) - 1)]
        numeric = [
            j for j, cell in enumerate(row.cells) if j not in dated and det.looks_numeric(cell)
        ]
        if row.filled >= 2 and dated and numeric:
            above = [r for r in rows[:i] if r.filled]
            if above and len(above[-1].cells) == len(row.cells) \
                    and not _has_values(above[-1], is_date):
                return above[-1], rows[i:]
            return None, rows[i:]
    if len(scan) <= 1:
        raise BadInputError("no statement lines (no row with a date and an amount)", file=display)
    raise BadInputError(_no_data_rows(scan, options, date_spec), file=display)


def _no_data_rows(scan: list[tuple[int, _Row]], options: CsvOptions, date_spec: str) -> str:
    """Why no row was found to hold a date and an amount, asking only for flags not given."""
    head = ("no recognisable date/amount columns (no header row and no row with a date and "
            "an amount)")
    fmt = options.date_format
    if date_spec.isdigit():
        sample = next((cell for _, row in scan if (cell := row.get(int(date_spec) - 1))), "")
        if fmt:
            return (f"{head}: column {date_spec} holds {sample!r}, which --csv-date-format "
                    f"{fmt} does not read; pass the format that does")
        return (f"{head}: column {date_spec} holds {sample!r}, not a date shape beanagent "
                "knows; pass --csv-date-format (e.g. %d/%m/%Y)")
    wanted = [flag for flag, given in (("--csv-header-line", options.header_line),
                                        ("--csv-date-col", options.date_col),
                                        ("--csv-amount-col", options.amount_col)) if not given]
    if not fmt:
        wanted.append("--csv-date-format if the dates have an unusual shape")
    return f"{head}; pass {', '.join(wanted)}"


def _header_strength(row: _Row, is_date: Callable[[str], bool]) -> int:
    roles = det.header_roles(row.cells)
    if _has_values(row, is_date):
        return 0
    if "date" in roles and roles & set(_MONEY_ROLES):
        return 2
    if len(roles) >= 2 and roles & {"date", *_MONEY_ROLES}:
        return 1
    return 0


def resolve_columns(
    header: _Row | None, body: list[_Row], options: CsvOptions, display: str
) -> _Columns:
    width = max([len(header.cells) if header else 0, *(len(r.cells) for r in body)])
    heads = [header.get(i) if header else "" for i in range(width)]
    cols = _Columns(names=[h or f"column {i + 1}" for i, h in enumerate(heads)], index={})
    where = header.line if header else None

    for role in (*_ROLES, "payee", "type"):
        spec = getattr(options, f"{role}_col", None)
        if spec:
            cols.index[role] = _column_by_spec(spec, heads, role, display, where)
    money_override = any(r in cols.index for r in _MONEY_ROLES)

    normalized = [det.normalize_header(h) for h in heads]
    for role in (*_ROLES, "payee", *_EXTRA_ROLES):
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
        if role == "description":
            # the other text columns, for rows where the best one is empty (PayPal's Note)
            cols.more_text = [i for _, i in sorted(ranked)[1:]]
    # A "Reference" column of words, not codes, is the purpose (UK and Revolut exports).
    if "description" not in cols.index and "id" in cols.index and not options.id_col \
            and normalized[cols.index["id"]][0] in ("reference", "referenz", "ref"):
        refs = [r.get(cols.index["id"]) for r in body if r.get(cols.index["id"])]
        if refs and sum(" " in ref for ref in refs) * 2 > len(refs):
            cols.index["description"] = cols.index.pop("id")
    # "Name"/"Payee" is the payee only beside a real description; alone it is the text.
    if "description" not in cols.index and "payee" in cols.index and not options.payee_col:
        cols.index["description"] = cols.index.pop("payee")
    if "payee" in cols.index or not {"from", "to"} <= cols.index.keys():
        cols.index.pop("from", None)
        cols.index.pop("to", None)
    _type_column(cols, heads, body)
    for role in _MONEY_ROLES:
        if role in cols.index and normalized[cols.index[role]][1]:
            cols.currency_hint = normalized[cols.index[role]][1]

    _content_fallback(cols, body, width, display, where, date_test(options))
    return cols


def _type_column(cols: _Columns, heads: list[str], body: list[_Row]) -> None:
    """A debit/credit column (csv_sign) beside a single amount column, and a column saying
    what kind of booking each row is (the description of last resort)."""
    cols.type_flag = "pass --csv-type-col with the column that says debit or credit"
    taken = set(cols.index.values())
    if "type" not in cols.index and "amount" in cols.index:
        values = {i: [r.get(i) for r in body] for i in range(len(heads)) if i not in taken}
        found = csv_sign.find_type_column(heads, values, taken)
        if found is not None:
            cols.index["type"] = found
    if "type" in cols.index and "amount" not in cols.index:
        del cols.index["type"]  # split debit/credit columns already give the sign
    taken = set(cols.index.values())
    kinds = [(_KIND_NAMES.index(name), i) for i, head in enumerate(heads)
             if i not in taken and (name := det.normalize_header(head)[0]) in _KIND_NAMES]
    if kinds:
        cols.index["kind"] = min(kinds)[1]


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
    cols: _Columns, body: list[_Row], width: int, display: str, where: int | None,
    is_date: Callable[[str], bool],
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
        dates = candidates(is_date)
        if len(dates) == 1:
            cols.index["date"] = dates[0]
        else:
            missing.append(_which("date", dates, cols))
    if not any(r in cols.index for r in _MONEY_ROLES):
        amounts = candidates(lambda v: det.looks_numeric(v) and not is_date(v))
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
