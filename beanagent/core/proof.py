"""The reconciliation proof: the second gate. bean-check proves the staged ledger is
well-formed; this proves each proposal is *right* against the statements, before anyone is
asked. It is deterministic, runs on the host, and whoever wrote the proposals (the offline
agent, a model, a `run` script, the user's edit) gets the same verdict.

The rules (README: "What beanagent guarantees"):

- **backed**: a transaction's postings to a statement's account equal the sum of the lines
  of that statement it cites, exactly, in the statement's currency, and its date is within
  the matching window of each of them. A `balance` on a statement's account equals that
  statement's closing balance, the day after it is "as of". Without evidence, a proposal is
  refused; a hand-written one (`beanagent run`) is flagged *unbacked* instead.
- **once**: a statement line is booked at most once: not cited by two proposals, not
  proposed when the ledger already has it, and money that moves between two statements of
  the run (a transfer) is booked once across both.
- **complete**: after the proposals, every line of each statement is booked (matched to a
  ledger entry or cited by a proposal), and the closing balance's difference is known.
- **plausible**: an account a proposal opens is not a look-alike of one the ledger has
  (Unicode confusables, mixed scripts, case, one or two letters off: refused, naming the
  account it imitates); every account a run opens is marked new; a bank line booked to
  `Equity`, or posted to another statement's account that statement does not show, is
  flagged.

A refused proposal never reaches the review (the workflow drops it or, for an agent that
can repair, sends the finding back to it); a flagged one is shown in red and never accepted
by `--yes`.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from beanagent.core.match import MatchResult
from beanagent.model import GateError, Proposal
from beanagent.statements.model import Ref, Statement, StatementLine

RULES = ("backed", "once", "complete", "plausible")
OWN = ("Assets:", "Liabilities:")


@dataclasses.dataclass(frozen=True)
class Finding:
    rule: str  # one of RULES
    proposal: str | None  # the proposal it concerns (None: a statement's)
    message: str
    refs: tuple[Ref, ...] = ()  # the statement lines it rests on
    refuse: bool = True  # False: flagged for the reviewer, never accepted by --yes


@dataclasses.dataclass(frozen=True)
class ProposalProof:
    id: str
    backed: bool
    once: bool
    new_accounts: tuple[str, ...]  # accounts this proposal opens or uses that the ledger lacks
    findings: tuple[Finding, ...]

    @property
    def refused(self) -> bool:
        return any(f.refuse for f in self.findings)

    @property
    def flagged(self) -> bool:
        return not self.refused and bool(self.findings)


@dataclasses.dataclass(frozen=True)
class StatementProof:
    file: str
    account: str
    currency: str
    complete: bool
    unbooked: tuple[Ref, ...]  # lines neither in the ledger nor cited by a proposal
    difference: Decimal | None  # closing balance − (ledger + proposals); None: no closing


@dataclasses.dataclass(frozen=True)
class Proof:
    proposals: tuple[ProposalProof, ...]
    statements: tuple[StatementProof, ...]

    def of(self, pid: str) -> ProposalProof | None:
        return next((p for p in self.proposals if p.id == pid), None)

    @property
    def refused(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.proposals if p.refused)

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.proposals if p.flagged)

    def errors(self) -> tuple[GateError, ...]:
        """The refusals in the gate's shape, pinned to their proposals (so that the repair
        rounds treat them like bean-check's errors): `file:line` of the first line cited."""
        out = []
        for p in self.proposals:
            for f in p.findings:
                if f.refuse:
                    ref = f.refs[0] if f.refs else None
                    out.append(GateError(ref.file if ref else "<proof>",
                                         (ref.line or 0) if ref else 0,
                                         f"{f.rule}: {f.message}", p.id))
        return tuple(out)


# --- look-alike accounts ------------------------------------------------------------------


def skeleton(name: str) -> str:
    """What a name looks like: NFKC, case folded, every confusable character replaced by
    its Latin look-alike (Unicode's confusables data, through confusable_homoglyphs)."""
    from confusable_homoglyphs import confusables

    text = unicodedata.normalize("NFKC", name)
    found = confusables.is_confusable(text, greedy=True, preferred_aliases=["latin"]) or []
    swap = {str(f["character"]): str(f["homoglyphs"][0]["c"]) for f in found
            if f.get("homoglyphs")}
    return "".join(swap.get(ch, ch) for ch in text).casefold()


def mixed_script(name: str) -> bool:
    """A component written in more than one script (`Cоffee` with a Cyrillic о)."""
    from confusable_homoglyphs import categories

    return any(len(categories.unique_aliases(part) - {"COMMON"}) > 1
               for part in name.split(":"))


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping past `limit`. Hand-written: account names are short
    and no edit-distance library is a dependency; this is the textbook two-row table."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        if min(row) > limit:
            return limit + 1
    return row[-1]


def imitates(name: str, existing: Iterable[str]) -> str | None:
    """The existing account `name` is a look-alike of, if any: the same skeleton (confusable
    characters, case, width), or one component one or two letters off (one for names of 4
    to 7 letters, two from 8) with the rest identical."""
    look = skeleton(name)
    parts = name.split(":")
    for other in existing:
        if other == name:
            continue
        if skeleton(other) == look:
            return other
        theirs = other.split(":")
        if len(theirs) != len(parts):
            continue
        differ = [(x, y) for x, y in zip(parts, theirs, strict=True) if x != y]
        if len(differ) != 1:
            continue
        x, y = differ[0]
        limit = 2 if min(len(x), len(y)) >= 8 else 1 if min(len(x), len(y)) >= 4 else 0
        if limit and _distance(x.casefold(), y.casefold(), limit) <= limit:
            return other
    return None


# --- the proof ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Line:
    statement: int
    line: StatementLine


def _postings_to(p: Proposal, account: str, currency: str) -> Decimal | None:
    """The proposal's net amount on exactly `account` in `currency` (None: no posting)."""
    legs = [q for q in p.spec.postings if q.account == account]
    if not legs:
        return None
    total = Decimal(0)
    for q in legs:
        if q.number is None:  # an elided leg: it takes the rest of the transaction
            total += -sum((r.number for r in p.spec.postings
                           if r.number is not None and r.currency == currency), Decimal(0))
        elif q.currency == currency:
            total += q.number
    return total


def prove(proposals: Sequence[Proposal], statements: Sequence[Statement],
          matches: Sequence[MatchResult], accounts: Iterable[str], window_days: int,
          *, manual: bool = False, balances: Mapping[int, Decimal | None] | None = None,
          rules: Iterable[str] = RULES, denylist: Iterable[str] = ()) -> Proof:
    """The proof of `proposals` (validated, evidence limited to real statement lines).
    `matches`: the engine's matching of each statement against the ledger; `accounts`: the
    ledger's accounts; `manual`: hand-written proposals (unbacked ones are flagged, not
    refused); `balances`: each statement's ledger balance on its closing day before the
    proposals (index -> amount), for the difference; `rules`: the rules to apply (all, but
    for the tests that show each rule is needed); `denylist`: accounts the user never wants
    suggested (beanagent.toml), flagged wherever a proposal books to one."""
    on = set(rules)
    denied = set(denylist)
    existing = set(accounts)
    window = datetime.timedelta(days=window_days)
    lines: dict[Ref, _Line] = {ln.ref: _Line(i, ln) for i, st in enumerate(statements)
                               for ln in st.lines}
    booked = {m.line.ref: f"{m.txn.file}:{m.txn.line}" for r in matches for m in r.matches}
    by_account: dict[str, list[int]] = {}
    for i, st in enumerate(statements):
        by_account.setdefault(st.account, []).append(i)
    cited_by: dict[Ref, str] = {}  # line -> the proposal that books it
    opened = [p.spec.account for p in proposals if p.spec.kind == "open" and p.spec.account]
    verdicts: list[ProposalProof] = []
    for p in proposals:
        findings: list[Finding] = []
        new = tuple(dict.fromkeys(a for a in _accounts(p) if a not in existing))
        if p.spec.kind == "document":  # the host's filing of a statement: nothing to prove
            pass
        elif p.spec.kind == "open":
            findings += _plausible_open(p, existing, opened) if "plausible" in on else []
        elif p.spec.kind == "balance":
            findings += _backed_balance(p, statements, by_account, manual) \
                if "backed" in on else []
        else:
            refs = [r for r in dict.fromkeys(p.spec.evidence) if r in lines]
            findings += _backed(p, refs, lines, statements, window, manual) \
                if "backed" in on else []
            if "once" in on:
                findings += _once(p, refs, booked, cited_by)
            for r in refs:
                cited_by.setdefault(r, p.id)
            claimed, more = _other_sides(p, refs, lines, statements, by_account, booked,
                                         cited_by, window, on) if refs else ([], [])
            findings += more
            for r in claimed:
                cited_by.setdefault(r, p.id)
            for account in dict.fromkeys(q.account for q in p.spec.postings):
                if "plausible" in on and account in denied:
                    findings.append(Finding("plausible", p.id, f"it books to {account}, which "
                                            "the denylist in beanagent.toml excludes",
                                            tuple(refs), refuse=False))
            if "plausible" in on and refs and any(
                    q.account.startswith("Equity:") for q in p.spec.postings):
                findings.append(Finding("plausible", p.id, "a bank line booked to an Equity "
                                        "account: check this is not income or a transfer",
                                        tuple(refs), refuse=False))
        verdicts.append(ProposalProof(
            p.id, not any(f.rule == "backed" for f in findings),
            not any(f.rule == "once" for f in findings), new, tuple(findings)))
    kept = {v.id for v in verdicts if not v.refused}
    return Proof(tuple(verdicts), _complete(statements, booked, cited_by, kept,
                                             [p for p in proposals if p.id in kept],
                                             balances or {}, "complete" in on))


def _accounts(p: Proposal) -> list[str]:
    if p.spec.kind == "transaction":
        return [q.account for q in p.spec.postings]
    return [p.spec.account] if p.spec.account else []


def _plausible_open(p: Proposal, existing: set[str], opened: list[str]) -> list[Finding]:
    name = p.spec.account or ""
    model = imitates(name, sorted(existing | {o for o in opened if o != name}))
    if model is not None:
        return [Finding("plausible", p.id, f"the new account {name!r} looks like the "
                        f"existing {model!r}: use that one, or name the new one plainly")]
    if mixed_script(name):
        return [Finding("plausible", p.id, f"the new account {name!r} mixes scripts in one "
                        "name (letters from different alphabets that look alike)")]
    return []


def _backed_balance(p: Proposal, statements: Sequence[Statement],
                    by_account: Mapping[str, list[int]], manual: bool) -> list[Finding]:
    spec = p.spec
    mine = [statements[i] for i in by_account.get(spec.account or "", [])]
    closing = [st for st in mine if st.closing_balance is not None]
    if not closing:
        return [Finding("backed", p.id, f"no statement of this run gives a closing balance "
                        f"for {spec.account}: nothing backs this assertion",
                        refuse=not manual)]
    for st in closing:
        day = (st.closing_date or st.end or spec.date) + datetime.timedelta(days=1)
        if spec.number == st.closing_balance and spec.currency == st.currency \
                and spec.date == day:
            return []
    st = closing[0]
    day = (st.closing_date or st.end or spec.date) + datetime.timedelta(days=1)
    return [Finding("backed", p.id, f"balance {spec.number} {spec.currency} on {spec.date} "
                    f"is not the statement's closing balance ({st.closing_balance} "
                    f"{st.currency}, asserted on {day})",
                    (st.lines[-1].ref,) if st.lines else ())]


def _backed(p: Proposal, refs: list[Ref], lines: Mapping[Ref, _Line],
            statements: Sequence[Statement], window: datetime.timedelta,
            manual: bool) -> list[Finding]:
    if not refs:
        return [Finding("backed", p.id, "no statement line supports this entry"
                        + (" (unbacked: a hand-written entry)" if manual else ""),
                        refuse=not manual)]
    out: list[Finding] = []
    groups: dict[int, list[StatementLine]] = {}
    for r in refs:
        groups.setdefault(lines[r].statement, []).append(lines[r].line)
    for i, cited in groups.items():
        st = statements[i]
        total = sum((ln.amount for ln in cited), Decimal(0))
        posted = _postings_to(p, st.account, st.currency)
        where = tuple(ln.ref for ln in cited)
        if posted is None:
            out.append(Finding("backed", p.id, f"it cites {_lines(cited)} of {st.account} "
                               "but posts nothing to that account", where))
        elif posted != total:
            out.append(Finding("backed", p.id, f"it posts {posted} {st.currency} to "
                               f"{st.account}, but the lines it cites ({_lines(cited)}) say "
                               f"{total} {st.currency}", where))
        far = [ln for ln in cited if abs(p.spec.date - ln.date) > window]
        if far:
            out.append(Finding("backed", p.id, f"its date {p.spec.date} is more than "
                               f"{window.days} days from {_lines(far)} "
                               f"({', '.join(str(ln.date) for ln in far)})",
                               tuple(ln.ref for ln in far)))
    return out


def _once(p: Proposal, refs: list[Ref], booked: Mapping[Ref, str],
          cited_by: Mapping[Ref, str]) -> list[Finding]:
    out = []
    for r in refs:
        if r in booked:
            out.append(Finding("once", p.id, f"{_where(r)} is already in the ledger "
                               f"({booked[r]}): proposing it books it twice", (r,)))
        elif r in cited_by:
            out.append(Finding("once", p.id, f"{_where(r)} is already booked by "
                               f"{cited_by[r]}", (r,)))
    return out


def _other_sides(p: Proposal, refs: list[Ref], lines: Mapping[Ref, _Line],
                 statements: Sequence[Statement], by_account: Mapping[str, list[int]],
                 booked: Mapping[Ref, str], cited_by: Mapping[Ref, str],
                 window: datetime.timedelta, on: set[str]) -> tuple[list[Ref], list[Finding]]:
    """A posting to another statement's account (a transfer between two accounts of the
    run) books a line of that statement too: the line of that amount in the window, which
    then counts as booked (rule "once" across statements). None such: flagged."""
    cited_statements = {lines[r].statement for r in refs}
    claimed: list[Ref] = []
    out: list[Finding] = []
    for q in p.spec.postings:
        for i in by_account.get(q.account, []):
            if i in cited_statements:
                continue
            st = statements[i]
            amount = _postings_to(p, q.account, st.currency)
            if amount is None or amount == 0:
                continue
            near = [ln for ln in st.lines if ln.amount == amount
                    and abs(ln.date - p.spec.date) <= window and ln.ref not in claimed]
            free = [ln for ln in near if ln.ref not in booked and ln.ref not in cited_by]
            if free:
                claimed.append(free[0].ref)
            elif near and "once" in on:
                ln = near[0]
                by = booked.get(ln.ref) or cited_by.get(ln.ref)
                out.append(Finding("once", p.id, f"the other side of this transfer, "
                                   f"{_where(ln.ref)}, is already booked by {by}: this "
                                   "books the money twice", (ln.ref,)))
            elif "plausible" in on:
                out.append(Finding("plausible", p.id, f"it posts {amount} {st.currency} to "
                                   f"{q.account}, but that account's statement "
                                   f"({st.file}) shows no such line near {p.spec.date}",
                                   tuple(refs), refuse=False))
    return claimed, out


def _complete(statements: Sequence[Statement], booked: Mapping[Ref, str],
              cited_by: Mapping[Ref, str], kept: set[str], proposals: Sequence[Proposal],
              balances: Mapping[int, Decimal | None],
              check: bool = True) -> tuple[StatementProof, ...]:
    out = []
    for i, st in enumerate(statements):
        unbooked = tuple(ln.ref for ln in st.lines if ln.ref not in booked
                         and cited_by.get(ln.ref) not in kept) if check else ()
        difference = None
        start = balances.get(i)
        if st.closing_balance is not None and start is not None:
            day = (st.closing_date or st.end or datetime.date.min) + datetime.timedelta(days=1)
            total = start + sum((_postings_to(p, st.account, st.currency) or Decimal(0)
                                 for p in proposals if p.spec.kind == "transaction"
                                 and p.spec.date < day), Decimal(0))
            difference = st.closing_balance - total
        out.append(StatementProof(st.file, st.account, st.currency, not unbooked, unbooked,
                                  difference))
    return tuple(out)


def _where(ref: Ref) -> str:
    return f"statement line {ref}"


def _lines(cited: Sequence[StatementLine]) -> str:
    return ", ".join(f"line {ln.ref.line}" if ln.ref.line else f"#{ln.ref.id}"
                     for ln in cited)


# --- blame: a user's balance assertion that only the proposals break ------------------------

_BALANCE_FAILED = re.compile(r"Balance failed for '(?P<account>[^']+)': expected "
                             r"(?P<expected>-?[\d.]+) (?P<cur>\S+) != accumulated "
                             r"(?P<accumulated>-?[\d.]+) \S+")


@dataclasses.dataclass(frozen=True)
class Assertion:
    """A `balance` directive of the user's: where it is, and since when it counts."""

    date: datetime.date
    account: str
    since: datetime.date  # the date of the account's previous assertion (or the beginning)


def blame_balances(problems: Sequence[GateError], proposals: Sequence[Proposal],
                   assertions: Mapping[tuple[str, int], Assertion]) -> dict[str, str]:
    """For each failing assertion of the user's (a problem in their file, not in a
    proposal): the proposals that break it, among those posting to its account between the
    previous assertion and it. One whose amount is the whole excess, else the fewest (up to
    three) that add up to it, else the least confident one; flagged guesses go first."""
    out: dict[str, str] = {}
    for e in problems:
        m = _BALANCE_FAILED.search(e.message)
        found = assertions.get((e.file, e.line)) if m and e.proposal is None else None
        if m is None or found is None:
            continue
        account, currency = m.group("account"), m.group("cur")
        excess = Decimal(m.group("accumulated")) - Decimal(m.group("expected"))
        candidates = []
        for p in proposals:
            if p.spec.kind != "transaction" or p.id in out \
                    or not (found.since <= p.spec.date < found.date):
                continue
            amount = sum((_postings_to(p, a, currency) or Decimal(0)
                          for a in {q.account for q in p.spec.postings}
                          if a == account or a.startswith(account + ":")), Decimal(0))
            if amount:
                candidates.append((p, amount))
        candidates.sort(key=lambda c: (c[0].spec.flag != "!",
                                       c[0].spec.confidence if c[0].spec.confidence
                                       is not None else Decimal(1), c[0].id))
        chosen = _explaining(candidates, excess)
        for p in chosen:
            out[p.id] = (f"with it, your balance assertion at {e.file}:{e.line} fails "
                         f"({e.message}); its statement line is left for you to book")
    return out


def _explaining(candidates: list[tuple[Proposal, Decimal]],
                excess: Decimal) -> list[Proposal]:
    for p, amount in candidates:
        if amount == excess:
            return [p]
    pool = candidates[:12]
    for size in (2, 3):
        for combo in itertools.combinations(pool, size):
            if sum((a for _, a in combo), Decimal(0)) == excess:
                return [p for p, _ in combo]
    return [candidates[0][0]] if candidates else []
