"""The script API: the globals every reconciliation script runs with.

- `ledger`: a read-only `LedgerView` (`query`, `balance`, `transactions`, `accounts`, ...)
- `statements`: the parsed statements (`account`, `currency`, `closing_balance`, `lines`)
- `propose`: `propose.transaction(...)`, `propose.balance(...)`, `propose.open(...)`
- `engine`: the reconciliation engine (`engine.match(st)`, `engine.suggest(st, line)`, ...)
- `Decimal`, `date`, `timedelta` for convenience.

Everything here runs inside the sandboxed child; what leaves it is `Propose.to_json()`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeGuard

from beanagent.core import proposals
from beanagent.core.categorise import Categoriser, Suggestion
from beanagent.core.match import MatchResult, match_statement
from beanagent.ledger.view import LedgerView, Txn
from beanagent.settings import CONFIDENT, REVIEW_ACCOUNT, WINDOW_DAYS
from beanagent.statements.model import Ref, Statement, StatementLine
from beanagent.text import line_breaker, one_line

MAX_PROPOSALS = 11_000  # every line of the largest statement run, plus opens and balances


def _ref_json(item: Any, statements: Sequence[Statement] = ()) -> dict[str, Any]:
    if isinstance(item, StatementLine):
        item = item.ref
    if isinstance(item, Ref):
        return item.to_json()
    if isinstance(item, Mapping):
        # {"statement": 0, "line": 8}, as the data block names a line: that line's ref
        return dict(proposals.resolve_evidence(item, statements))
    raise proposals.ProposalError(
        "evidence items must be statement lines (statements[0].lines[8]), their .ref, or "
        f'{{"statement": 0, "line": 8}}, not {type(item).__name__}')


def _posting_json(p: Any) -> dict[str, Any]:
    if isinstance(p, Mapping):
        number = p.get("number", p.get("amount"))
        return {"account": p.get("account"), "number": _num(number),
                "currency": p.get("currency")}
    if not isinstance(p, (tuple, list)) or not 1 <= len(p) <= 3:
        raise proposals.ProposalError(
            "a posting is (account,), (account, '12.00 USD'), (account, Decimal, 'USD') "
            f"or a dict; got {p!r}")
    account = p[0]
    if len(p) == 1 or (len(p) == 2 and p[1] is None):
        return {"account": account, "number": None, "currency": None}
    if len(p) == 2:
        if not isinstance(p[1], str) or len(p[1].split()) != 2:
            raise proposals.ProposalError(
                f"posting amount for {account} must be 'NUMBER CURRENCY' like '-12.50 USD', or "
                f"pass (account, Decimal('-12.50'), 'USD'); got {p[1]!r}")
        number, currency = p[1].split()
        return {"account": account, "number": number, "currency": currency}
    return {"account": account, "number": _num(p[1]), "currency": p[2]}


def _num(value: Any) -> Any:
    if isinstance(value, float):
        raise proposals.ProposalError(
            f"amount {value!r} is a float: use Decimal('...') or a string, floats lose cents")
    return None if value is None else str(value)


def fit_text(text: str) -> str:
    """`text` as a proposal may carry it: on one line with its controls made visible
    (`text.one_line`) and cut to the rules' length with "…". The rules stay strict for
    what a script writes itself; this is for text the bank or the ledger wrote."""
    text = one_line(text)
    limit = proposals.MAX_TEXT
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _meta_value(text: str | None) -> TypeGuard[str]:
    """Whether a bank's id can be a metadata value as it is (ids must stay exact to be
    matched again; one too long or holding a control is no bank's id, and is left out)."""
    return (text is not None and 0 < len(text) <= proposals.MAX_TEXT
            and line_breaker(text) is None)


def _date(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value.isoformat() if isinstance(value, datetime.date) else value


@dataclasses.dataclass(frozen=True)
class StagedProposal:
    """A proposal an earlier step of this run made, as the host holds it now: its id (P1,
    P2, ... in the order the host numbers them), kind ("transaction", "balance", "open"),
    date, main account, the statement lines it cites, and `text`, the entry as it would
    be written."""

    id: str
    kind: str
    date: datetime.date
    account: str
    evidence: tuple[Ref, ...]
    text: str


def _staged(raws: Sequence[Any], view: LedgerView,
            statements: Sequence[Statement]) -> tuple[StagedProposal, ...]:
    """Earlier steps' proposals, validated again here as the host validates them (one the
    host's rules refuse is left out, and the ids follow on as the host numbers them)."""
    known = {ln.ref for st in statements for ln in st.lines}
    opened: dict[str, datetime.date] = {}
    out: list[StagedProposal] = []
    for raw in raws:
        try:
            spec = proposals.validate(raw, view.accounts, opened)
        except Exception:  # an earlier child's odd value must not end this step
            continue
        if spec.kind == "open" and spec.account:
            opened[spec.account] = spec.date
        evidence = tuple(r for r in spec.evidence if r in known)
        out.append(StagedProposal(f"P{len(out) + 1}", spec.kind, spec.date, spec.main_account,
                                  evidence, proposals.format_directive(
                                      dataclasses.replace(spec, evidence=evidence))))
    return tuple(out)


class Propose:
    """Collects proposals. Each call is checked at once against the same rules the host
    applies, so a mistake raises `ProposalError` pointing at the line that made it.

    `len(propose)` counts this step's proposals; `propose.staged` holds the earlier
    steps' (each step runs in a fresh process: this is how a script sees them)."""

    def __init__(self, view: LedgerView, review_account: str = REVIEW_ACCOUNT,
                 statements: Sequence[Statement] = (),
                 staged: tuple[StagedProposal, ...] = ()):
        self._view = view
        self._items: list[dict[str, Any]] = []
        self._review_account = review_account
        self._staged = staged
        # accounts opened by earlier steps count: a proposal may book to them
        self._opened: dict[str, datetime.date] = {
            p.account: p.date for p in staged if p.kind == "open"}
        self._staged_opens = frozenset(self._opened)
        self._auto: dict[str, dict[str, Any]] = {}  # review account -> its implicit open
        lines = [ln.date for st in statements for ln in st.lines]
        self._first_line = min(lines) if lines else None
        self._statements = tuple(statements)
        self._check = False

    @property
    def staged(self) -> tuple[StagedProposal, ...]:
        """The proposals earlier steps of this run made (read-only; StagedProposal: id,
        kind, date, account, evidence, text). Proposing a transaction again that cites the
        same statement lines replaces the earlier one; an identical proposal is kept once."""
        return self._staged

    def check(self) -> None:
        """Ask for both gates on everything proposed so far, before you `finish`. When
        this script has ended without an error, the host writes every proposal of the run
        (`propose.staged` and this step's) into a temporary copy of the ledger, runs
        bean-check on it and the reconciliation proof (backed by a statement line, booked
        once, every line booked, the closing balance, plausible new accounts), and adds
        the result to this step's observation as `check`: `errors` (bean-check's new
        errors, `file:line: message (proposal P3)`), `findings` (the proof's, `P3 backed:
        ...`, each marked refused, i.e. it would be dropped, or flagged for the reviewer),
        `unbooked` (statement lines no entry or proposal books, and closing balances that
        still differ), `rejected` (proposals the host's rules refuse) and `passed` (no
        error, refusal or rejection; unbooked lines alone don't fail it).
        Nothing is written to the ledger. Once per step: calling it again changes nothing."""
        self._check = True

    def _add(self, raw: dict[str, Any]) -> dict[str, Any]:
        if len(self._items) >= MAX_PROPOSALS:
            raise proposals.ProposalError(f"more than {MAX_PROPOSALS} proposals")
        spec = proposals.validate(raw, self._view.accounts, self._opened)
        if spec.kind == "open" and spec.account:
            self._opened[spec.account] = spec.date
        self._items.append(raw)
        return raw

    def _open_review_account(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The review account, opened implicitly by the first transaction that books to
        it: one `open` proposal (the reviewer sees it), dated at its earliest use."""
        account = self._review_account
        if account in self._view.accounts or not any(
                isinstance(p, dict) and p.get("account") == account
                for p in raw.get("postings") or ()):
            return None
        try:
            when = proposals.validate({"kind": "open", "date": raw["date"],
                                       "account": account}, {}, {}).date
        except proposals.ProposalError:
            return None  # the transaction's own validation says what is wrong
        if self._first_line is not None:
            when = min(when, self._first_line)
        auto = self._auto.get(account)
        if auto is not None:  # opened by this step: moved earlier if this use is earlier
            if when < self._opened[account]:
                auto["date"] = when.isoformat()
                self._opened[account] = when
            return None
        if account in self._opened:  # opened by an earlier step, or by the script
            return None
        opening = self._add({"kind": "open", "date": when.isoformat(), "account": account,
                             "currencies": [], "reason": "the review account, for entries "
                             "whose counter-account is still to be decided"})
        self._auto[account] = opening
        return opening

    def transaction(self, date: datetime.date | str, payee: str | None, narration: str,
                    postings: Sequence[Any], evidence: Iterable[Any] = (), flag: str = "*",
                    meta: Mapping[str, str] | None = None, tags: Iterable[str] = (),
                    links: Iterable[str] = (), confidence: float | None = None,
                    reason: str = "") -> dict[str, Any]:
        """Propose a transaction. `postings`: [(account, '12.00 USD'), (account, Decimal,
        'USD'), (account,)] with at most one amount left out; `evidence`: the statement
        lines it rests on; `confidence` in [0, 1]; `reason` says why, for the reviewer.
        Booking to the review account (`engine.review_account`, e.g. Expenses:FIXME) when
        the ledger lacks it also proposes its `open`, once per run, dated at its earliest
        use (or the statements' first line)."""
        raw = {
            "kind": "transaction", "date": _date(date), "flag": flag, "payee": payee,
            "narration": narration, "postings": [_posting_json(p) for p in postings],
            "evidence": [_ref_json(e, self._statements) for e in evidence],
            "meta": dict(meta or {}),
            "tags": tags if isinstance(tags, str) else list(tags),
            "links": links if isinstance(links, str) else list(links),
            "confidence": None if confidence is None else str(round(confidence, 3)),
            "reason": reason,
        }
        opening = self._open_review_account(raw)
        try:
            return self._add(raw)
        except proposals.ProposalError:
            if opening is not None:  # no use left: the implicit open goes too
                self._items = [i for i in self._items if i is not opening]
                del self._auto[self._review_account]
                del self._opened[self._review_account]
            raise

    def balance(self, account: str, date: datetime.date | str, amount: Any,
                currency: str | None = None, evidence: Iterable[Any] = (),
                reason: str = "") -> dict[str, Any]:
        """Propose `date balance account amount`: checked at the START of `date`.
        `amount` is '12.00 USD', or a Decimal with `currency` (default: the account's)."""
        if isinstance(amount, str) and len(amount.split()) == 2:
            amount, currency = amount.split()
        currency = currency or self._view.currency_of(account)
        return self._add({"kind": "balance", "date": _date(date), "account": account,
                          "number": _num(amount), "currency": currency,
                          "evidence": [_ref_json(e, self._statements) for e in evidence],
                          "reason": reason})

    def open(self, account: str, date: datetime.date | str, currencies: Iterable[str] = (),
             reason: str = "") -> dict[str, Any]:
        """Propose opening `account` on `date`. An account an earlier step's proposal
        opens is not opened twice (that proposal stands); opening the review account after
        a transaction opened it implicitly replaces the implicit open."""
        raw = {"kind": "open", "date": _date(date), "account": account,
               "currencies": list(currencies), "reason": reason}
        if account in self._staged_opens:
            return raw  # proposed again: the earlier step's stands (a rerun of a script)
        if account in self._auto:  # the script's own open takes the implicit one's place
            others = {k: v for k, v in self._opened.items() if k != account}
            spec = proposals.validate(raw, self._view.accounts, others)
            auto = self._auto.pop(account)
            when = min(spec.date, self._opened[account])  # no earlier use left unopened
            auto.clear()
            auto.update(raw, date=when.isoformat())
            self._opened[account] = when
            return auto
        return self._add(raw)

    def to_json(self) -> list[dict[str, Any]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Engine:
    """The offline agent's toolbox, available to every script."""

    def __init__(self, view: LedgerView, review_account: str = REVIEW_ACCOUNT,
                 window_days: int = WINDOW_DAYS, confident: Decimal = CONFIDENT,
                 denylist: Iterable[str] = ()):
        self._view = view
        self.review_account = review_account
        self.window_days = window_days
        self.confident = confident  # below this, suggestions are not `confident`
        self.denylist = frozenset(denylist)  # accounts never suggested
        self._categorisers: dict[str, Categoriser] = {}
        self._occurrences: dict[int, dict[int, int]] = {}  # statement -> line -> occurrence

    def match(self, statement: Statement) -> MatchResult:
        """Matched lines, missing lines, and ledger entries the bank never saw."""
        return match_statement(self._view, statement, self.window_days, self.review_account)

    def suggest(self, statement: Statement, line: StatementLine) -> Suggestion:
        """The likely counter-account for `line`, with a confidence and a reason (its
        payee and reason fit a proposal: a ledger's payee may be long or hold controls)."""
        cat = self._categorisers.get(statement.account)
        if cat is None:
            cat = self._categorisers[statement.account] = Categoriser(
                self._view, statement.account, self.review_account, self.confident,
                statement.currency, self.denylist)
        found = cat.suggest(line)
        return dataclasses.replace(found, payee=self.fit(found.payee),
                                   reason=fit_text(found.reason))

    def fit(self, text: str | None) -> str | None:
        """Text the bank or the ledger wrote, made to fit a proposal's payee, narration or
        reason: on one line, controls shown as escapes, cut to 500 characters with "…"
        (a long memo would otherwise be refused)."""
        return None if text is None else fit_text(text)

    def template(self, statement: Statement, line: StatementLine,
                 suggestion: Suggestion) -> list[tuple[str, Decimal, str]] | None:
        """Every leg of the payee's recurring multi-leg entry (payroll with taxes and
        deductions), amounts from the latest one with this account's leg equal to the line
        (the suggestion's reason says what was adjusted); None for a two-leg entry."""
        if suggestion.postings is None:
            return None
        return list(suggestion.postings)

    def booked_elsewhere(self, statement: Statement, line: StatementLine,
                         account: str) -> Txn | None:
        """For a line whose counter-account is another own account: that account's side of
        the same transfer, already booked against a third account (a card payment entered
        from savings instead of checking). Proposing the line would move the money twice;
        the existing entry's account needs fixing instead."""
        if not account.startswith(("Assets:", "Liabilities:")) or account == statement.account:
            return None
        window = datetime.timedelta(days=self.window_days)
        for t in self._view.transactions(account, line.date - window, line.date + window):
            if t.amount(account, statement.currency) == -line.amount and not any(
                    p.account == statement.account for p in t.postings):
                return t
        return None

    def bank_meta(self, statement: Statement, line: StatementLine) -> dict[str, str]:
        """Metadata that lets the next run recognise this line: the bank's id, else a
        hash of date, amount and description plus the occurrence number of identical rows;
        and a paper check's number."""
        check = {"check": line.check} if _meta_value(line.check) else {}
        if line.ref.id and _meta_value(line.ref.id):
            return {"bank_ref": line.ref.id, **check}
        key = f"{line.date}|{line.amount}|{line.description}"
        occurrences = self._occurrences.get(id(statement))
        if occurrences is None:  # once per statement: rows are numbered among identical ones
            counts: dict[str, int] = {}
            occurrences = {}
            for ln in statement.lines:
                k = f"{ln.date}|{ln.amount}|{ln.description}"
                counts[k] = counts.get(k, 0) + 1
                occurrences[id(ln)] = counts[k]
            self._occurrences[id(statement)] = occurrences
        occurrence = occurrences[id(line)]
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return {"bank_ref": f"h:{digest}:{occurrence}", **check}

    def balance_date(self, statement: Statement) -> datetime.date | None:
        """Where the closing balance's assertion goes: the day after it is 'as of'."""
        day = statement.closing_date or statement.end
        return None if day is None else day + datetime.timedelta(days=1)

    def has_balance(self, account: str, date: datetime.date) -> Decimal | None:
        """The amount of an existing `balance` assertion for account on date, if any."""
        for b in self._view.balance_assertions:
            if b.account == account and b.date == date:
                return b.amount
        return None


def check_requested(propose: Propose) -> bool:
    """Whether the script called `propose.check()` (the host runs the gates after it)."""
    return propose._check


def make_globals(view: LedgerView, statements: Sequence[Statement],
                 settings: Mapping[str, Any] | None = None,
                 staged: Sequence[Any] = ()) -> dict[str, Any]:
    """`settings`: the engine's `review_account`, `window_days`, `confident` and `denylist`
    (accounts joined by commas) from the user's configuration; `staged`: the raw proposals
    of the run's earlier steps (`propose.staged`)."""
    settings = settings or {}
    review = str(settings.get("review_account", REVIEW_ACCOUNT))
    return {
        "__name__": "__beanagent_script__",
        "ledger": view,
        "statements": list(statements),
        "propose": Propose(view, review, statements, _staged(staged, view, statements)),
        "engine": Engine(view, review,
                         int(settings.get("window_days", WINDOW_DAYS)),
                         Decimal(str(settings.get("confident", CONFIDENT))),
                         [a for a in str(settings.get("denylist") or "").split(",") if a]),
        "Decimal": Decimal,
        "date": datetime.date,
        "timedelta": datetime.timedelta,
    }
