"""The read-only view of a ledger that scripts (and `beanagent query`) see.

Scripts get plain frozen records and beanquery, never the live directive list, so nothing a
script does to what it reads can reach what the host stages or commits (and the files
themselves are out of reach: scripts run in another process).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

_HIDDEN_META = frozenset({"filename", "lineno"})


_NONE: frozenset[str] = frozenset()  # no tags, no links: one object for every record


class Posting(NamedTuple):
    account: str
    amount: Decimal | None
    currency: str | None
    meta: Mapping[str, Any] | None = None  # the posting's own metadata (`check: 1234`), if any


@dataclasses.dataclass(frozen=True, eq=False, slots=True)  # identity: two same-looking rows
class Txn:                                                   # are two rows
    """A booked transaction (missing amounts already interpolated)."""

    date: datetime.date
    flag: str
    payee: str | None
    narration: str
    postings: tuple[Posting, ...]
    tags: frozenset[str]
    links: frozenset[str]
    meta: Mapping[str, Any]
    file: str
    line: int

    def amount(self, account: str, currency: str | None = None) -> Decimal:
        """Net amount this transaction posts to `account` (exactly that account)."""
        return sum(
            (
                p.amount
                for p in self.postings
                if p.account == account and p.amount is not None
                and (currency is None or p.currency == currency)
            ),
            Decimal(0),
        )

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.account for p in self.postings))


@dataclasses.dataclass(frozen=True)
class AccountInfo:
    name: str
    open: datetime.date
    close: datetime.date | None
    currencies: tuple[str, ...]
    meta: Mapping[str, Any]

    def is_open(self, date: datetime.date) -> bool:
        return self.open <= date and (self.close is None or date < self.close)


@dataclasses.dataclass(frozen=True)
class BalanceAssertion:
    date: datetime.date
    account: str
    amount: Decimal
    currency: str
    file: str = ""  # where the directive is
    line: int = 0


def _posting(p: Any) -> Posting:
    """Booked entries always have numbers; a parsed-only ledger may have MISSING ones."""
    units = p.units
    number = getattr(units, "number", None)
    currency = getattr(units, "currency", None)
    own = _meta(p.meta) if p.meta and set(p.meta) - _HIDDEN_META else None
    return Posting(p.account, number if isinstance(number, Decimal) else None,
                   currency if isinstance(currency, str) else None, own or None)


def _meta(meta: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType({k: v for k, v in (meta or {}).items()
                             if k not in _HIDDEN_META and not k.startswith("__")})


class LedgerView:
    """Read-only access to a loaded ledger: `query`, `balance`, `transactions`, `accounts`."""

    def __init__(self, entries: list[Any], options: dict[str, Any]):
        from beancount.core import data

        self._entries = entries
        self._options = options
        opens = {e.account: e for e in entries if isinstance(e, data.Open)}
        closes = {e.account: e.date for e in entries if isinstance(e, data.Close)}
        self.accounts: Mapping[str, AccountInfo] = MappingProxyType({
            name: AccountInfo(name, o.date, closes.get(name), tuple(o.currencies or ()),
                              _meta(o.meta))
            for name, o in sorted(opens.items())
        })
        self.operating_currencies: tuple[str, ...] = tuple(options.get("operating_currency") or ())
        # Converted to `Txn` lazily, per account: building all records up front costs
        # ~0.4 s on a 13k-transaction ledger, and most scripts look at one account.
        self._raw: list[Any] = [e for e in entries if isinstance(e, data.Transaction)]
        self._txn_dates = [e.date for e in self._raw]
        self._converted: dict[int, Txn] = {}
        self.balance_assertions: tuple[BalanceAssertion, ...] = tuple(
            BalanceAssertion(e.date, e.account, e.amount.number, e.amount.currency,
                             str(e.meta.get("filename", "")), int(e.meta.get("lineno") or 0))
            for e in entries
            # a balance directive always has a number (the grammar requires one)
            if isinstance(e, data.Balance) and e.amount.number is not None
        )
        self._by_account: dict[str, list[Any]] = {}
        self._indexed = False  # every account's list is built (index_accounts)
        self._days: dict[str, list[datetime.date]] = {}
        self._txns: dict[str, tuple[Txn, ...]] = {}

    @property
    def start(self) -> datetime.date | None:
        return self._txn_dates[0] if self._txn_dates else None

    @property
    def end(self) -> datetime.date | None:
        return self._txn_dates[-1] if self._txn_dates else None

    def query(self, bql: str) -> list[dict[str, Any]]:
        """Run a beanquery (BQL) statement; each row is a dict keyed by column name."""
        from beanquery import query

        columns, rows = query.run_query(self._entries, self._options, bql)
        names = [c.name for c in columns]
        return [dict(zip(names, row, strict=True)) for row in rows]

    def transactions(self, account: str | None = None, start: datetime.date | None = None,
                     end: datetime.date | None = None) -> list[Txn]:
        """Transactions (date order) touching `account` or its sub-accounts, with
        `start <= date <= end` when given."""
        if account is None:
            lo = bisect.bisect_left(self._txn_dates, start) if start else 0
            hi = bisect.bisect_right(self._txn_dates, end) if end else len(self._raw)
            return [self._txn(e) for e in self._raw[lo:hi]]
        if start is None and end is None:
            return list(self._account_txns(account))
        found, days = self._account_raw(account), self._account_days(account)
        lo = bisect.bisect_left(days, start) if start else 0
        hi = bisect.bisect_right(days, end) if end else len(found)
        return [self._txn(e) for e in found[lo:hi]]

    def _account_raw(self, account: str) -> list[Any]:
        """The raw transactions touching `account` or a sub-account, in date order (one
        scan per account, cached: scripts look at a handful of accounts, never all)."""
        found = self._by_account.get(account)
        if found is None and self._indexed:  # no transaction touches it
            found = []
        if found is None:
            prefix = account + ":"
            found = self._by_account[account] = [
                e for e in self._raw
                if any(name == account or name.startswith(prefix)
                       for name in self._posting_accounts(e))]
        return found

    def warm(self, accounts: Iterable[str]) -> None:
        """Make these accounts' records now (the sandbox server, before it forks a script
        child: the children then share them instead of each making its own from rows all
        over the heap, which copied ~20 MiB of pages per child)."""
        for account in accounts:
            if account in self.accounts:
                self._account_txns(account)
                self._account_days(account)

    def transactions_raw_all(self) -> list[Any]:
        """The view's own rows (entries, or plain tuples) of every transaction, in order."""
        return self._raw

    def _account_days(self, account: str) -> list[datetime.date]:
        days = self._days.get(account)
        if days is None:
            days = self._days[account] = [self._day(e) for e in self._account_raw(account)]
        return days

    def _day(self, e: Any) -> datetime.date:
        return e.date  # type: ignore[no-any-return]

    def _account_txns(self, account: str) -> tuple[Txn, ...]:
        """Every transaction touching `account` or a sub-account, as records (converted
        once per account: matching, the balance and the sign test each look at them)."""
        txns = self._txns.get(account)
        if txns is None:
            txns = self._txns[account] = tuple(self._txn(e) for e in self._account_raw(account))
        return txns

    def _posting_accounts(self, e: Any) -> Iterable[str]:
        return (p.account for p in e.postings)

    def index_accounts(self) -> None:
        """Every account's (and every parent's) transactions, in one pass. The sandbox
        server does this once before its children fork: a script's look at an account
        then scans nothing and touches (so copies) only that account's entries."""
        index: dict[str, list[Any]] = {}
        for e in self._raw:
            seen: set[str] = set()
            for name in self._posting_accounts(e):
                while name and name not in seen:
                    seen.add(name)
                    index.setdefault(name, []).append(e)
                    name = name.rpartition(":")[0]
        self._by_account = index
        self._indexed = True

    def _txn(self, e: Any) -> Txn:
        txn = self._converted.get(id(e))
        if txn is None:
            txn = self._converted[id(e)] = Txn(
                e.date, e.flag, e.payee, e.narration or "",
                tuple(_posting(p) for p in e.postings),
                frozenset(e.tags or ()), frozenset(e.links or ()), _meta(e.meta),
                str(e.meta.get("filename", "")), int(e.meta.get("lineno", 0)),
            )
        return txn

    def currency_of(self, account: str) -> str | None:
        """The account's single currency: from its `open` constraint, else from its
        postings; None when it has none or several."""
        info = self.accounts.get(account)
        if info and len(info.currencies) == 1:
            return info.currencies[0]
        seen = {p.currency for t in self._account_txns(account) for p in t.postings
                if p.account == account and p.currency}
        return seen.pop() if len(seen) == 1 else None

    def balance(self, account: str, date: datetime.date | None = None,
                currency: str | None = None) -> Decimal:
        """Balance of `account` and its sub-accounts at the START of `date` (what a
        `balance` directive on that date checks); everything when `date` is None."""
        if account not in self.accounts and not self._account_txns(account):
            raise ValueError(f"unknown account {account!r}")
        currency = currency or self.currency_of(account)
        if currency is None:
            raise ValueError(f"{account} holds several currencies (or none): pass currency=")
        prefix = account + ":"
        total = Decimal(0)
        for t in self._account_txns(account):
            if date is not None and t.date >= date:
                continue
            for p in t.postings:
                if (p.account == account or p.account.startswith(prefix)) \
                        and p.currency == currency and p.amount is not None:
                    total += p.amount
        return total


class PlainLedgerView(LedgerView):
    """The same view over the plain data of a snapshot (ledger/snapshot.py): the host's,
    built from the sandbox server's full load without beancount's entries. Transactions
    become `Txn` records when first looked at, as in `LedgerView`."""

    def __init__(self, snapshot: Any):
        from beanagent.ledger.snapshot import plain_meta

        self._entries = []
        self._options = dict(snapshot.options)
        opens = {o[0]: o for o in snapshot.opens}
        closes = {c[0]: c[1] for c in snapshot.closes}
        self.accounts = MappingProxyType({
            name: AccountInfo(name, datetime.date.fromordinal(o[1]),
                              datetime.date.fromordinal(closes[name]) if name in closes
                              else None, tuple(o[2]), plain_meta(o[3]))
            for name, o in sorted(opens.items())
        })
        self.operating_currencies = tuple(snapshot.options.get("operating_currency") or ())
        self._raw = snapshot.txns
        fromordinal = datetime.date.fromordinal
        self._txn_dates = [fromordinal(t[0]) for t in self._raw]
        self._converted = {}
        self.balance_assertions = tuple(
            BalanceAssertion(fromordinal(day), account, Decimal(number), currency, file, line)
            for day, account, number, currency, file, line in snapshot.balances)
        self._by_account = {}
        self._indexed = False
        self._days = {}
        self._txns = {}
        self._postings: dict[int, tuple[Posting, ...]] = {}  # by the snapshot's tuple
        self._numbers: dict[str, Decimal] = {}

    def query(self, bql: str) -> list[dict[str, Any]]:
        raise RuntimeError("queries run where the ledger is loaded: in the sandbox")

    def _day(self, e: Any) -> datetime.date:
        return datetime.date.fromordinal(e[0])

    def _posting_accounts(self, e: Any) -> Iterable[str]:
        return (p[0] for p in e[9])

    def _txn(self, e: Any) -> Txn:
        from beanagent.ledger.snapshot import plain_meta

        txn = self._converted.get(id(e))
        if txn is None:
            # The snapshot shares equal postings (a monthly bill's) and number texts: so do
            # the records (Posting and Decimal are immutable), a third of their memory.
            postings = self._postings.get(id(e[9]))
            if postings is None:
                postings = self._postings[id(e[9])] = tuple(
                    Posting(account, None if number is None else self._number(number),
                            currency, plain_meta(meta) if meta else None)
                    for account, number, currency, meta in e[9])
            txn = self._converted[id(e)] = Txn(
                datetime.date.fromordinal(e[0]), e[1], e[2], e[3], postings,
                frozenset(e[4]) if e[4] else _NONE, frozenset(e[5]) if e[5] else _NONE,
                plain_meta(e[6]), e[7], e[8])
        return txn

    def _number(self, text: str) -> Decimal:
        number = self._numbers.get(text)
        if number is None:
            number = self._numbers[text] = Decimal(text)
        return number


class ServerLedgerView(PlainLedgerView):
    """The sandbox server's view, which its script children inherit: records made from the
    snapshot's plain tuples (a child then touches, so copies, those compact tuples rather
    than the load's own objects spread over its whole heap), BQL on the load's entries."""

    def __init__(self, snapshot: Any, entries: list[Any], options: dict[str, Any]):
        super().__init__(snapshot)
        self._entries = entries
        self._options = options

    def query(self, bql: str) -> list[dict[str, Any]]:
        return LedgerView.query(self, bql)
