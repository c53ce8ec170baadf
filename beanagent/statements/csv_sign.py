"""A CSV column that says which way the money went: Mint's "Transaction Type" (debit/credit),
"DR"/"CR", German "S"/"H" (Soll/Haben), Dutch "Af"/"Bij", "Withdrawal"/"Deposit".

Exports with such a column often write every amount unsigned, so without it a coffee on a card
reads as money in. When the amounts are signed as well, the two must agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from beanagent.errors import BadInputError
from beanagent.statements import csv_detect as det

# Folded cell values -> the sign they give an amount (from the account holder's side).
_DEBIT = ("debit", "dr", "db", "d", "dbit", "soll", "s", "withdrawal", "debet", "af", "out",
          "outgoing", "belastung", "-")
_CREDIT = ("credit", "cr", "c", "crdt", "haben", "h", "deposit", "bij", "in", "incoming",
           "gutschrift", "+")
SIGNS: dict[str, int] = {**dict.fromkeys(_DEBIT, -1), **dict.fromkeys(_CREDIT, 1)}
KNOWN = "debit/credit, DR/CR, S/H (Soll/Haben), Af/Bij, withdrawal/deposit, in/out"

# Normalised header names of such a column, best first. A generic name ("Type") only counts
# when at least one of its values is a debit/credit word: Chase's and Venmo's "Type" (Sale,
# Payment, Charge) say nothing about the sign.
TYPE_NAMES = (
    "debit/credit", "credit/debit", "dr/cr", "cr/dr", "d/c", "c/d", "soll/haben", "s/h",
    "af bij", "af/bij", "debet/credit", "credit/debet", "credit debit indicator", "cdtdbtind",
    "balance impact", "direction", "transaction direction", "in/out", "sign",
    "transaction type", "type", "trans type", "txn type",
)
_GENERIC = ("type", "trans type", "txn type")


def fold(value: str) -> str:
    return value.strip().casefold().rstrip(".")


def find_type_column(heads: Sequence[str], values_of: dict[int, list[str]],
                     taken: set[int]) -> int | None:
    """The best-named column among `heads` that is a type column (see TYPE_NAMES)."""
    ranked = []
    for i, head in enumerate(heads):
        name = det.normalize_header(head)[0]
        values = [fold(v) for v in values_of.get(i, ()) if v.strip()]
        if i in taken:
            continue
        if not name and values and all(v in SIGNS and v not in "+-" for v in values):
            # Volksbank's unnamed column of S/H after "Umsatz"
            ranked.append((len(TYPE_NAMES), i))
        elif name in TYPE_NAMES and (name not in _GENERIC or any(v in SIGNS for v in values)):
            ranked.append((TYPE_NAMES.index(name), i))
    return min(ranked)[1] if ranked else None


@dataclasses.dataclass(frozen=True)
class TypeColumn:
    """How the type column is applied to one file's amounts."""

    index: int
    name: str  # the header text, for messages
    unsigned: bool  # the file's amounts carry no sign of their own: the type gives it
    inverted: bool  # signed amounts that every typed row contradicts: the type wins
    flag: str  # what to pass to read another column


def plan(ix: int, name: str, rows: Sequence[tuple[int, str, Decimal]], display: str,
         flag: str) -> TypeColumn:
    """Decide how to apply the type column from every (line, type, amount) of the file.
    Raises BadInputError on a type the sign can't be read from, or a contradiction."""
    unsigned = not any(amount < 0 for _, _, amount in rows)
    if unsigned:
        for line, value, amount in rows:
            if amount and fold(value) not in SIGNS:
                shown = repr(value) if value else "no type"
                raise BadInputError(
                    f"{shown} in column {name!r} is not a debit/credit word ({KNOWN}) and the "
                    f"amounts are unsigned, so this row's sign can't be read; {flag}",
                    file=display, line=line)
        return TypeColumn(ix, name, unsigned=True, inverted=False, flag=flag)
    typed = [(line, value, amount) for line, value, amount in rows
             if amount and fold(value) in SIGNS]
    wrong = [(line, value, amount) for line, value, amount in typed
             if (amount > 0) != (SIGNS[fold(value)] > 0)]
    if wrong and len(wrong) == len(typed):
        return TypeColumn(ix, name, unsigned=False, inverted=True, flag=flag)
    if wrong:
        line, value, amount = wrong[0]
        raise BadInputError(
            f"amount {amount} disagrees with {value!r} in column {name!r} (other rows agree); "
            f"check the row, or {flag}", file=display, line=line)
    return TypeColumn(ix, name, unsigned=False, inverted=False, flag=flag)


def apply(column: TypeColumn, value: str, amount: Decimal) -> Decimal:
    sign = SIGNS.get(fold(value))
    if sign is None or not (column.unsigned or column.inverted):
        return amount
    return abs(amount) * sign
