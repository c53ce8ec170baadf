"""The history the gate's local check needs (local.py), kept so that its forked child can
read it without copying the sandbox server's memory.

A forked child shares the server's pages until it writes one, and CPython writes a
reference count into every object it reads: a check that walked one account's 3,700
transactions (as beancount's objects, or as the snapshot's plain tuples) copied 20-25 MiB
of pages, spread as those objects are over the whole heap. So the server keeps, per
account, its postings as flat columns (arrays and one bytes object: reading an item makes
a new number and touches nothing else), made once before any child exists; the child
rebuilds from them only what `ops.balance` needs, and little of it:

- each posting's units, from the exact decimal text the load wrote (so the same value and
  exponent: the running balances and the "accumulated" amounts of its messages are the
  same), in the order the load has them;
- the transactions between two consecutive events (a `balance` directive of the accounts
  checked, or a new entry) as one transaction, dated and numbered as the first of them, so
  that it sorts where that one sorted (after the event before it, and no later than the
  event after it, which a transaction sorting on the very same key as a new one precedes,
  as the local check orders them). `ops.balance` only reads the lots at `balance`
  directives, so that transaction need only take each lot the gap touched from what it
  held to what it holds after the gap: replayed here as beancount's Inventory adds (a lot
  that reaches zero is removed, a zero never starts one), in the load's order, with the
  context's precision (a rounding anywhere: None), and written as one or two postings
  that leave the lot with the same value and the same exponent.

Accounts holding lots at cost, or a posting without units, are left to the load's own
entries (None).
"""

from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterator, Sequence
from typing import Any


class Columns:
    """One account's postings, in the load's order."""

    def __init__(self) -> None:
        self.order = array("q")  # the transaction's place in the load
        self.day = array("l")  # its date (ordinal)
        self.line = array("l")  # its line
        self.currency = array("l")  # index into the currencies tuple
        self.ends = array("q")  # where each number's text ends in `numbers`
        self.numbers = b""

    def rows(self) -> Iterator[tuple[int, int, int, int, int, int]]:
        """(order, day, line, currency, start, end) of each posting."""
        start = 0
        for i in range(len(self.order)):
            end = self.ends[i]
            yield self.order[i], self.day[i], self.line[i], self.currency[i], start, end
            start = end


class History:
    """Every account's postings as columns (see the module's docstring)."""

    def __init__(self, txns: Sequence[Any]):
        """`txns`: the snapshot's plain transactions, in the load's order."""
        columns: dict[str, Columns] = {}
        texts: dict[str, list[bytes]] = {}
        currencies: dict[str, int] = {}
        self.unusable: set[str] = set()  # a posting without units
        for order, txn in enumerate(txns):
            day, line = txn[0], txn[8]
            for account, number, currency, _ in txn[9]:
                if number is None or currency is None:
                    self.unusable.add(account)
                    continue
                found = columns.get(account)
                if found is None:
                    found = columns[account] = Columns()
                    texts[account] = []
                found.order.append(order)
                found.day.append(day)
                found.line.append(line)
                found.currency.append(currencies.setdefault(currency, len(currencies)))
                text = number.encode()
                texts[account].append(text)
                found.ends.append((found.ends[-1] if found.ends else 0) + len(text))
        for account, parts in texts.items():
            columns[account].numbers = b"".join(parts)
        self.columns = columns
        self.currencies = tuple(currencies)


def merged_history(history: History, accounts: set[str], at_cost: set[str],
                   events: Sequence[Any]) -> list[Any] | None:
    """The transactions `ops.balance` needs to check the `balance` directives of
    `accounts` (and their sub-accounts), merged between `events` (those directives and
    the new entries; see the module's docstring); None: use the load's own."""
    import datetime
    import decimal

    from beancount.core import data

    def under(name: str) -> bool:
        return any(name == a or name.startswith(a + ":") for a in accounts)

    if any(under(name) for name in at_cost) or any(under(n) for n in history.unusable):
        return None
    names = [name for name in history.columns if under(name)]
    ordered = sorted(events, key=data.entry_sortkey)
    keys = [data.entry_sortkey(e) for e in ordered]
    index = {name: i for i, name in enumerate(history.currencies)}
    applied = 0  # the events whose postings are in `values`
    streams = [_rows(name, history.columns[name]) for name in names]
    out: list[Any] = []
    gap = -1
    first: tuple[int, int] = (0, 0)
    values: dict[tuple[str, int], decimal.Decimal] = {}  # each lot as ops.balance holds it
    touched: dict[tuple[str, int], decimal.Decimal | None] = {}  # ... and at the gap's start
    context = decimal.getcontext().copy()
    context.traps[decimal.Inexact] = context.traps[decimal.Rounded] = True
    try:
        with decimal.localcontext(context):
            for _, day, line, name, currency, number in heapq.merge(*streams):
                at = bisect.bisect_left(keys, (datetime.date.fromordinal(day), 0, line))
                if at != gap and touched:
                    _flush(out, first, touched, values, history.currencies)
                while applied < at:  # a new entry's postings change the lots it sorts before
                    if not _apply(values, ordered[applied], under, index):
                        return None
                    applied += 1
                if not touched:
                    gap, first = at, (day, line)
                key = (name, currency)
                if key not in touched:
                    touched[key] = values.get(key)
                _add(values, key, decimal.Decimal(number))
            if touched:
                _flush(out, first, touched, values, history.currencies)
    except decimal.DecimalException:  # a sum beyond the context's precision: as loaded
        return None
    return out


def _apply(values: dict[Any, Any], entry: Any, under: Any, index: dict[str, int]) -> bool:
    """A new transaction's postings on the accounts checked, added to their lots (a
    `balance` directive adds nothing), so that the gaps after it start from what
    ops.balance will hold there; False when one can't be followed here."""
    for posting in getattr(entry, "postings", None) or ():
        if not under(posting.account):
            continue
        number = getattr(posting.units, "number", None)
        currency = getattr(posting.units, "currency", None)
        if posting.cost is not None or number is None or currency is None:
            return False
        if currency in index:  # else no posting of the history shares its lot
            _add(values, (posting.account, index[currency]), number)
    return True


def _add(values: dict[Any, Any], key: Any, number: Any) -> None:
    """A posting's units added to its lot, as beancount's Inventory.add_amount adds them:
    a lot that reaches zero is removed, and a zero never starts one."""
    held = values.get(key)
    if held is None:
        if number != 0:
            values[key] = number
        return
    total = held + number
    if total == 0:
        del values[key]
    else:
        values[key] = total


def _flush(out: list[Any], first: tuple[int, int], touched: dict[Any, Any],
           values: dict[Any, Any], currencies: tuple[str, ...]) -> None:
    """One transaction taking each lot the gap touched from what it held at the gap's
    start to what it holds at its end, value and exponent alike (Inventory adds as
    `_add`): nothing when unchanged; the difference when it keeps the end's exponent;
    else all of the start taken out (the lot is removed) and the end put in."""
    from beancount.core import amount, data

    postings: list[Any] = []
    for (name, currency), start in touched.items():
        end = values.get((name, currency))
        if start is not None and end is not None and start.as_tuple() == end.as_tuple():
            continue
        if start is None and end is None:
            continue
        moves: list[Any]
        if start is None:
            moves = [end]
        elif end is None:
            moves = [-start]
        elif end.as_tuple().exponent <= start.as_tuple().exponent and end != start:
            moves = [end - start]
        else:
            moves = [-start, end]
        postings.extend(data.Posting(name, amount.Amount(move, currencies[currency]), None,
                                     None, None, None) for move in moves)
    touched.clear()
    if postings:
        out.append(_transaction(first, postings))


def _rows(name: str, columns: Columns) -> Iterator[tuple[int, int, int, str, int, str]]:
    numbers = columns.numbers
    for order, day, line, currency, start, end in columns.rows():
        yield order, day, line, name, currency, numbers[start:end].decode()


def _transaction(first: tuple[int, int], postings: list[Any]) -> Any:
    import datetime

    from beancount.core import data

    day, line = first
    return data.Transaction({"filename": "<history>", "lineno": line},
                            datetime.date.fromordinal(day), "*", None, "", data.EMPTY_SET,
                            data.EMPTY_SET, postings)
