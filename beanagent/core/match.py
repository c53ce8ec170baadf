"""Which statement lines are already booked, which are missing, which entries the bank never saw.

One-to-one and sign-aware: bank ids first (an id the ledger keeps in metadata), then the
exact signed amount within a date window, closest date first, description similarity as the
tie-breaker. Never two statement lines on one ledger entry, never the reverse.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import itertools
from collections import defaultdict
from decimal import Decimal
from typing import Any

from beanagent.core.normalize import normalize, similarity, trigrams
from beanagent.ledger.view import LedgerView, Txn
from beanagent.settings import WINDOW_DAYS
from beanagent.statements.model import Statement, StatementLine

OWN = ("Assets:", "Liabilities:")
# Metadata keys under which a bank's own id is kept (ours is the first).
BANK_ID_KEYS = ("bank_ref", "fitid", "ofx_fitid", "ref", "bank_id", "transaction_id")


@dataclasses.dataclass(frozen=True)
class Match:
    line: StatementLine
    txn: Txn
    note: str | None
    # statement − ledger on this account: an amount typo, or a placeholder leg (below)
    discrepancy: Decimal = Decimal(0)
    placeholder: bool = False  # the line is the entry's review-account leg, not its own


@dataclasses.dataclass(frozen=True)
class LedgerOnly:
    txn: Txn
    amount: Decimal
    reason: str


@dataclasses.dataclass(frozen=True)
class MatchResult:
    matches: tuple[Match, ...]
    missing: tuple[StatementLine, ...]
    ledger_only: tuple[LedgerOnly, ...]


def _bank_ids(txn: Txn) -> set[str]:
    return {str(txn.meta[k]) for k in BANK_ID_KEYS if k in txn.meta}


def check_number(value: Any) -> str | None:
    """A check number as banks and ledgers write it: 1234, "1234", "001234" are one."""
    text = str(value).strip().lstrip("#").lstrip("0")
    return text if text.isdigit() else None


def _checks(txn: Txn, account: str) -> set[str]:
    """Check numbers kept on the entry or on its posting to `account`."""
    values = [txn.meta.get("check")] + [(p.meta or {}).get("check") for p in txn.postings
                                        if p.account == account]
    return {n for v in values if v is not None and (n := check_number(v))}


def _text(txn: Txn) -> str:
    return normalize(" ".join(x for x in (txn.payee, txn.narration) if x))


def _line_grams(line: StatementLine) -> list[frozenset[str]]:
    """What the bank says about the line, to compare with an entry's payee and narration:
    the description, with a separate payee column (the counterparty) before it, and that
    payee alone (the purpose may be only references: "CARD 8134 AUTH 970855")."""
    texts = [" ".join(x for x in (line.payee, line.description) if x)]
    if line.payee:
        texts.append(line.payee)
    return [trigrams(normalize(t)) for t in texts]


def _similarity(grams: list[frozenset[str]], txn: Txn) -> float:
    theirs = trigrams(_text(txn))
    return max(similarity(g, theirs) for g in grams)


def _other_bank_id(line: StatementLine, txn: Txn, account: str) -> bool:
    """The entry was booked from another line of this bank: both carry bank ids (not our
    content hashes, which differ between formats of the same line) and they differ. Two
    identical charges a few days apart across a statement boundary are two charges. A
    transfer's id may come from the other account's bank, so transfers are exempt."""
    if not line.ref.id:
        return False
    ids = {i for i in _bank_ids(txn) if not i.startswith("h:")}
    if not ids or line.ref.id in ids:
        return False
    return not any(p.account != account and p.account.startswith(OWN) for p in txn.postings)


MAX_GROUP = 3  # statement lines that together make one ledger entry
MAX_GROUP_CANDIDATES = 20


def _match_groups(st: Statement, near: list[Txn], used: set[int],
                  matched_line: dict[int, Match], window_days: int) -> None:
    """A ledger entry the bank shows as several lines (a purchase charged in two parts, a
    deposit in two transfers): 2 or 3 leftover lines of the same sign within the window
    that add up to the entry's amount are all matched to it."""
    if len(st.lines) - len(matched_line) < 2:
        return
    dates = [ln.date for ln in st.lines]  # chronological (importers guarantee it)
    window = datetime.timedelta(days=window_days)
    for t in near:
        if id(t) in used:
            continue
        amount = t.amount(st.account, st.currency)
        if amount == 0:
            continue
        lo = bisect.bisect_left(dates, t.date - window)
        hi = bisect.bisect_right(dates, t.date + window)
        pool = [i for i in range(lo, hi)
                if i not in matched_line
                and (st.lines[i].amount > 0) == (amount > 0)][:MAX_GROUP_CANDIDATES]
        group = next((combo for size in range(2, MAX_GROUP + 1)
                      for combo in itertools.combinations(pool, size)
                      if sum((st.lines[i].amount for i in combo), Decimal(0)) == amount), None)
        if group is None:
            continue
        used.add(id(t))
        for i in group:
            matched_line[i] = Match(st.lines[i], t, f"together with {len(group) - 1} other "
                                    f"statement line{'s' if len(group) > 2 else ''} this "
                                    "makes one ledger entry")


def transpositions(number: Decimal) -> set[Decimal]:
    """The amounts that differ from `number` by two adjacent digits swapped."""
    sign = -1 if number < 0 else 1
    digits = f"{abs(number):.2f}".replace(".", "")
    out = set()
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
            out.add(sign * Decimal(swapped) / 100)
    return out


CENT = Decimal("0.01")
TYPO_SIMILARITY = 0.3  # descriptions must agree this much for an amount typo to be matched


def _match_typos(st: Statement, near: list[Txn], used: set[int],
                 matched_line: dict[int, Match], window_days: int) -> None:
    """A line that agrees with a leftover entry on date and description but is a cent off,
    or has two digits swapped, is that entry with a typo in the ledger: proposing the line
    would book it twice. It is matched, with the discrepancy, so the user fixes the typo."""
    by_amount: dict[Decimal, list[Txn]] = defaultdict(list)
    for t in near:
        if id(t) not in used:
            by_amount[t.amount(st.account, st.currency)].append(t)
    if not by_amount:
        return
    candidates: list[tuple[int, float, int, int, Txn, Decimal]] = []
    for i, line in enumerate(st.lines):
        if i in matched_line or line.amount == 0:
            continue
        grams = None
        # Swapping two digits back is the same swap, so the entry's amount is one of these.
        for amount in {line.amount + CENT, line.amount - CENT} | transpositions(line.amount):
            if amount == 0 or (amount > 0) != (line.amount > 0):
                continue
            cent = abs(amount - line.amount) == CENT
            for t in by_amount.get(amount, ()):
                gap = abs((t.date - line.date).days)
                if gap > window_days:
                    continue
                if grams is None:
                    grams = _line_grams(line)
                sim = _similarity(grams, t)
                if sim >= TYPO_SIMILARITY or (cent and gap == 0):
                    candidates.append((gap, -sim, i, t.line, t, amount))
    candidates.sort(key=lambda c: c[:4])
    for _gap, _sim, i, _ln, t, amount in candidates:
        if i in matched_line or id(t) in used:
            continue
        used.add(id(t))
        line = st.lines[i]
        matched_line[i] = Match(line, t, f"amount differs: the statement says {line.amount}, "
                                f"the ledger {amount} (a typo in the ledger?)",
                                line.amount - amount)


def _match_placeholders(view: LedgerView, st: Statement, placeholder: str, used: set[int],
                        matched_line: dict[int, Match], window_days: int) -> None:
    """An entry booked before the bank's side was known carries the placeholder account
    (the review account, Expenses:FIXME) where the bank account belongs: a buy of shares
    paid "from somewhere". A line equal to such a leg, in the window, is that leg; proposing
    it would book the money twice. It is matched with a note saying which leg to change."""
    left = [i for i in range(len(st.lines)) if i not in matched_line]
    if not left:
        return
    window = datetime.timedelta(days=window_days)
    start, end = st.start, st.end
    assert start is not None and end is not None
    legs: dict[Decimal, list[Txn]] = defaultdict(list)
    for t in view.transactions(placeholder, start - window, end + window):
        if id(t) in used or any(p.account == st.account for p in t.postings):
            continue
        for p in t.postings:
            if p.account == placeholder and p.currency == st.currency and p.amount:
                legs[p.amount].append(t)
    for i in left:
        line = st.lines[i]
        leg = next((t for t in legs.get(line.amount, ()) if id(t) not in used
                    and abs((t.date - line.date).days) <= window_days), None)
        if leg is not None:
            used.add(id(leg))
            matched_line[i] = Match(line, leg, f"this is the entry's {placeholder} leg: change "
                                    f"that leg's account to {st.account}", line.amount, True)


def match_statement(view: LedgerView, st: Statement, window_days: int = WINDOW_DAYS,
                    placeholder: str | None = None) -> MatchResult:
    """`placeholder`: the review account, whose legs may stand for this account's."""
    if not st.lines:
        return MatchResult((), (), ())
    window = datetime.timedelta(days=window_days)
    start, end = st.start, st.end
    assert start is not None and end is not None
    # Bank ids can match across any distance; amounts only within the window.
    txns = [t for t in view.transactions(st.account)
            if any(p.account == st.account for p in t.postings)]
    by_id: dict[str, Txn] = {}
    for t in txns:
        for bid in _bank_ids(t):
            by_id.setdefault(bid, t)

    matched_line: dict[int, Match] = {}
    used: set[int] = set()
    for i, line in enumerate(st.lines):
        hit = by_id.get(line.ref.id) if line.ref.id else None
        if hit is not None and id(hit) not in used:
            used.add(id(hit))
            matched_line[i] = Match(line, hit, "bank id")

    # A check is entered when it is written and cashed weeks later: its number (and amount)
    # identify it at any distance, like a bank id.
    by_check: dict[str, list[Txn]] = defaultdict(list)
    for t in txns:
        for number in _checks(t, st.account):
            by_check[number].append(t)
    for i, line in enumerate(st.lines):
        check = check_number(line.check) if line.check and i not in matched_line else None
        for t in by_check.get(check or "", ()):
            if id(t) not in used and t.amount(st.account, st.currency) == line.amount:
                used.add(id(t))
                matched_line[i] = Match(line, t, f"check {check}")
                break

    near = [t for t in txns if start - window <= t.date <= end + window and id(t) not in used]
    by_amount: dict[Decimal, list[Txn]] = defaultdict(list)
    for t in near:
        by_amount[t.amount(st.account, st.currency)].append(t)
    candidates: list[tuple[float, int, int, int, Txn]] = []
    for i, line in enumerate(st.lines):
        if i in matched_line:
            continue
        line_grams = None
        for t in by_amount.get(line.amount, ()):
            gap = abs((t.date - line.date).days)
            if gap > window_days or _other_bank_id(line, t, st.account):
                continue
            if line_grams is None:
                line_grams = _line_grams(line)
            sim = _similarity(line_grams, t)
            candidates.append((gap - window_days * sim, gap, i, t.line, t))
    # Among lines of the same amount, date gap and description decide together (a perfect
    # description match is worth the whole window): two $22.37 purchases at different
    # shops must not swap places because the bank posted the booked one three days late.
    # Greedy on the cost; ties fall back to file order so results are deterministic.
    candidates.sort(key=lambda c: c[:4])
    for _cost, gap, i, _ln, t in candidates:
        if i in matched_line or id(t) in used:
            continue
        used.add(id(t))
        note = None if gap == 0 else f"date differs by {gap} day{'s' if gap > 1 else ''}"
        matched_line[i] = Match(st.lines[i], t, note)

    _match_groups(st, near, used, matched_line, window_days)
    _match_typos(st, near, used, matched_line, window_days)
    if placeholder and placeholder != st.account:
        _match_placeholders(view, st, placeholder, used, matched_line, window_days)
    matches = tuple(matched_line[i] for i in sorted(matched_line))
    missing = tuple(ln for i, ln in enumerate(st.lines) if i not in matched_line)
    ledger_only = []
    matched_txns = [m.txn for m in matches]
    for t in txns:
        if id(t) in used or not (start <= t.date <= end):
            continue
        amount = t.amount(st.account, st.currency)
        reason = "in the ledger but not on the statement"
        twin = next((m for m in matched_txns
                     if m.amount(st.account, st.currency) == amount
                     and abs((m.date - t.date).days) <= window_days), None)
        if twin is not None:
            days = abs((twin.date - t.date).days)
            where = "of the same file" if twin.file == t.file else f"of {twin.file}"
            reason += (f"; likely duplicate: same amount, {days} day{'s' if days != 1 else ''}"
                       f" apart from line {twin.line} {where}")
        ledger_only.append(LedgerOnly(t, amount, reason))
    return MatchResult(matches, missing, tuple(ledger_only))
