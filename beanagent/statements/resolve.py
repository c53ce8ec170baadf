"""Tie a parsed statement to a ledger account and currency.

The account comes from `--account`, else from the importer (beangulp), else from the bank's
account number matched to `open` metadata (`account: "00234-48574897"`), else from the
per-statement rule in beanagent.toml. The currency must agree with the account's.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

from beanagent.errors import BadInputError
from beanagent.ledger.view import LedgerView
from beanagent.statements.model import RawStatement, Statement, StatementLine
from beanagent.text import did_you_mean

_ID_META_KEYS = ("account", "account_id", "acctid", "number", "iban")


def _digits(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text).upper()


def account_by_id(view: LedgerView, account_id: str) -> str | None:
    """The open account whose metadata carries this bank account number (exact after
    dropping spaces and dashes, or a masked id like 'XXXX1234' matching its tail)."""
    wanted = _digits(account_id)
    if not wanted:
        return None
    exact, tail = [], []
    for info in view.accounts.values():
        for key in _ID_META_KEYS:
            value = info.meta.get(key)
            if not isinstance(value, str):
                continue
            have = _digits(value)
            if have == wanted:
                exact.append(info.name)
            elif len(wanted) >= 4 and wanted.lstrip("X").isdigit() and \
                    have.endswith(wanted.lstrip("X")):
                tail.append(info.name)
    found = exact or tail
    return found[0] if len(set(found)) == 1 else None


def _inverted(view: LedgerView, account: str, raw: RawStatement) -> bool:
    """True when the lines match the ledger clearly better with their signs flipped
    (card exports that show charges as positive)."""
    window = datetime.timedelta(days=5)
    lines = raw.lines
    if not lines:
        return False
    start = min(ln.date for ln in lines) - window
    end = max(ln.date for ln in lines) + window
    amounts: dict[Decimal, int] = {}
    for t in view.transactions(account, start, end):
        amt = t.amount(account)
        amounts[amt] = amounts.get(amt, 0) + 1
    same = sum(1 for ln in lines if amounts.get(ln.amount))
    flipped = sum(1 for ln in lines if amounts.get(-ln.amount))
    return flipped >= 2 and flipped > 2 * same


def negated(raw: RawStatement) -> RawStatement:
    return dataclasses.replace(
        raw,
        lines=tuple(dataclasses.replace(ln, amount=-ln.amount,
                                        balance=None if ln.balance is None else -ln.balance)
                    for ln in raw.lines),
        closing_balance=None if raw.closing_balance is None else -raw.closing_balance,
    )


def resolve_statement(raw: RawStatement, view: LedgerView, *, account: str | None,
                      rule_account: str | None, sign_fixed: bool,
                      closing_balance: tuple[Decimal, str] | None = None,
                      ) -> tuple[Statement, list[str]]:
    """Returns the statement and warnings for the user."""
    notes: list[str] = list(raw.notes)
    chosen = account or raw.account
    if chosen is None and raw.account_id:
        chosen = account_by_id(view, raw.account_id)
    chosen = chosen or rule_account
    if chosen is None:
        hint = (f"no open account has metadata account: \"{raw.account_id}\"; "
                if raw.account_id else "")
        raise BadInputError(f"{hint}which account is this statement for? Pass --account "
                            "ACCOUNT or add a [[statement]] rule to beanagent.toml",
                            file=raw.file)
    info = view.accounts.get(chosen)
    if info is None:
        hint = did_you_mean(chosen, view.accounts)
        raise BadInputError(f"account {chosen} is not open in the ledger{hint}", file=raw.file)
    raw, zero = _without_zero_amounts(raw)
    if not raw.lines:
        detail = f" ({zero} row(s) with a zero amount skipped)" if zero else ""
        raise BadInputError(f"no statement lines{detail}", file=raw.file)
    account_currency = view.currency_of(chosen)
    currency = raw.currency or account_currency or \
        (view.operating_currencies[0] if view.operating_currencies else None)
    if currency is None:
        raise BadInputError(f"cannot tell the statement's currency; {chosen} holds several",
                            file=raw.file)
    held = info.currencies or ((account_currency,) if account_currency else ())
    if held and currency not in held:
        if raw.currency is not None:  # the file says so (a currency column, OFX CURDEF)
            n = len(raw.lines)
            raise BadInputError(
                f"statement currency {currency} ({n} line{'s' if n != 1 else ''}) does not "
                f"match {chosen}, which holds {', '.join(held)}: pass --account with an "
                f"account that holds {currency} "
                f"(export {currency} separately if the file mixes currencies), or add "
                f"{currency} to {chosen}'s open directive if it holds both",
                file=raw.file)
        raise BadInputError(f"statement currency {currency} does not match {chosen} "
                            f"({', '.join(held)})", file=raw.file)
    raw, rounded, places = _rounded(raw, view, chosen, currency)
    if rounded:
        notes.append(f"{raw.file}: rounded {rounded} amount(s) with more decimals than the "
                     f"ledger writes {currency} with ({places}) before matching")
        raw, tiny = _without_zero_amounts(raw)  # 0.004 rounds to nothing to book
        zero += tiny
        if not raw.lines:
            raise BadInputError(f"no statement lines ({zero} row(s) with a zero amount, "
                                "after rounding, skipped)", file=raw.file)
    if zero:
        notes.append(f"{raw.file}: skipped {zero} line(s) with a zero amount (nothing to "
                     "book)")
    if not sign_fixed and raw.format == "csv" and _inverted(view, chosen, raw):
        raw = negated(raw)
        notes.append(f"{raw.file}: amounts look inverted against the ledger (charges shown "
                     "as positive); flipping their signs. Set negate = false in beanagent.toml "
                     "to keep them as they are.")
    closing, closing_date = raw.closing_balance, raw.closing_date
    if closing_balance is not None:
        number, cur = closing_balance
        if cur != currency:
            raise BadInputError(f"--closing-balance is in {cur}, the statement in {currency}",
                                file=raw.file)
        closing, closing_date = number, max(ln.date for ln in raw.lines)
    first = min(ln.date for ln in raw.lines)
    if first < info.open:
        raise BadInputError(f"statement starts on {first}, before {chosen} was opened "
                            f"({info.open})", file=raw.file)
    return Statement(raw.file, raw.format, chosen, currency, _with_checks(raw.lines), closing,
                     closing_date), notes


def _without_zero_amounts(raw: RawStatement) -> tuple[RawStatement, int]:
    """Rows that move no money (holds, declined cards, notes with 0.00) have nothing to
    book or match."""
    kept = tuple(ln for ln in raw.lines if ln.amount != 0)
    zero = len(raw.lines) - len(kept)
    return (dataclasses.replace(raw, lines=kept) if zero else raw), zero


def _decimals(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def ledger_places(view: LedgerView, account: str, currency: str) -> int | None:
    """The decimals the ledger most often writes `currency` with: on `account`'s postings,
    else on any posting (only looked at when a line has more decimals than usual)."""
    for scope in (account, None):
        counts = Counter(_decimals(p.amount) for t in view.transactions(scope)
                         for p in t.postings if p.currency == currency and p.amount is not None)
        if counts:
            return counts.most_common(1)[0][0]
    return None


def _rounded(raw: RawStatement, view: LedgerView, account: str, currency: str
             ) -> tuple[RawStatement, int, int | None]:
    """Amounts with sub-cent digits (115.8331) rounded to the ledger's precision for the
    currency, so they can match what was booked; with how many were, and the precision."""
    widest = max((_decimals(ln.amount) for ln in raw.lines), default=0)
    if widest <= 2:
        return raw, 0, None  # every currency a bank writes has at least 2 decimals
    places = ledger_places(view, account, currency)
    if places is None or widest <= places:
        return raw, 0, places
    quantum = Decimal(1).scaleb(-places)

    def fit(number: Decimal | None) -> Decimal | None:
        if number is None or _decimals(number) <= places:
            return number
        return number.quantize(quantum, rounding=ROUND_HALF_UP)

    count = sum(1 for ln in raw.lines if _decimals(ln.amount) > places)
    lines = tuple(dataclasses.replace(ln, amount=fit(ln.amount) or Decimal(0),
                                      balance=fit(ln.balance)) for ln in raw.lines)
    return dataclasses.replace(raw, lines=lines,
                               closing_balance=fit(raw.closing_balance)), count, places


# How banks describe a paper check in a CSV export: "CHECK 1234", "Check #1234", "CHK 1234".
_CHECK = re.compile(r"^\s*(?:check|chk|cheque)\s*(?:no\.?|#)?\s*(\d{1,10})\b", re.IGNORECASE)


def _with_checks(lines: tuple[StatementLine, ...]) -> tuple[StatementLine, ...]:
    """Lines whose format has no check-number field get it from their description."""
    out = []
    for ln in lines:
        m = None if ln.check else _CHECK.match(ln.description)
        out.append(dataclasses.replace(ln, check=m.group(1)) if m else ln)
    return tuple(out)
