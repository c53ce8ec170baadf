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

from beanagent.ledger import LedgerView, Txn
from beanagent.reconcile.normalize import normalize, similarity, trigrams
from beanagent.statements.model import Statement, StatementLine

DEFAULT_WINDOW_DAYS = 5
# Metadata keys under which a bank's own id is kept (ours is the first).
BANK_ID_KEYS = ("bank_ref", "fitid", "ofx_fitid", "ref", "bank_id", "transaction_id")


@dataclasses.dataclass(frozen=True)
class Match:
    line: StatementLine
    txn: Txn
    note: str | None


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


def _text(txn: Txn) -> str:
    return normalize(" ".join(x for x in (txn.payee, txn.narration) if x))


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


def match_statement(view: LedgerView, st: Statement,
                    window_days: int = DEFAULT_WINDOW_DAYS) -> MatchResult:
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
        t = by_id.get(line.ref.id) if line.ref.id else None
        if t is not None and id(t) not in used:
            used.add(id(t))
            matched_line[i] = Match(line, t, "bank id")

    near = [t for t in txns if start - window <= t.date <= end + window and id(t) not in used]
    by_amount: dict[Decimal, list[Txn]] = defaultdict(list)
    for t in near:
        by_amount[t.amount(st.account, st.currency)].append(t)
    candidates: list[tuple[int, float, int, int, Txn]] = []
    for i, line in enumerate(st.lines):
        if i in matched_line:
            continue
        line_grams = None
        for t in by_amount.get(line.amount, ()):
            gap = abs((t.date - line.date).days)
            if gap > window_days:
                continue
            if line_grams is None:
                line_grams = trigrams(normalize(line.description))
            sim = similarity(line_grams, trigrams(_text(t)))
            candidates.append((gap, -sim, i, t.line, t))
    # Greedy on (date gap, similarity) is exact for this cost when amounts are equal;
    # ties fall back to file order so results are deterministic.
    candidates.sort(key=lambda c: c[:4])
    for gap, _neg_sim, i, _ln, t in candidates:
        if i in matched_line or id(t) in used:
            continue
        used.add(id(t))
        note = None if gap == 0 else f"date differs by {gap} day{'s' if gap > 1 else ''}"
        matched_line[i] = Match(st.lines[i], t, note)

    _match_groups(st, near, used, matched_line, window_days)
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
