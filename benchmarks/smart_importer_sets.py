"""smart_importer's prediction test sets, read as a categorisation benchmark.

The data stays where the peer copy lives (`../shared/realworld/smart_importer`, see its
MANIFEST.md); nothing of it is copied here. Each set is a training ledger (the history), the
imported transactions that lack their counter-posting (the input), and what smart_importer's
SVM predicted for them (the expected output). Each input transaction becomes a statement line
on its one posting's account, and our engine suggests the counter-account (and payee) the
same way the offline agent asks it: `Engine(view).suggest(statement, line)`.

Shared by `benchmarks/bench_categorise.py` and `tests/test_realworld_categorise.py`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data
from beancount.parser import parser, printer

from beanagent.ledger.view import LedgerView, Txn
from beanagent.sandbox.script_api import Engine
from beanagent.statements.model import Ref, Statement, StatementLine

REALWORLD = Path(__file__).resolve().parents[1].parent / "shared" / "realworld"
SETS = ("simple", "single-account", "multiaccounts", "chinese")  # tests/data/<name>.beancount
INLINE = "predictors_test_inline"  # from tests/predictors_test.py


@dataclasses.dataclass(frozen=True)
class Case:
    """One imported transaction and what smart_importer's SVM predicted for it."""

    line: StatementLine
    account: str  # the statement account (the input's single posting)
    svm_account: str  # the SVM's predicted counter-account
    svm_payee: str | None = None  # the SVM's payee, where the set predicts payees
    # What the peer test actually checks, independent of the SVM's own output: accounts
    # the answer must not be (denylisted, closed), when the test is about that.
    must_not: tuple[str, ...] = ()
    # The answer the history makes unambiguous, if any: the one open, allowed account that
    # past transactions with this exact payee (or narration, when the line has no payee)
    # were booked to. A transparent rule, not an independent label; None when undecided.
    obvious: str | None = None


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    view: LedgerView
    cases: tuple[Case, ...]
    predicts_payee: bool = False
    denylisted: tuple[str, ...] = ()  # removed from the training history, as smart_importer does


@dataclasses.dataclass(frozen=True)
class Outcome:
    case: Case
    account: str  # our suggested counter-account
    payee: str | None  # the payee the offline agent would write (None unless confident)
    confidence: float
    confident: bool

    @property
    def agrees(self) -> bool:
        return self.account == self.case.svm_account

    @property
    def payee_agrees(self) -> bool:
        return self.payee == self.case.svm_payee

    @property
    def forbidden(self) -> bool:
        return self.account in self.case.must_not

    @property
    def right(self) -> bool | None:
        """Against the history's unambiguous answer; None where there is none."""
        return None if self.case.obvious is None else self.account == self.case.obvious


@dataclasses.dataclass(frozen=True)
class Score:
    name: str
    outcomes: tuple[Outcome, ...]
    predicts_payee: bool

    @property
    def n(self) -> int:
        return len(self.outcomes)

    @property
    def agreed(self) -> int:
        return sum(o.agrees for o in self.outcomes)

    @property
    def payees_agreed(self) -> int:
        return sum(o.payee_agrees for o in self.outcomes)

    @property
    def flagged(self) -> int:
        return sum(not o.confident for o in self.outcomes)

    @property
    def forbidden(self) -> int:
        return sum(o.forbidden for o in self.outcomes)

    @property
    def decided(self) -> int:
        """Cases whose history gives an unambiguous answer."""
        return sum(o.case.obvious is not None for o in self.outcomes)

    @property
    def right(self) -> int:
        return sum(bool(o.right) for o in self.outcomes)

    @property
    def svm_right(self) -> int:
        return sum(o.case.obvious == o.case.svm_account for o in self.outcomes
                   if o.case.obvious is not None)

    @property
    def svm_forbidden(self) -> int:
        return sum(o.case.svm_account in o.case.must_not for o in self.outcomes)


def _sections(text: str) -> dict[str, str]:
    """`# INPUT` / `# TRAINING` / `# EXPECTED` blocks of a smart_importer test file."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        head = line.strip()
        if head in ("# INPUT", "# TRAINING", "# EXPECTED"):
            current = out.setdefault(head[2:], [])
        elif current is not None:
            current.append(line)
    return {name: "".join(lines) for name, lines in out.items()}


def _transactions(text: str, source: str) -> list[data.Transaction]:
    """Parse only (no booking): input and expected blocks lack amounts and opens."""
    entries, errors, _ = parser.parse_string(text, source)
    if errors:
        raise ValueError(f"{source}: {errors[0].message}")
    return [e for e in entries if isinstance(e, data.Transaction)]


def load_training(text: str, source: str,
                  denylisted: Sequence[str] = ()) -> tuple[list[Any], dict[str, Any]]:
    """The history as a booked ledger, with an `open` added for any account it uses without
    one, and without the transactions that touch a denylisted account."""
    entries, errors, _ = parser.parse_string(text, source)
    if errors:
        raise ValueError(f"{source}: {errors[0].message}")
    opened = {e.account for e in entries if isinstance(e, data.Open)}
    txns = [e for e in entries if isinstance(e, data.Transaction)]
    used = {p.account for t in txns for p in t.postings}
    first = min((e.date for e in entries), default=datetime.date(2000, 1, 1))
    meta = data.new_metadata(source, 0)
    opens = [data.Open(meta, first, name, None, None) for name in sorted(used - opened)]
    denied = set(denylisted)
    kept = [e for e in entries if not (isinstance(e, data.Transaction)
                                       and denied & {p.account for p in e.postings})]
    ledger = "".join(printer.format_entry(e) + "\n" for e in [*opens, *kept])
    booked, errors, options = loader.load_string(ledger)
    if errors:
        raise ValueError(f"{source}: {errors[0].message}")
    return booked, options


def _case_lines(txns: Sequence[data.Transaction], source: str) -> list[tuple[StatementLine, str]]:
    out = []
    for t in txns:
        if len(t.postings) != 1:
            raise ValueError(f"{source}:{t.meta['lineno']}: input must have one posting")
        posting = t.postings[0]
        line = StatementLine(Ref(source, t.meta["lineno"]), t.date, posting.units.number,
                             t.narration or "", payee=t.payee)
        out.append((line, posting.account))
    return out


def _obvious(view: LedgerView, line: StatementLine, account: str,
             must_not: Sequence[str]) -> str | None:
    """The only account, open on the line's date and allowed, that the history booked this
    exact payee to (this exact narration when the line has no payee)."""
    def same(t: Txn) -> bool:
        if line.payee:
            return (t.payee or "").casefold() == line.payee.casefold()
        return t.narration.casefold() == line.description.casefold()

    used = {p.account for t in view.transactions(account) if same(t)
            for p in t.postings if p.account != account}
    usable = {a for a in used if a not in must_not
              and (a not in view.accounts or view.accounts[a].is_open(line.date))}
    return usable.pop() if len(usable) == 1 else None


def _counter(txn: data.Transaction, account: str) -> str:
    others = [p.account for p in txn.postings if p.account != account]
    if len(others) != 1:
        raise ValueError(f"expected one predicted posting in {txn}")
    return others[0]


def load_file_set(root: Path, name: str) -> Dataset:
    """tests/data/<name>.beancount: one file with the three sections."""
    path = root / "smart_importer" / "tests" / "data" / f"{name}.beancount"
    parts = _sections(path.read_text(encoding="utf-8"))
    entries, options = load_training(parts["TRAINING"], path.name)
    inputs = _case_lines(_transactions(parts["INPUT"], path.name), path.name)
    expected = _transactions(parts["EXPECTED"], path.name)
    if len(inputs) != len(expected):
        raise ValueError(f"{path}: {len(inputs)} inputs, {len(expected)} expected")
    view = LedgerView(entries, options)
    cases = tuple(Case(line, account, _counter(exp, account),
                       obvious=_obvious(view, line, account, ()))
                  for (line, account), exp in zip(inputs, expected, strict=True))
    return Dataset(name, view, cases)


def _closed_history(entries: Sequence[Any]) -> dict[str, datetime.date]:
    return {e.account: e.date for e in entries if isinstance(e, data.Close)}


def load_inline_set(root: Path) -> Dataset:
    """predictors_test_inline: predictors_test.py's literals (payees, accounts, denylist)."""
    base = root / "smart_importer" / INLINE
    expected = json.loads((base / "expected.json").read_text(encoding="utf-8"))
    denylisted = tuple(expected["DENYLISTED_ACCOUNTS"])
    training = (base / "training.beancount").read_text(encoding="utf-8")
    entries, options = load_training(training, "training.beancount", denylisted)
    closed = _closed_history(entries)
    view = LedgerView(entries, options)
    inputs = _case_lines(_transactions((base / "input.beancount").read_text(encoding="utf-8"),
                                       "input.beancount"), "input.beancount")
    accounts, payees = expected["ACCOUNT_PREDICTIONS"], expected["PAYEE_PREDICTIONS"]
    if not len(inputs) == len(accounts) == len(payees):
        raise ValueError(f"{base}: inputs and predictions differ in length")
    cases = []
    for (line, account), svm_account, svm_payee in zip(inputs, accounts, payees, strict=True):
        # Posting on the close date itself is still valid in beancount.
        gone = tuple(sorted(a for a, day in closed.items() if day < line.date))
        must_not = denylisted + gone
        cases.append(Case(line, account, svm_account, svm_payee, must_not,
                          _obvious(view, line, account, must_not)))
    return Dataset(INLINE, view, tuple(cases), predicts_payee=True, denylisted=denylisted)


def load_all(root: Path = REALWORLD) -> list[Dataset]:
    return [*(load_file_set(root, name) for name in SETS), load_inline_set(root)]


def score(dataset: Dataset) -> Score:
    """Our engine's suggestion for every case, as the offline agent would ask for it."""
    engine = Engine(dataset.view)
    outcomes = []
    for case in dataset.cases:
        currency = dataset.view.currency_of(case.account) or "USD"
        statement = Statement(case.line.ref.file, "beancount", case.account, currency,
                              (case.line,))
        guess = engine.suggest(statement, case.line)
        outcomes.append(Outcome(case, guess.account, guess.payee if guess.confident else None,
                                guess.confidence, guess.confident))
    return Score(dataset.name, tuple(outcomes), dataset.predicts_payee)
