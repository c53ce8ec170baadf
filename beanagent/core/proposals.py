"""Proposals: the only thing a script can hand back, and how the host checks it.

A proposal crosses the sandbox boundary as plain JSON data (`kind`, `date`, postings as
strings...). `validate` is the single rulebook: the script API calls it so an author gets
an actionable error at once, and the host calls it again on what arrives, because whatever
the child says is untrusted. Only `transaction`, `balance` and `open` exist: there is no
way to propose `plugin`, `include` or `option`.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from beanagent.ledger.view import AccountInfo, LedgerView
from beanagent.model import PostingSpec, Proposal, Spec
from beanagent.statements.model import Ref, Statement
from beanagent.text import did_you_mean, line_breaker

KINDS = ("transaction", "balance", "open")
MAX_TEXT = 500
MAX_POSTINGS = 50
MAX_META = 20
MAX_EVIDENCE = 50
MAX_NUMBER = Decimal("1e15")
MAX_DECIMALS = 8

_META_KEY = re.compile(r"^[a-z][a-zA-Z0-9_\-]{0,40}$")
_TAG = re.compile(r"^[A-Za-z0-9\-_/.]{1,64}$")


class ProposalError(ValueError):
    """A proposal the rules reject; the message tells the script's author what to change."""


def _text(value: Any, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProposalError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ProposalError(f"{what} is longer than {MAX_TEXT} characters ({len(value)}): "
                            "shorten it")
    # What the printer can't show on one line as it is: written to a ledger it would
    # break the entry's line, reorder what the reviewer reads, or drive their terminal.
    char = line_breaker(value)
    if char is not None:
        kind = ("a control character" if ord(char) < 0xa0 else "a line separator"
                if char in "\u2028\u2029" else "a bidirectional control")
        raise ProposalError(f"{what} contains {kind} (U+{ord(char):04X}, at position "
                            f"{value.index(char) + 1}): text in an entry must stay on one "
                            "line and read as written; remove it")
    return value


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            raise ProposalError(f"date {value!r} is not YYYY-MM-DD") from None
    if not isinstance(value, datetime.date):
        raise ProposalError(f"date must be a datetime.date or 'YYYY-MM-DD', not {value!r}")
    if not (1900 <= value.year <= 2200):
        raise ProposalError(f"date {value} is out of range")
    return value


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise ProposalError(f"{what} must be a Decimal, int or numeric string, not "
                            f"{type(value).__name__} (floats are not accepted: use Decimal)")
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ProposalError(f"{what} {value!r} is not a number") from None
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise ProposalError(f"{what} {value!r} is not a finite amount below {MAX_NUMBER}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise ProposalError(f"{what} {value!r} has more than {MAX_DECIMALS} decimals")
    return number


def _currency(value: Any) -> str:
    from beancount.core.amount import CURRENCY_RE

    if not isinstance(value, str) or len(value) > 24 or not re.fullmatch(CURRENCY_RE, value):
        raise ProposalError(f"currency {value!r} is not a valid commodity name (e.g. 'USD')")
    return value


def _account(value: Any) -> str:
    from beancount.core.account import is_valid

    if not isinstance(value, str) or len(value) > 200 or not is_valid(value):
        raise ProposalError(
            f"account {value!r} is not a valid account name (e.g. 'Expenses:Food:Coffee')")
    return value


_BY_INDEX = ('evidence {"statement": S, "line": N} names statements[S].lines[N], as the '
             "<statement-data> block does (N counts from 0)")


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _by_index(item: Mapping[str, Any]) -> tuple[int, int]:
    """The indexes of `{"statement": S, "line": N}`, checked for shape only."""
    statement, line = item.get("statement"), item.get("line")
    if set(item) - {"statement", "line"} or not (
            isinstance(statement, int) and isinstance(line, int)
            and _index(statement) and _index(line)):
        raise ProposalError(f"{_BY_INDEX}: give exactly those two keys, as integers of 0 or "
                            f"more (or pass the line itself: statements[S].lines[N]); got "
                            f"{dict(item)!r}")
    return statement, line


def resolve_evidence(item: Any, statements: Sequence[Statement]) -> Any:
    """An evidence item as the ref of the statement line it names: `{"statement": 0,
    "line": 8}` (the data block's indexes) is `statements[0].lines[8].ref`; a ref whose
    `file` is a statement's file name without its folders (as the prompt shows it) gets
    the full name. Anything else is returned as it is, for `validate` to judge."""
    if not isinstance(item, Mapping):
        return item
    if "statement" in item:
        s, n = _by_index(item)
        if s >= len(statements):
            raise ProposalError(f"{_BY_INDEX}: there is no statements[{s}] (there are "
                                f"{len(statements)})")
        lines = statements[s].lines
        if n >= len(lines):
            raise ProposalError(f"{_BY_INDEX}: statements[{s}] has {len(lines)} lines "
                                f"(0 to {len(lines) - 1}), not line {n}")
        return lines[n].ref.to_json()
    file = item.get("file")
    if isinstance(file, str) and all(st.file != file for st in statements):
        named = {st.file for st in statements
                 if PurePath(st.file.replace("\\", "/")).name == file}
        if len(named) == 1:
            return {**item, "file": named.pop()}
    return item


def _refs(value: Any) -> tuple[Ref, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_EVIDENCE:
        raise ProposalError(f"evidence must be a list of at most {MAX_EVIDENCE} statement refs")
    refs = []
    for item in value:
        if isinstance(item, Mapping) and "statement" in item and "file" not in item:
            # Resolved against the statements where they are known (`resolve_evidence`,
            # `validate_all`); here only its shape can be checked.
            s, n = _by_index(item)
            refs.append(Ref(f"statements[{s}].lines[{n}]"))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("file"), str):
            raise ProposalError("each evidence item must be a statement line "
                                "(statements[0].lines[8]), its .ref, or {\"statement\": 0, "
                                "\"line\": 8}")
        line, bid = item.get("line"), item.get("id")
        if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
            raise ProposalError("evidence line must be an integer")
        if bid is not None and not isinstance(bid, str):
            raise ProposalError("evidence id must be a string")
        refs.append(Ref(item["file"], line, bid))
    return tuple(refs)


def _confidence(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = _number(value if not isinstance(value, float) else str(value), "confidence")
    if not (0 <= number <= 1):
        raise ProposalError("confidence must be between 0 and 1")
    return number.quantize(Decimal("0.001"))


def require_open(account: str, date: datetime.date, accounts: Mapping[str, AccountInfo],
               opened: Mapping[str, datetime.date]) -> None:
    info = accounts.get(account)
    if info is not None:
        if not info.is_open(date):
            span = f"{info.open}" + (f" to {info.close}" if info.close else "")
            raise ProposalError(f"account {account} is not open on {date} (open {span})")
        return
    if account in opened:
        if opened[account] > date:
            raise ProposalError(f"account {account} is proposed to open on {opened[account]}, "
                                f"after {date}")
        return
    hint = did_you_mean(account, [*accounts, *opened])
    raise ProposalError(f"account {account} is not open in the ledger{hint}; use an existing "
                        f"account or propose.open({account!r}, date) first")


def validate(raw: Any, accounts: Mapping[str, AccountInfo],
             opened: Mapping[str, datetime.date]) -> Spec:
    """Check one proposal in its JSON form; `opened` holds accounts opened by earlier
    proposals. Raises ProposalError with a message the script's author can act on."""
    if not isinstance(raw, Mapping):
        raise ProposalError("a proposal must be an object")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ProposalError(f"proposal kind {kind!r} is not allowed (only {', '.join(KINDS)})")
    date = _date(raw.get("date"))
    reason = _text(raw.get("reason", ""), "reason") or ""
    evidence = _refs(raw.get("evidence", []))
    if kind == "open":
        account = _account(raw.get("account"))
        if account in accounts or account in opened:
            raise ProposalError(f"account {account} is already open")
        currencies = raw.get("currencies") or []
        if not isinstance(currencies, (list, tuple)):
            raise ProposalError("currencies must be a list")
        return Spec("open", date, account=account,
                    currencies=tuple(_currency(c) for c in currencies), reason=reason)
    if kind == "balance":
        account = _account(raw.get("account"))
        require_open(account, date, accounts, opened)
        return Spec("balance", date, account=account,
                    number=_number(raw.get("number"), "balance amount"),
                    currency=_currency(raw.get("currency")), evidence=evidence, reason=reason)
    return _validate_transaction(raw, date, accounts, opened, evidence, reason)


def _validate_transaction(raw: Mapping[str, Any], date: datetime.date,
                          accounts: Mapping[str, AccountInfo],
                          opened: Mapping[str, datetime.date],
                          evidence: tuple[Ref, ...], reason: str) -> Spec:
    flag = raw.get("flag", "*")
    if flag not in ("*", "!"):
        raise ProposalError(f"flag must be '*' or '!', not {flag!r}")
    postings_raw = raw.get("postings")
    if not isinstance(postings_raw, (list, tuple)) or not 2 <= len(postings_raw) <= MAX_POSTINGS:
        raise ProposalError(f"a transaction needs 2 to {MAX_POSTINGS} postings")
    postings = []
    for p in postings_raw:
        if not isinstance(p, Mapping):
            raise ProposalError("each posting must be an object with account/number/currency")
        account = _account(p.get("account"))
        require_open(account, date, accounts, opened)
        if p.get("number") is None:
            postings.append(PostingSpec(account, None, None))
            continue
        number = _number(p.get("number"), f"amount of {account}")
        currency = _currency(p.get("currency"))
        allowed = accounts[account].currencies if account in accounts else ()
        if allowed and currency not in allowed:
            raise ProposalError(f"{account} only holds {', '.join(allowed)}, not {currency}")
        postings.append(PostingSpec(account, number, currency))
    elided = [p for p in postings if p.number is None]
    if len(elided) > 1:
        raise ProposalError("at most one posting may leave its amount out")
    totals: dict[str, Decimal] = {}
    for p in postings:
        if p.currency is not None and p.number is not None:
            totals[p.currency] = totals.get(p.currency, Decimal(0)) + p.number
    unbalanced = {c: t for c, t in totals.items() if t != 0}
    if unbalanced and not (elided and len(totals) == 1):
        detail = ", ".join(f"{t} {c}" for c, t in sorted(unbalanced.items()))
        raise ProposalError(f"transaction does not balance: postings sum to {detail}")
    meta_raw = raw.get("meta") or {}
    if not isinstance(meta_raw, Mapping) or len(meta_raw) > MAX_META:
        raise ProposalError(f"meta must be a dict of at most {MAX_META} entries")
    meta = []
    for key, value in meta_raw.items():
        if not isinstance(key, str) or not _META_KEY.match(key) or key in ("filename", "lineno"):
            raise ProposalError(f"meta key {key!r} is not allowed (lowercase, letters/digits/_)")
        meta.append((key, _text(value, f"meta value of {key}") or ""))
    tags = tuple(_tag(t, "tag") for t in _list(raw.get("tags"), "tags"))
    links = tuple(_tag(t, "link") for t in _list(raw.get("links"), "links"))
    return Spec("transaction", date, flag=flag,
                payee=_text(raw.get("payee"), "payee", optional=True),
                narration=_text(raw.get("narration", ""), "narration") or "",
                postings=tuple(postings), tags=tags, links=links, meta=tuple(meta),
                evidence=evidence, confidence=_confidence(raw.get("confidence")),
                reason=reason)


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ProposalError(f"{what} must be a list of strings, not {type(value).__name__}")
    return list(value)


def _tag(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TAG.match(value):
        raise ProposalError(f"{what} {value!r} is not valid (letters, digits, - _ / .)")
    return value


def to_directive(spec: Spec) -> Any:
    """The beancount directive for a validated proposal (rendered later by the printer)."""
    from beancount.core import amount, data

    meta = data.new_metadata("<beanagent>", 0)
    if spec.kind == "document":  # the host's own (files/archive.py), never an agent's
        assert spec.account is not None
        return data.Document(meta, spec.date, spec.account, spec.narration, frozenset(),
                             frozenset())
    if spec.kind == "open":
        assert spec.account is not None
        # No currencies is an empty list, which the printer writes as it writes None.
        return data.Open(meta, spec.date, spec.account, list(spec.currencies), None)
    if spec.kind == "balance":
        assert spec.account is not None
        assert spec.number is not None and spec.currency is not None
        return data.Balance(meta, spec.date, spec.account,
                            amount.Amount(spec.number, spec.currency), None, None)
    meta.update(dict(spec.meta))
    postings = []
    for p in spec.postings:
        units = None
        if p.number is not None:
            assert p.currency is not None  # validated: a posting's amount has a currency
            units = amount.Amount(p.number, p.currency)
        postings.append(data.Posting(p.account, units, None, None, None, None))
    return data.Transaction(meta, spec.date, spec.flag, spec.payee, spec.narration,
                            frozenset(spec.tags), frozenset(spec.links), postings)


def format_directive(spec: Spec) -> str:
    """Exactly the text that would be written, from beancount's own printer."""
    from beancount.parser import printer

    return printer.format_entry(to_directive(spec))


# --- the host's side: everything the agent proposed, checked again ------------------------


def pad(number: Decimal | None, places: Mapping[str, int], currency: str | None
        ) -> Decimal | None:
    """Show '-42.4' as '-42.40' when the ledger writes USD with 2 decimals; never round."""
    if number is None or currency is None or currency not in places:
        return number
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places[currency]:
        return number.quantize(Decimal(1).scaleb(-places[currency]))
    return number


def currency_places(options: Mapping[str, Any]) -> dict[str, int]:
    """The decimals the ledger most often writes each currency with."""
    from beancount.core.display_context import Precision

    plain = options.get("currency_places")  # the server's load, as plain data
    if isinstance(plain, Mapping):
        return {str(k): int(v) for k, v in plain.items()}
    dcontext = options.get("dcontext")
    out: dict[str, int] = {}
    for currency, ctx in (getattr(dcontext, "ccontexts", None) or {}).items():
        places = ctx.get_fractional(Precision.MOST_COMMON)
        if isinstance(places, int):
            out[currency] = places
    return out


def _padded(spec: Spec, places: Mapping[str, int]) -> Spec:
    if spec.kind == "balance":
        return dataclasses.replace(spec, number=pad(spec.number, places, spec.currency))
    return dataclasses.replace(spec, postings=tuple(
        dataclasses.replace(p, number=pad(p.number, places, p.currency))
        for p in spec.postings))


def known_accounts(view: LedgerView, options: Mapping[str, Any]) -> Mapping[str, AccountInfo]:
    """Accounts proposals may use. Checked against the parsed ledger (the full load runs
    later, in parallel with the gate); with the auto_accounts plugin an account is open
    from its first use."""
    accounts = dict(view.accounts)
    plugins = [name for name, _ in options.get("plugin") or []]
    if "beancount.plugins.auto_accounts" in plugins:
        for txn in view.transactions():
            for p in txn.postings:
                if p.account not in accounts:
                    accounts[p.account] = AccountInfo(p.account, txn.date, None, (), {})
    return accounts


def validate_all(raws: Iterable[Any], accounts: Mapping[str, AccountInfo],
                 statements: Sequence[Statement], places: Mapping[str, int],
                 earlier: Sequence[Proposal] = ()) -> tuple[list[Proposal], list[str]]:
    """Re-check everything the agent proposed: the child's word is untrusted. Returns the
    proposals (numbered P1, P2, ...) and a warning for each one refused. Evidence that
    names no line of the parsed statements is dropped, and a transaction left with none
    says so in its reason. `earlier`: proposals already validated (a repair round's come
    after them: the accounts they open count)."""
    known = {(ln.ref.file, ln.ref.line, ln.ref.id) for st in statements for ln in st.lines}
    items: list[Proposal] = []
    warnings: list[str] = []
    opened = {i.spec.account: i.spec.date for i in earlier
              if i.spec.kind == "open" and i.spec.account}
    for raw in raws:
        try:
            if isinstance(raw, Mapping) and isinstance(raw.get("evidence"), (list, tuple)):
                raw = {**raw, "evidence": [resolve_evidence(e, statements)
                                           for e in raw["evidence"]]}
            spec = validate(raw, accounts, opened)
        except ProposalError as exc:
            warnings.append(f"proposal rejected: {exc}")
            continue
        if spec.kind == "open" and spec.account:
            opened[spec.account] = spec.date
        evidence = tuple(r for r in spec.evidence if (r.file, r.line, r.id) in known)
        reason = spec.reason
        if spec.kind == "transaction" and not evidence:
            reason = ("NO STATEMENT EVIDENCE: no line of the statements supports this entry. "
                      + reason).strip()
        spec = _padded(dataclasses.replace(spec, evidence=evidence, reason=reason), places)
        items.append(Proposal(f"P{len(items) + 1}", spec, format_directive(spec)))
    return items, warnings
