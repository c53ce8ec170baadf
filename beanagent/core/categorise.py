"""Predict the counter-account of a statement line from the ledger's own history.

Past transactions on the same account are indexed by their normalised payee/narration; a
line (its payee and description together, and its payee alone when the statement has one)
is compared with each distinct description (trigram similarity), and the accounts seen for
the best one vote, recent ones weighing more. Accounts that are not open on the line's date
(closed since, or not yet opened) get no vote: a posting to them would fail bean-check.
An account that holds other commodities than the line's (its `open` allows only others, or
it has only ever held others: shares, vacation hours) never takes a cash line; denylisted
accounts are never suggested. A payee whose recent entries repeat the same many legs (a
paycheck) gets the whole template (core/templates.py), not a net two-leg entry.
Every suggestion carries a confidence; below the threshold the caller flags the proposal
for review.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from beanagent.core.normalize import normalize, trigrams
from beanagent.core.templates import Leg, find_template
from beanagent.ledger.view import LedgerView, Txn
from beanagent.settings import CONFIDENT
from beanagent.statements.model import StatementLine

OWN = ("Assets", "Liabilities")
# Words banks use for money moved between the holder's own accounts.
TRANSFER_WORDS = frozenset({"payment", "pymt", "pmt", "thank", "autopay", "epay", "transfer",
                            "xfer", "trnsfr", "online", "crd"})
MIN_SIMILARITY = 0.45  # below this the history is not used at all
# A net two-leg entry for a payee whose entries have more legs is a guess at most this good.
NET_OF_MANY = 0.5
# A guess from the purpose alone, when the bank's payee column names a party the ledger
# has never seen, is at most this good (below settings.CONFIDENT: flagged).
NEW_PAYEE = 0.4


@dataclasses.dataclass(frozen=True)
class Suggestion:
    account: str
    payee: str | None
    confidence: float
    reason: str
    example: Txn | None = None
    threshold: Decimal = CONFIDENT  # the confidence below which a proposal is flagged
    postings: tuple[Leg, ...] | None = None  # a recurring multi-leg template, all its legs

    @property
    def confident(self) -> bool:
        return self.confidence >= self.threshold


@dataclasses.dataclass
class _Key:
    text: str
    grams: frozenset[str]
    txns: list[Txn]
    votes: tuple[dict[str, float], dict[str, Txn]] | None = None


_UNSEEN = object()


def _counter_account(txn: Txn, account: str) -> str | None:
    """The main other leg: the account that received another commodity in exchange for
    the money (shares bought or sold at cost: units that don't balance on their own), else
    the largest posting not on the statement's account. Vacation hours booked with a
    paycheck balance on their own: they are not what the money bought."""
    others = [p for p in txn.postings if p.account != account and p.amount is not None]
    if not others:
        return None
    totals: dict[str | None, Decimal] = {}
    for p in txn.postings:
        totals[p.currency] = totals.get(p.currency, Decimal(0)) + (p.amount or Decimal(0))
    own = {p.currency for p in txn.postings if p.account == account}
    exchanged = [p for p in others if p.currency not in own and totals[p.currency] != 0]
    return max(exchanged or others, key=lambda p: abs(p.amount or Decimal(0))).account


class Categoriser:
    def __init__(self, view: LedgerView, account: str, review_account: str,
                 threshold: Decimal = CONFIDENT, currency: str | None = None,
                 denylist: Iterable[str] = ()):
        self.account = account
        self.review_account = review_account
        self.threshold = threshold
        self.currency = currency  # the statement's: other commodities' accounts are not cash
        self.denylist = frozenset(denylist)
        self._spans = {name: (info.open, info.close) for name, info in view.accounts.items()}
        self._allowed = {name: info.currencies for name, info in view.accounts.items()}
        keys: dict[str, _Key] = {}
        self._history = view.transactions(account)
        self._held: dict[str, set[str]] = {}  # account -> commodities it has been posted
        for t in self._history:
            for p in t.postings:
                if p.currency:
                    self._held.setdefault(p.account, set()).add(p.currency)
        self._counters: dict[int, str | None] = {}  # each history row's, by id: made once
        for t in self._history:
            if self._counter(t) is None:
                continue
            for raw in {t.payee or "", t.narration}:
                text = normalize(raw)
                if not text:
                    continue
                key = keys.get(text)
                if key is None:
                    key = keys[text] = _Key(text, trigrams(text), [])
                key.txns.append(t)
        self._keys = list(keys.values())
        # Trigram -> keys holding it: a line is scored only against descriptions that share
        # a trigram with it, with the same Dice score as comparing it with every one.
        self._index: dict[str, list[int]] = {}
        for number, key in enumerate(self._keys):
            for gram in key.grams:
                self._index.setdefault(gram, []).append(number)

    def _counter(self, txn: Txn) -> str | None:
        """_counter_account of a row of this account's history (the rows live as long
        as the categoriser: their ids are theirs)."""
        found = self._counters.get(id(txn), _UNSEEN)
        if found is _UNSEEN:
            found = self._counters[id(txn)] = _counter_account(txn, self.account)
        return found  # type: ignore[return-value]

    def _usable(self, account: str, day: datetime.date) -> bool:
        """Open on `day` as beancount sees it: a posting on the close date itself is valid
        (closes sort after the day's transactions). Unknown accounts are left to the gate."""
        span = self._spans.get(account)
        if span is None:
            return True
        opened, closed = span
        return opened <= day and (closed is None or day <= closed)

    def _cash(self, account: str) -> bool:
        """Can `account` take the line's currency? Not when its `open` allows only other
        commodities, nor when it is an asset or liability that has held others and never
        this one (shares bought at cost, vacation hours): a BUY's cash line is not cash into
        the stock's account. (An expense booked abroad in EUR holds nothing.)"""
        if self.currency is None:
            return True
        allowed = self._allowed.get(account) or ()
        if allowed and self.currency not in allowed:
            return False
        held = self._held.get(account, set())
        return (not held or self.currency in held
                or account.split(":")[0] not in OWN)

    def _transfer(self, line: StatementLine) -> Suggestion | None:
        """A line worded like a transfer or card payment goes to the own account that past
        movements of the same sign came from or went to (a card's payments: checking)."""
        words = set(re.findall(r"[a-z]+", line.description.lower()))
        if not words & TRANSFER_WORDS:
            return None
        votes: Counter[str] = Counter()
        for t in self._history:
            if (t.amount(self.account) > 0) != (line.amount > 0):
                continue
            acct = self._counter(t)
            if (acct is not None and acct.split(":")[0] in OWN and acct not in self.denylist
                    and self._usable(acct, line.date) and self._cash(acct)):
                votes[acct] += 1
        if not votes:
            return None
        acct, count = votes.most_common(1)[0]
        share = count / sum(votes.values())
        return Suggestion(acct, None, round(0.7 * share, 2),
                          f"worded like a transfer; {count} past movement(s) of this sign "
                          f"between this account and {acct}", threshold=self.threshold)

    def _votes(self, key: _Key) -> tuple[dict[str, float], dict[str, Txn]]:
        """Counter-accounts seen for one description, recent ones weighing more; computed
        once per description, not once per statement line."""
        if key.votes is None:
            votes: dict[str, float] = {}
            last: dict[str, Txn] = {}
            newest = max(t.date for t in key.txns)
            for t in key.txns:
                acct = self._counter(t)
                if acct is None:
                    continue
                age_years = (newest - t.date).days / 365
                votes[acct] = votes.get(acct, 0.0) + 1 / (1 + age_years)
                if acct not in last or t.date > last[acct].date:
                    last[acct] = t
            key.votes = (votes, last)
        return key.votes

    def _best(self, text: str) -> tuple[_Key | None, float]:
        """The past description most similar to `text`, and its similarity."""
        grams = trigrams(text)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        best: _Key | None = None
        best_sim = 0.0
        for number in sorted(shared):  # key order, so ties resolve as a full scan would
            key = self._keys[number]
            sim = 2 * shared[number] / (len(grams) + len(key.grams))
            if sim > best_sim:
                best, best_sim = key, sim
        return best, best_sim

    def suggest(self, line: StatementLine) -> Suggestion:
        text = normalize(" ".join(x for x in (line.payee, line.description) if x))
        best, best_sim = self._best(text)
        # A separate payee field that names a known payee is the stronger evidence: joined
        # with a new narration ("Uncle Boons" + "Dinner with Martin") it scores lower
        # against that payee's history than the payee alone does.
        payee = normalize(line.payee or "")
        payee_sim = best_sim
        if payee and payee != text:
            by_payee, payee_sim = self._best(payee)
            if payee_sim > best_sim:
                best, best_sim = by_payee, payee_sim
        votes: dict[str, float] = {}
        last: dict[str, Txn] = {}
        closed: list[str] = []
        denied: list[str] = []
        if best is not None and best_sim >= MIN_SIMILARITY:
            all_votes, last = self._votes(best)
            votes = {a: w for a, w in all_votes.items() if self._usable(a, line.date)}
            closed = [a for a in all_votes if a not in votes]
            denied = [a for a in votes if a in self.denylist]
            votes = {a: w for a, w in votes.items() if a not in self.denylist}
            if votes:
                top = max(votes.items(), key=lambda kv: kv[1])[0]
                if not self._cash(top):
                    return self._not_cash(line, last[top], top)
                votes = {a: w for a, w in votes.items() if self._cash(a)}
        if best is None or not votes:
            transfer = self._transfer(line)
            if transfer is not None:
                return transfer
            why = (f"the accounts used for {best.text!r} are not open on {line.date} "
                   f"({', '.join(closed)})" if closed and best is not None
                   else f"the accounts used for {best.text!r} are on the denylist "
                   f"({', '.join(denied)})" if denied and best is not None
                   else f"no similar payee in the ledger's history for {text or '?'!r}")
            return Suggestion(self.review_account, None, 0.0,
                              f"{why}; booked to the review account {self.review_account}",
                              threshold=self.threshold)
        # the first of the heaviest, as Counter.most_common(1) picks it
        acct, weight = max(votes.items(), key=lambda kv: kv[1])
        share = weight / sum(votes.values())
        confidence = round(min(1.0, best_sim) * share, 2)
        example = last[acct]
        reason = (f"like {example.payee or example.narration!r} on {example.date} "
                  f"({_fmt_date_count(len(best.txns))}, similarity {best_sim:.2f}"
                  + (f", {share:.0%} to {acct}" if share < 1 else "")
                  + (f"; not open on {line.date}: {', '.join(closed)}" if closed else "")
                  + ")")
        if payee and payee_sim < MIN_SIMILARITY:
            # The bank names the other party and the history has never seen it: what is
            # alike is only the purpose ("Kartenzahlung … Referenz …" on every card payment
            # of a German bank), which says how, not to whom. A guess, so not confident.
            confidence = min(confidence, NEW_PAYEE)
            reason += (f"; the bank's payee {line.payee!r} is new to the ledger, only the "
                       "purpose is alike")
        found = Suggestion(acct, example.payee, confidence, reason, example, self.threshold)
        return self._multi_leg(line, found, [t for t in best.txns
                                             if self._counter(t) == acct])

    def _not_cash(self, line: StatementLine, example: Txn, account: str) -> Suggestion:
        held = ", ".join(sorted(self._allowed.get(account) or self._held.get(account) or ()))
        return Suggestion(
            self.review_account, None, 0.0,
            f"like {example.payee or example.narration!r} on {example.date}, which went to "
            f"{account} (holds {held}, not {self.currency}): a cash line can't say how many "
            f"units at what cost; booked to the review account {self.review_account}",
            example, self.threshold)

    def _multi_leg(self, line: StatementLine, found: Suggestion, txns: list[Txn]
                   ) -> Suggestion:
        """The payee's recurring template when its entries have many legs; when they do
        but no template fits, the net two-leg entry is not shown as confident."""
        example = found.example
        if example is None or len(example.postings) <= 2 or self.currency is None:
            return found
        template = find_template(txns, self.account, self.currency, line.amount,
                                 self.review_account, line.date)
        if template is not None and (
                not {a for a, _, _ in template.legs} & self.denylist
                and all(self._usable(a, line.date) for a, _, _ in template.legs)):
            return dataclasses.replace(
                found, confidence=round(min(found.confidence, template.confidence), 2),
                reason=f"{found.reason}; {template.note}", example=template.example,
                postings=template.legs)
        return dataclasses.replace(
            found, confidence=min(found.confidence, NET_OF_MANY),
            reason=f"{found.reason}; its entries have {len(example.postings)} legs, and no "
                   "recurring template fits: booked net, split it before accepting")


def _fmt_date_count(n: int) -> str:
    return f"{n} past transaction{'s' if n != 1 else ''}"
