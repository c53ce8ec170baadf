"""With no statement to compare against, what the ledger alone shows is wrong.

    failing `balance` assertions   each with its likely culprits in the assertion's period
    transfers booked twice         between two own accounts, or once as a transfer and
                                   again one-sided on the receiving account
    transfers booked one-sided     on both accounts, each against an expense or income
    likely duplicates              same account, amount and payee a few days apart
    stale `!` flags                older than a balance assertion of their account that holds
    dormant accounts               cash accounts with no entry in the last months, not closed

Every finding names the entry (file, line) and the fix; nothing is changed here: the user
edits the ledger. Pure: plain values in, `Finding`s out.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import PurePath

from beanagent.core.balance import user_assertions
from beanagent.core.match import BANK_ID_KEYS, OWN, transpositions
from beanagent.core.normalize import normalize
from beanagent.ledger.view import LedgerView, Txn
from beanagent.model import Finding, LedgerError
from beanagent.settings import REVIEW_ACCOUNT, WINDOW_DAYS

DORMANT_MONTHS = 3  # a cash account with no entry for this long before the ledger's end
MAX_CULPRITS = 3  # named per failing assertion
KINDS = ("balance", "transfer-twice", "transfer-one-side", "duplicate", "stale-flag",
         "dormant")

_BALANCE_FAILED = re.compile(r"Balance failed for '(?P<account>[^']+)': expected "
                             r"(?P<expected>-?[\d.]+) (?P<cur>\S+) != accumulated "
                             r"(?P<accumulated>-?[\d.]+) \S+")
# What a bank or a person writes on one side of a transfer between own accounts.
_TRANSFER_WORDS = re.compile(
    r"\b(?:transfer|xfer|trnsfr|payment|autopay|auto pay|epay|thank you|credit crd|"
    r"überweisung|umbuchung|übertrag|virement|overboeking)\b", re.IGNORECASE)
# Account name parts that say nothing about which account a text means.
_GENERIC = frozenset({"us", "usa", "eu", "uk", "de", "fr", "cash", "current", "main", "bank",
                      "account", "accounts", "card", "cards", "credit", "debit"})
_PLACEHOLDERS = frozenset({"fixme", "uncategorized", "uncategorised", "unknown", "suspense",
                           "review", "todo", "unassigned", "unclassified"})

Legs = dict[tuple[str, str], Decimal]  # (own account, currency) -> net amount


def find_problems(view: LedgerView, errors: Sequence[LedgerError],
                  review_account: str = REVIEW_ACCOUNT, window_days: int = WINDOW_DAYS,
                  dormant_months: int = DORMANT_MONTHS) -> list[Finding]:
    """Everything below, in `KINDS` order, each kind in file order. `view` is over the
    fully loaded (booked) ledger and `errors` are that load's errors."""
    txns = view.transactions()
    legs = {id(t): _own_legs(t) for t in txns}
    failing, out = _balances(view, errors, txns, legs, window_days)
    explained = {(f.file, f.line) for f in out} | {r for f in out for r in f.related}
    transfers = _transfers(txns, legs, review_account, window_days)
    explained |= {(f.file, f.line) for f in transfers} | {r for f in transfers
                                                          for r in f.related}
    out += transfers
    out += [f for f in _duplicates(txns, legs, window_days)
            if not {(f.file, f.line), *f.related} <= explained]
    out += _stale_flags(view, txns, legs, failing, review_account)
    out += _dormant(view, txns, legs, dormant_months)
    return sorted(out, key=lambda f: (KINDS.index(f.kind), f.file, f.line))


# --- small parts ----------------------------------------------------------------------------


def _own(account: str) -> bool:
    return account.startswith(OWN)


def _own_legs(t: Txn) -> Legs:
    """The net amount the entry moves on each own account (asset or liability)."""
    out: Legs = defaultdict(Decimal)
    for p in t.postings:
        if _own(p.account) and p.amount is not None and p.currency is not None:
            out[(p.account, p.currency)] += p.amount
    return {k: v for k, v in out.items() if v}


def _under(account: str, parent: str) -> bool:
    return account == parent or account.startswith(parent + ":")


def _on(t: Txn, account: str, currency: str) -> Decimal:
    """What the entry posts to `account` and its sub-accounts (what its `balance` counts)."""
    return sum((p.amount for p in t.postings if p.amount is not None
                and p.currency == currency and _under(p.account, account)), Decimal(0))


def _text(t: Txn) -> str:
    return " ".join(x for x in (t.payee, t.narration) if x)


def _key_text(t: Txn) -> str:
    raw = _text(t)
    return normalize(raw) or raw.strip().lower()


def _at(t: Txn) -> tuple[str, int]:
    return (t.file, t.line)


def _where(file: str, line: int, home: str) -> str:
    """Another entry, as the message about one in `home` names it."""
    return f"line {line}" if file == home else f"{PurePath(file).name}:{line}"


def _brief(t: Txn, amount: Decimal, currency: str) -> str:
    return f"{t.date} {_text(t) or '(no payee)'} {amount} {currency}"


def _bank_ids(t: Txn) -> set[str]:
    return {str(t.meta[k]) for k in BANK_ID_KEYS if k in t.meta}


def _placeholder(account: str, review_account: str) -> bool:
    return account == review_account or account.rsplit(":", 1)[-1].lower() in _PLACEHOLDERS


def _names(text: str, account: str) -> bool:
    """The text names the account: one of its specific name parts as a word."""
    words = set(re.findall(r"[^\W_]+", text.lower()))
    parts = {w for part in account.split(":")[1:] for w in re.findall(r"[^\W_]+", part.lower())}
    return bool(words & {p for p in parts if len(p) > 2 and p not in _GENERIC})


def _months_before(day: datetime.date, months: int) -> datetime.date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return day.replace(year=y, month=m + 1, day=min(day.day, calendar.monthrange(y, m + 1)[1]))


def _duplicate_of(t: Txn, others: Iterable[Txn], window_days: int) -> Txn | None:
    """Another entry with the same own legs and payee a few days from `t`, not told apart
    by bank ids."""
    key, legs = _key_text(t), _own_legs(t)
    for o in others:
        if o is not t and abs((o.date - t.date).days) <= window_days \
                and _key_text(o) == key and _own_legs(o) == legs and not _told_apart(t, o):
            return o
    return None


def _told_apart(a: Txn, b: Txn) -> bool:
    """Both carry bank ids and they differ: two rows of the bank's, not one booked twice."""
    ids_a, ids_b = _bank_ids(a), _bank_ids(b)
    return bool(ids_a and ids_b and not ids_a & ids_b)


# --- failing balance assertions -----------------------------------------------------------


def _balances(view: LedgerView, errors: Sequence[LedgerError], txns: Sequence[Txn],
              legs: Mapping[int, Legs],
              window_days: int) -> tuple[set[tuple[str, int]], list[Finding]]:
    """Each failing assertion with the entries of its period that would explain the
    difference; returns the failing ones' locations too (a `!` before one is not stale)."""
    assertions = user_assertions(view)
    failures = []
    for e in errors:
        m = _BALANCE_FAILED.search(e.message)
        found = assertions.get((e.file, e.line)) if m else None
        if m is not None and found is not None:
            failures.append((found.date, e.file, e.line, found.account, found.since,
                             m.group("cur"), Decimal(m.group("expected")),
                             Decimal(m.group("accumulated"))))
    failures.sort()
    usual = _usual_amounts(txns, legs)
    last: dict[tuple[str, str], tuple[datetime.date, Decimal, str, int]] = {}
    out = []
    for date, file, line, account, since, cur, expected, accumulated in failures:
        d = expected - accumulated  # what the ledger lacks (negative: what it has too much)
        head = (f"balance {account} on {date} fails: expected {expected} {cur}, the ledger "
                f"has {accumulated} {cur} ({abs(d)} {cur} too {'little' if d > 0 else 'much'})")
        before = last.get((account, cur))
        last[(account, cur)] = (date, d, file, line)
        if before is not None and before[0] == since and before[1] == d:
            where = _where(before[2], before[3], file)
            out.append(Finding("balance", f"{head}; the same difference as the assertion at "
                               f"{where}, so the cause is before that one", file, line,
                               f"fix what breaks the assertion at {where}: this one then "
                               "holds too",
                               ((before[2], before[3]),)))
            continue
        start = since if since > datetime.date.min else None
        period = [t for t in view.transactions(account, start,
                                                date - datetime.timedelta(days=1))
                  if _on(t, account, cur)]
        culprits = _culprits(period, account, cur, d, usual, window_days)[:MAX_CULPRITS]
        if culprits:
            likely = "; ".join(f"{_where(t.file, t.line, file)} ({why})"
                               for t, why, _, _ in culprits)
            t, _, fix, _ = culprits[0]
            out.append(Finding("balance", f"{head}; likely: {likely}", file, line,
                               f"{_where(t.file, t.line, file)}: {fix}",
                               tuple(_at(e) for c in culprits for e in (c[0], c[3]) if e)))
        else:
            nine = " (a multiple of 9 cents: two digits swapped somewhere?)" \
                if d.as_tuple().exponent == -2 and (d * 100) % 9 == 0 else ""
            when = f"since {since}" if start else "before it"
            out.append(Finding("balance", f"{head}; no entry {when} explains it{nine}",
                               file, line, f"book the missing {d} {cur} on {account} before "
                               f"{date} (a statement line not in the ledger?), or correct the "
                               "assertion"))
    return {(f.file, f.line) for f in out}, out


def _usual_amounts(txns: Sequence[Txn],
                   legs: Mapping[int, Legs]) -> dict[tuple[str, str, str], Counter[Decimal]]:
    """How much each payee's entries usually move on each own account."""
    out: dict[tuple[str, str, str], Counter[Decimal]] = defaultdict(Counter)
    for t in txns:
        for (account, cur), amount in legs[id(t)].items():
            out[(account, cur, _key_text(t))][amount] += 1
    return out


def _culprits(period: Sequence[Txn], account: str, cur: str, d: Decimal,
              usual: Mapping[tuple[str, str, str], Counter[Decimal]],
              window_days: int) -> list[tuple[Txn, str, str, Txn | None]]:
    """(entry, why, fix, its twin), strongest first: a duplicate (named once, with its
    twin) or an entry of exactly the difference, a sign booked the wrong way (twice the
    amount), a typo (two digits swapped, or the payee's usual amount), then one lone entry
    a digit off."""
    ranked: list[tuple[int, Txn, str, str, Txn | None]] = []
    digit_off = []
    twins: set[int] = set()
    for t in period:
        if id(t) in twins:
            continue
        a = _on(t, account, cur)
        right = a + d
        seen = usual.get((account, cur, _key_text(t)), Counter())
        if a == -d:
            twin = _duplicate_of(t, period, window_days)
            if twin is not None:
                twins.add(id(twin))
                ranked.append((0, t, f"{_brief(t, a, cur)} booked twice (again at "
                               f"{_where(twin.file, twin.line, t.file)})",
                               "delete one of the two entries", twin))
            else:
                ranked.append((1, t, f"{_brief(t, a, cur)} is exactly the difference",
                               "delete it if the bank never booked it, or date it on or "
                               "after the assertion", None))
        elif a * 2 == -d:
            ranked.append((1, t, f"{_brief(t, a, cur)} booked with the wrong sign",
                           f"change {a} to {-a} {cur}", None))
        elif right in transpositions(a):
            ranked.append((2, t, f"{_brief(t, a, cur)}: {right} with two digits swapped",
                           f"change {a} to {right} {cur}", None))
        elif seen[right] >= 2 and seen[a] == 1:
            ranked.append((2, t, f"{_brief(t, a, cur)}: this payee's other entries are "
                           f"{right} {cur}", f"change {a} to {right} {cur}", None))
        elif right and _one_digit_apart(a, right):
            digit_off.append(t)
    if not ranked and len(digit_off) == 1:
        t = digit_off[0]
        a = _on(t, account, cur)
        ranked.append((3, t, f"{_brief(t, a, cur)}: the only entry one digit from "
                       f"{a + d} {cur}", f"check it: {a + d} {cur}?", None))
    ranked.sort(key=lambda r: (r[0], r[1].date, r[1].line))
    return [(t, why, fix, twin) for _, t, why, fix, twin in ranked]


def _one_digit_apart(a: Decimal, b: Decimal) -> bool:
    x, y = f"{abs(a):.2f}", f"{abs(b):.2f}"
    return (a > 0) == (b > 0) and len(x) == len(y) \
        and sum(p != q for p, q in zip(x, y, strict=True)) == 1


# --- transfers ------------------------------------------------------------------------------


def _transfers(txns: Sequence[Txn], legs: Mapping[int, Legs], review_account: str,
               window_days: int) -> list[Finding]:
    out: list[Finding] = []
    used: set[int] = set()
    both = [t for t in txns if len({a for a, _ in legs[id(t)]}) >= 2]
    one = [t for t in txns if len(legs[id(t)]) == 1
           and any(not _own(p.account) for p in t.postings)]
    # The same transfer twice: identical own legs a few days apart.
    groups: dict[tuple[tuple[tuple[str, str], Decimal], ...], list[Txn]] = defaultdict(list)
    for t in both:
        groups[tuple(sorted(legs[id(t)].items()))].append(t)
    for items in groups.values():
        for a, b in itertools.pairwise(items):
            if id(a) in used or (b.date - a.date).days > window_days \
                    or (_key_text(a) == _key_text(b) and _told_apart(a, b)):
                continue
            used |= {id(a), id(b)}
            moved = ", ".join(f"{acc} {amt} {cur}" for (acc, cur), amt
                              in sorted(legs[id(b)].items()))
            out.append(Finding(
                "transfer-twice", f"{b.date} {_text(b) or '(no payee)'} moves the same money "
                f"as {_where(a.file, a.line, b.file)} ({a.date} {_text(a) or '(no payee)'}): "
                f"{moved}; booked from both accounts' histories?", b.file, b.line,
                f"delete one of the two (this one or {_where(a.file, a.line, b.file)})",
                (_at(a),)))
    # A transfer, and again one-sided on one of its accounts.
    by_leg: dict[tuple[str, str, Decimal], list[Txn]] = defaultdict(list)
    for t in both:
        for (acc, cur), amt in legs[id(t)].items():
            by_leg[(acc, cur, amt)].append(t)
    for u in one:
        ((acc, cur), amt), = legs[id(u)].items()
        for t in by_leg.get((acc, cur, amt), ()):
            others = [a for a, _ in legs[id(t)] if a != acc]
            if id(t) in used or id(u) in used or abs((t.date - u.date).days) > window_days \
                    or not _looks_like_transfer(u, others, review_account):
                continue
            used |= {id(t), id(u)}
            counter = ", ".join(p.account for p in u.postings if not _own(p.account))
            out.append(Finding(
                "transfer-twice", f"{_brief(u, amt, cur)} on {acc} against {counter}: the "
                f"transfer at {_where(t.file, t.line, u.file)} ({t.date}, with "
                f"{', '.join(others)}) already books it, so {counter} carries it a second "
                "time", u.file, u.line, f"delete this entry (the transfer at "
                f"{_where(t.file, t.line, u.file)} stays)", (_at(t),)))
            break
    # Both sides one-sided: money leaves one own account and arrives on another.
    arriving: dict[tuple[str, Decimal], list[Txn]] = defaultdict(list)
    for t in one:
        ((acc, cur), amt), = legs[id(t)].items()
        if amt > 0:
            arriving[(cur, amt)].append(t)
    for u in one:
        ((acc, cur), amt), = legs[id(u)].items()
        if amt > 0 or id(u) in used:
            continue
        for v in arriving.get((cur, -amt), ()):
            ((dest, _), _), = legs[id(v)].items()
            if dest == acc or id(v) in used or abs((v.date - u.date).days) > window_days \
                    or not (_looks_like_transfer(u, [dest], review_account)
                            or _looks_like_transfer(v, [acc], review_account)):
                continue
            used |= {id(u), id(v)}
            c_u = ", ".join(p.account for p in u.postings if not _own(p.account))
            c_v = ", ".join(p.account for p in v.postings if not _own(p.account))
            out.append(Finding(
                "transfer-one-side", f"{_brief(u, amt, cur)} leaves {acc} against {c_u}, and "
                f"{_where(v.file, v.line, u.file)} ({v.date} {_text(v) or '(no payee)'}) "
                f"brings {-amt} {cur} into {dest} against {c_v}: one transfer booked as "
                f"two one-sided entries ({_carried(c_u, c_v)})", u.file, u.line,
                f"book it once: change this entry's {c_u} leg to {dest} and delete "
                f"{_where(v.file, v.line, u.file)}", (_at(v),)))
            break
    return out


def _carried(a: str, b: str) -> str:
    return f"{a} carries it twice" if a == b else f"{a} and {b} both carry it"


def _looks_like_transfer(t: Txn, others: Sequence[str], review_account: str) -> bool:
    """One-sided entry that may be one side of a transfer to `others`: booked to the review
    account, or its text says transfer or names one of those accounts."""
    text = _text(t)
    return any(_placeholder(p.account, review_account) for p in t.postings) \
        or bool(_TRANSFER_WORDS.search(text)) or any(_names(text, o) for o in others)


# --- duplicates -----------------------------------------------------------------------------


def _duplicates(txns: Sequence[Txn], legs: Mapping[int, Legs],
                window_days: int) -> list[Finding]:
    groups: dict[tuple[str, str, Decimal, str], list[Txn]] = defaultdict(list)
    for t in txns:
        key = _key_text(t)
        if not key:
            continue
        for (acc, cur), amt in legs[id(t)].items():
            groups[(acc, cur, amt, key)].append(t)
    out: list[Finding] = []
    seen: set[tuple[int, int]] = set()
    for (acc, cur, amt, _), items in groups.items():
        for a, b in itertools.pairwise(items):
            days = (b.date - a.date).days
            if days > window_days or (id(a), id(b)) in seen or _told_apart(a, b):
                continue
            seen.add((id(a), id(b)))
            same_id = " and the same bank id" if _bank_ids(a) & _bank_ids(b) else ""
            out.append(Finding(
                "duplicate", f"{_brief(b, amt, cur)} on {acc}: same amount and payee"
                f"{same_id} as {_where(a.file, a.line, b.file)}, {days} day"
                f"{'s' * (days != 1)} earlier", b.file, b.line,
                f"delete one of the two if the bank shows it once (this one or "
                f"{_where(a.file, a.line, b.file)})", (_at(a),)))
    return out


# --- stale flags ----------------------------------------------------------------------------


def _stale_flags(view: LedgerView, txns: Sequence[Txn], legs: Mapping[int, Legs],
                 failing: set[tuple[str, int]], review_account: str) -> list[Finding]:
    """A `!` entry before an assertion of its account that holds: the bank has it."""
    holding = [b for b in view.balance_assertions if (b.file, b.line) not in failing]
    out = []
    for t in txns:
        if t.flag != "!":
            continue
        later = [b for b in holding for acc, cur in legs[id(t)]
                 if _under(acc, b.account) and b.currency == cur and b.date > t.date]
        if not later:
            continue
        b = max(later, key=lambda x: (x.date, x.line))
        review = [p.account for p in t.postings if _placeholder(p.account, review_account)]
        others = [a for a in t.accounts if not _under(a, b.account)]
        if review:
            fix = f"book it to the right account instead of {review[0]}, then change `!` to `*`"
        elif _bank_ids(t) and others:  # imported: the doubt was its account, not the amount
            fix = f"check its account ({', '.join(others)}), then change `!` to `*`"
        else:
            fix = "clear the flag: change `!` to `*`"
        out.append(Finding(
            "stale-flag", f"{t.date} {_text(t) or '(no payee)'} is flagged `!`, but the "
            f"balance of {b.account} on {b.date} ({_where(b.file, b.line, t.file)}) holds "
            "after it: the bank has it", t.file, t.line, fix, ((b.file, b.line),)))
    return out


# --- dormant accounts -----------------------------------------------------------------------


def _dormant(view: LedgerView, txns: Sequence[Txn], legs: Mapping[int, Legs],
             months: int) -> list[Finding]:
    """Open cash accounts with no entry and no assertion in the last `months` before the
    ledger's last entry."""
    if not txns:
        return []
    end = txns[-1].date
    cutoff = _months_before(end, months)
    last: dict[str, Txn] = {}
    held: dict[str, Counter[str]] = defaultdict(Counter)
    balance: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for t in txns:
        for (acc, cur), amt in legs[id(t)].items():
            last[acc] = t
            held[acc][cur] += 1
            balance[acc][cur] += amt
    asserted: dict[str, datetime.date] = {}
    for b in view.balance_assertions:
        asserted[b.account] = max(b.date, asserted.get(b.account, b.date))
    # Cash: the operating currencies and any currency spent (shares and vacation hours
    # sit still for months and have no statements to stop)
    cash = set(view.operating_currencies) | {
        p.currency for t in txns for p in t.postings
        if p.account.startswith("Expenses:") and p.currency}
    out = []
    for acc, t in last.items():
        info = view.accounts.get(acc)
        if info is None or info.close is not None \
                or not set(held[acc]) | set(info.currencies) <= cash:
            continue
        checked = max((d for a, d in asserted.items() if _under(acc, a)),
                      default=datetime.date.min)
        quiet = max(t.date, checked)
        if quiet >= cutoff:
            continue
        left = {c: v for c, v in balance[acc].items() if v}
        if left:
            owed = ", ".join(f"{v} {c}" for c, v in sorted(left.items()))
            fix = (f"book its statements since {quiet} (its balance is {owed}), or move the "
                   "balance out and close it")
        else:
            fix = f"add `{quiet + datetime.timedelta(days=1)} close {acc}` if it is closed"
        out.append(Finding(
            "dormant", f"{acc} has no entry since {quiet} ({months} months or more before "
            f"the ledger's last entry on {end}) and is not closed: statements stopped "
            "arriving?", t.file, t.line, fix))
    return out
