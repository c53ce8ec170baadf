"""The ledger as plain data: what the sandbox server's one full load gives the host.

Only the sandbox server loads the ledger (parse, booking, plugins, validation: what
bean-check does). The host, which holds the API key and must never fork script children,
gets from it what it needs as plain values: the transactions as booked, the accounts with
their opens and closes, the `balance` assertions, the error baseline, the options it reads,
where each file's dated entries sit (placement) and the documents already filed. Encoded
with `marshal` (tuples, strings, numbers: nothing in it can run code when read), sent over
the server's own protocol pipe, which no script child holds.

Numbers travel as their exact decimal text and become `Decimal` again on the host; dates
as ordinals. Meta values keep their type: text as text, a number, date or amount tagged.
"""

from __future__ import annotations

import dataclasses
import datetime
import marshal
from array import array
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from beanagent.model import LedgerError

FORMAT = 4
TXN_CHUNK = 1000
HIDDEN_META = frozenset({"filename", "lineno"})
# The options the host reads (roots, files, plugins, documents); the display context
# travels as what the host takes from it: the decimals each currency is written with.
OPTIONS = ("filename", "include", "plugin", "pythonpath", "documents", "title",
           "operating_currency", "name_assets", "name_liabilities", "name_equity",
           "name_income", "name_expenses")


# --- the server's side: beancount's entries in, bytes out -----------------------------------


def _value(value: Any) -> Any:
    """A meta value as plain data: text stays text; anything else is a tagged tuple."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return ("D", str(value))
    if isinstance(value, datetime.date):
        return ("T", value.toordinal())
    number, currency = getattr(value, "number", None), getattr(value, "currency", None)
    if isinstance(number, Decimal) and isinstance(currency, str):
        return ("A", str(number), currency)
    return ("S", str(value))


# What most entries' and postings' meta hold: where they are, and beancount's tolerances.
_USUAL_META = HIDDEN_META | {"__tolerances__"}


def _meta(meta: Mapping[str, Any] | None) -> tuple[Any, ...]:
    if not meta or meta.keys() <= _USUAL_META:
        return ()
    # Most entries and postings carry only where they are (and beancount's own "__"
    # keys): a set difference in C is a tenth of the loop below.
    rest = meta.keys() - HIDDEN_META
    if not rest or all(k.startswith("__") for k in rest):
        return ()
    return tuple((k, _value(v)) for k, v in meta.items()
                 if k not in HIDDEN_META and not k.startswith("__"))


def _number(units: Any) -> tuple[str | None, str | None]:
    number, currency = getattr(units, "number", None), getattr(units, "currency", None)
    return (str(number) if isinstance(number, Decimal) else None,
            currency if isinstance(currency, str) else None)


def _plain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in OPTIONS:
        value = options.get(key)
        if key == "plugin":
            value = [(str(n), None if c is None else str(c)) for n, c in value or ()]
        elif isinstance(value, (list, tuple)):
            value = [str(v) for v in value]
        elif value is not None:
            value = str(value)
        out[key] = value
    from beanagent.core.proposals import currency_places

    out["currency_places"] = currency_places(options)  # from the display context
    return out


def _place(entry: Any, kind: type, name: str, day: int, latest: dict[str, tuple[int, str]],
           first_open: dict[str, str]) -> None:
    """What files/placement.py needs of an entry of a ledger file: the latest entry of each
    account (the file it is in) and the file of each root's first `open`."""
    if kind.__name__ == "Transaction":
        accounts = {p.account for p in entry.postings}
    else:
        account = getattr(entry, "account", None)
        accounts = {account} if isinstance(account, str) else set()
        if kind.__name__ == "Open":
            first_open.setdefault(entry.account.split(":")[0], name)
    for account in accounts:
        best = latest.get(account)
        if best is None or day >= best[0]:
            latest[account] = (day, name)


def encode(entries: Iterable[Any], errors: Iterable[Any], options: Mapping[str, Any],
           sha256: Mapping[str, str]) -> tuple[bytes, bytes]:
    """The fully loaded ledger as the host needs it: its body and its errors (the sandbox
    server sends the body before it validates). `sha256`: each file as it was read."""
    return encode_body(entries, options, sha256), encode_errors(errors)


def encode_errors(errors: Iterable[Any]) -> bytes:
    """The load's errors (the second part of a snapshot: the sandbox server sends the
    body while it still validates)."""
    from beanagent.ledger.load import to_ledger_errors

    errors = list(errors)
    return marshal.dumps([(type(err).__name__, e.file, e.line, e.message)
                          for err, e in zip(errors, to_ledger_errors(errors), strict=True)])


def encode_body(entries: Iterable[Any], options: Mapping[str, Any],
                sha256: Mapping[str, str], keep: list[Any] | None = None) -> bytes:
    """Everything but the errors. `keep`: receives the transactions' plain tuples (the
    sandbox server's own view is made of them: no decoding of what it just encoded)."""
    from beancount.core import data

    files = set(sha256)
    txns: list[Any] = []
    chunks: list[bytes] = []  # the transactions, marshalled TXN_CHUNK at a time
    opens, closes, balances, documents = [], [], [], []
    dated: dict[str, list[tuple[int, int]]] = {}
    latest: dict[str, tuple[int, str]] = {}
    first_open: dict[str, str] = {}
    count = 0
    # One object per distinct account, currency, number text, payee, narration and
    # posting: marshal writes a repeated object once, so the host gets them shared (a few
    # hundred accounts instead of one string per posting; a monthly bill's postings once).
    # The transactions go out a chunk at a time, so that this process (the sandbox server,
    # which goes on holding the load) never holds more than a chunk's plain tuples: memory
    # freed from many small objects is seldom given back.
    strings: dict[Any, Any] = {}
    share = strings.setdefault  # share(x, x): the first object equal to x
    txn_type, open_type, close_type = data.Transaction, data.Open, data.Close
    # Kinds with no account (a price, an event, ...): only where they sit matters.
    plain_kinds = (data.Price, data.Event, data.Query, data.Commodity, data.Custom)
    for entry in entries:
        count += 1
        meta = entry.meta or {}
        name = meta.get("filename")
        line = meta.get("lineno")
        line = line if isinstance(line, int) else 0
        kind = type(entry)
        day = entry.date.toordinal()
        if name in files:
            if line:
                dated.setdefault(name, []).append((line, day))
            if kind in plain_kinds:
                continue
            _place(entry, kind, name, day, latest, first_open)
        if kind is txn_type:
            postings = []
            plain = True  # shared only without meta: equal keys may differ in type (1, True)
            for p in entry.postings:
                number, currency = _number(p.units)
                number = share(number, number)
                extra = _meta(p.meta) or None
                posting = (share(p.account, p.account), number, share(currency, currency),
                           extra)
                if extra is None:
                    postings.append(share(posting, posting))
                else:
                    plain = False
                    postings.append(posting)
            kept = tuple(postings)
            payee, narration = entry.payee, entry.narration or ""
            txns.append((day, entry.flag, share(payee, payee), share(narration, narration),
                         tuple(entry.tags or ()), tuple(entry.links or ()), _meta(meta),
                         str(name or ""), line, share(kept, kept) if plain else kept))
            if len(txns) == TXN_CHUNK:
                chunks.append(marshal.dumps(txns))
                if keep is not None:
                    keep.extend(txns)
                txns.clear()
                strings.clear()
        elif kind is open_type:
            opens.append((entry.account, day, tuple(entry.currencies or ()), _meta(meta),
                          str(name or ""), line))
        elif kind is close_type:
            closes.append((entry.account, day))
        elif kind is data.Balance and entry.amount.number is not None:
            balances.append((day, entry.account, str(entry.amount.number),
                             entry.amount.currency, str(name or ""), line))
        elif kind is data.Document:
            documents.append(str(entry.filename))
    if keep is not None:
        keep.extend(txns)
    return marshal.dumps({
        "format": FORMAT, "files": dict(sha256), "options": _plain_options(options),
        "entries": count, "txns": [*chunks, marshal.dumps(txns)], "opens": opens,
        "closes": closes, "balances": balances, "documents": documents,
        "dated": {name: _columns(sorted(items)) for name, items in dated.items()},
        "latest": latest, "first_open": first_open,
    })


def _columns(pairs: list[tuple[int, int]]) -> tuple[bytes, bytes]:
    """(line, day) pairs as two columns of machine integers: 16 bytes an entry on the host
    instead of a tuple of two ints (~110)."""
    return (array("q", [line for line, _ in pairs]).tobytes(),
            array("q", [day for _, day in pairs]).tobytes())


# --- the host's side: bytes in, plain values out ------------------------------------------


def plain_value(value: Any) -> Any:
    if not isinstance(value, tuple):
        return value
    tag = value[0]
    if tag == "D":
        return Decimal(value[1])
    if tag == "T":
        return datetime.date.fromordinal(value[1])
    if tag == "A":
        from beancount.core.amount import Amount

        return Amount(Decimal(value[1]), value[2])
    return value[1]


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def plain_meta(items: tuple[Any, ...] | None) -> Mapping[str, Any]:
    if not items:
        return _EMPTY
    return MappingProxyType({k: plain_value(v) for k, v in items})


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The server's full load as the host holds it."""

    sha256: Mapping[str, str]  # every file the load read, as it read it
    options: Mapping[str, Any]  # OPTIONS, and "currency_places"
    errors: tuple[LedgerError, ...]
    error_kinds: tuple[str, ...]  # each error's beancount type (LexerError, ...)
    entries: int  # how many directives the load has
    txns: list[Any]  # see encode(): plain tuples, date order
    opens: list[Any]
    closes: list[Any]
    balances: list[Any]
    documents: tuple[str, ...]
    # file -> its dated entries' first lines and day ordinals, in line order
    dated: Mapping[str, tuple[array[int], array[int]]]
    latest: Mapping[str, tuple[int, str]]  # account -> (date ordinal, file) of its last entry
    first_open: Mapping[str, str]  # root account -> file of its first `open`

    @staticmethod
    def decode_errors(errors: bytes) -> tuple[tuple[LedgerError, ...], tuple[str, ...]]:
        """The errors (encode_errors'), and each one's beancount type."""
        found = marshal.loads(errors)
        return (tuple(LedgerError(str(f), int(n), str(m)) for _, f, n, m in found),
                tuple(str(k) for k, *_ in found))

    @classmethod
    def decode(cls, body: bytes, errors: bytes | None = None,
               txns: list[Any] | None = None) -> Snapshot:
        """The body (encode_body's) and the errors (encode_errors'; None: the body alone,
        read while the server still validates); `txns`: the transactions as encode_body
        kept them (else decoded from the body)."""
        raw = marshal.loads(body)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ValueError("not a ledger snapshot of this version")
        found, kinds = cls.decode_errors(errors) if errors is not None else ((), ())
        if txns is None:
            txns = [txn for chunk in raw["txns"] for txn in marshal.loads(chunk)]
        return cls(raw["files"], raw["options"], found, kinds, int(raw["entries"]), txns,
                   raw["opens"], raw["closes"], raw["balances"], tuple(raw["documents"]),
                   {name: (array("q", lines), array("q", days))
                    for name, (lines, days) in raw["dated"].items()},
                   raw["latest"], raw["first_open"])

    def view(self) -> Any:
        from beanagent.ledger.view import PlainLedgerView

        return PlainLedgerView(self)

    @property
    def files(self) -> list[Path]:
        return [Path(name) for name in self.options.get("include") or self.sha256]
