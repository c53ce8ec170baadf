"""The values a run is made of: plain, frozen data, no I/O.

Each pipeline stage returns one of these and never changes it afterwards (a later stage
makes a new value with `dataclasses.replace`). They live here, not in the module that
first produced them, so that the pure core can use them without importing any I/O.

    Ledger, LedgerFile, LedgerError    the user's books as loaded (ledger/load.py)
    PostingSpec, Spec                  a validated proposal as plain data (core/proposals.py)
    Proposal                           a proposal with its id and text, ready to stage
    StepResult, Step, AgentRun, Task   what an agent did (agent/, sandbox/runner.py)
    Staged, LineMap                    the temp copy holding the proposals (files/stage.py)
    GateError, GateResult              bean-check's verdict on it (core/gate.py)
    Decision                           the reviewer's answer on one proposal
    BalanceCheck                       the statement's closing balance against the ledger
    Finding                            what the ledger alone shows is wrong (core/findings.py)
    RunResult                          everything a run found and did
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import hashlib
import itertools
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beanagent.errors import ExitCode
from beanagent.statements.model import Ref, Statement

if TYPE_CHECKING:
    from beanagent.core.culprits import Culprit
    from beanagent.core.match import MatchResult
    from beanagent.core.proof import Proof


def sha256_bytes(data: bytes) -> str:
    """The one file-content hash: the ledger's files, statements, backups, the audit log."""
    return hashlib.sha256(data).hexdigest()


# --- the ledger -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LedgerFile:
    path: Path
    data: bytes
    sha256: str


@dataclasses.dataclass(frozen=True)
class LedgerError:
    """A bean-check error as plain data: `file:line: message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Ledger:
    path: Path  # the main file, absolute
    entries: list[Any]
    errors: list[LedgerError]
    options: dict[str, Any]
    files: dict[Path, LedgerFile]  # every file the ledger includes, absolute paths
    complete: bool = True  # False: parsed only (entries unbooked, errors from parsing)
    target: Path | None = None  # where new entries go, when the user chose a file
    # The sandbox server's full load as plain data (ledger/snapshot.py), when the ledger
    # came from it: `entries` is then empty, and placement reads this instead.
    plain: Any = None


# --- proposals --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PostingSpec:
    account: str
    number: Decimal | None
    currency: str | None


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated proposal, still plain data (no beancount types)."""

    kind: str
    date: datetime.date
    account: str | None = None  # balance/open
    number: Decimal | None = None  # balance
    currency: str | None = None  # balance
    currencies: tuple[str, ...] = ()  # open
    flag: str = "*"
    payee: str | None = None
    narration: str = ""
    postings: tuple[PostingSpec, ...] = ()
    tags: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    meta: tuple[tuple[str, str], ...] = ()
    evidence: tuple[Ref, ...] = ()
    confidence: Decimal | None = None
    reason: str = ""

    @property
    def main_account(self) -> str:
        return self.account or self.postings[0].account


@dataclasses.dataclass(frozen=True)
class Proposal:
    """A proposal ready to stage: its id (P1, P2, ...), validated spec and rendered text."""

    id: str
    spec: Spec
    text: str
    target: Path | None = None  # the file it goes into, once staged


# --- the agent --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StepResult:
    """One script run. `error` is for the script's author (or the model): a traceback,
    a timeout, a crash; `proposals` is the raw (still unvalidated) JSON list."""

    ok: bool
    output: str
    output_truncated: bool
    error: str | None
    proposals: list[Any]
    seconds: float
    check: bool = False  # the script asked for both gates on the run's proposals (propose.check)


@dataclasses.dataclass(frozen=True)
class Step:
    """One script run, as the agent saw it (easy to log, render and test)."""

    index: int
    code: str
    result: StepResult
    replaced: int = 0  # earlier proposals its own replaced (they cited the same lines)


@dataclasses.dataclass(frozen=True)
class Task:
    statements: tuple[Statement, ...]
    review_account: str
    facts: str = ""  # a summary of the ledger, for agents that read prose


def proposal_key(raw: Any) -> str:
    """Proposals are plain JSON values: equal values have equal canonical text."""
    return json.dumps(raw, sort_keys=True, default=str)


def _cited(raw: Any) -> set[str]:
    """The statement lines a raw transaction proposal books (as canonical text)."""
    if not isinstance(raw, dict) or raw.get("kind") != "transaction":
        return set()
    evidence = raw.get("evidence")
    return {proposal_key(e) for e in evidence} if isinstance(evidence, list) else set()


def merge_proposals(earlier: list[Any], new: list[Any]) -> tuple[list[Any], int]:
    """`new` after `earlier`: an identical proposal is kept once, and a new transaction that
    cites a line an earlier one cites replaces it (a corrected entry, not a second one).
    Returns the merged list and how many earlier proposals were replaced."""
    out = list(earlier)
    seen = {proposal_key(raw) for raw in out}
    base = len(out)
    replaced = 0
    for raw in new:
        key = proposal_key(raw)
        if key in seen:
            continue
        lines = _cited(raw)
        if lines:
            keep = [old for i, old in enumerate(out) if i >= base or not lines & _cited(old)]
            replaced += len(out) - len(keep)
            base -= len(out) - len(keep)
            out = keep
        seen.add(key)
        out.append(raw)
    return out, replaced


# How a model's run ended (`AgentRun.ended`), as a sentence's verb phrase.
ENDINGS = {"finish": "finished", "reply": "ended with a reply instead of an action",
           "steps": "was stopped by the step limit", "tokens": "was stopped by the token limit",
           "time": "was stopped by the time limit"}


@dataclasses.dataclass
class AgentRun:
    """What an agent did, built up while it runs (the one value that grows: the agent owns
    it until `run` returns it, and nothing changes it after that but gate-feedback rounds
    of the same agent)."""

    name: str
    steps: list[Step] = dataclasses.field(default_factory=list)
    proposals: list[Any] = dataclasses.field(default_factory=list)  # raw, unvalidated
    summary: str = ""
    model: str | None = None  # the model behind an LLM agent
    # tokens and estimated cost, for agents that call a model (see agent.pricing)
    usage: dict[str, Any] | None = None
    # the whole conversation (system prompt once, then user/assistant/tool messages), for
    # the audit log; empty for agents without a model
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    rounds: int = 0  # gate-feedback rounds the agent took part in
    stopped: str | None = None  # the bound that ended the run: "steps", "tokens", "time"

    def add_step(self, code: str, result: StepResult) -> Step:
        """Record a step; a step that failed contributes no proposals (its state is
        partial), a proposal identical to an earlier one is kept once, and one that cites
        a line an earlier step's proposal cites replaces it (`merge_proposals`)."""
        replaced = 0
        if result.ok:
            self.proposals, replaced = merge_proposals(self.proposals, result.proposals)
        step = Step(len(self.steps) + 1, code, result, replaced)
        self.steps.append(step)
        return step

    @property
    def scripts(self) -> list[str]:
        return [s.code for s in self.steps if s.result.ok]

    @property
    def ended(self) -> str | None:
        """How a model's run ended: "finish" (it called finish; `summary` is its own),
        "reply" (a reply with no action; `summary` is that reply's text), or the bound
        that stopped it ("steps", "tokens", "time"). None for agents without a model."""
        if self.stopped is not None:
            return self.stopped
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                calls = message.get("calls") or []
                if any(isinstance(c, dict) and c.get("name") == "finish" for c in calls):
                    return "finish"
                return "reply" if not calls else None
        return None

    @property
    def said(self) -> str | None:
        """The model's own last words: its finish summary, or the text of the reply that
        ended the run (None when a bound ended it, or there is no model)."""
        return self.summary if self.ended in ("finish", "reply") else None


# --- staging and the gate -----------------------------------------------------------------


class LineMap(Sequence[int | str]):
    """A staged file's lines, by 0-based index: the original file's line number (1-based),
    or the id of the proposal whose inserted block holds the line. Staging only inserts,
    so it is held as the inserted runs `(first, stop, id)` (staged indexes, in order):
    a few numbers whatever the file's size, cheap to send to the sandbox's check."""

    def __init__(self, length: int, runs: Sequence[tuple[int, int, str]]):
        self.length = length
        self.runs = tuple(runs)
        self._firsts = [first for first, _, _ in self.runs]
        # lines inserted before each run (and after the last one)
        self._before = list(itertools.accumulate((stop - first for first, stop, _ in self.runs),
                                                 initial=0))
        # each run's place in the original file (0-based index of the line after it)
        self._at_original = [first - before for (first, _, _), before
                             in zip(self.runs, self._before, strict=False)]

    def __len__(self) -> int:
        return self.length

    def at(self, index: int) -> int | str:
        k = bisect.bisect_right(self._firsts, index) - 1
        if k >= 0 and index < self.runs[k][1]:
            return self.runs[k][2]
        return index - self._before[k + 1] + 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.at(i) for i in range(*index.indices(self.length))]
        i = index + self.length if index < 0 else index
        if not 0 <= i < self.length:
            raise IndexError("line map index out of range")
        return self.at(i)

    def __iter__(self) -> Iterator[int | str]:
        return (self.at(i) for i in range(self.length))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineMap) and (self.length, self.runs) == (other.length,
                                                                            other.runs)

    __hash__ = None  # type: ignore[assignment]

    def staged_line(self, original: int) -> int:
        """Where the original file's line `original` (1-based) is in the staged file."""
        return original + self._before[bisect.bisect_right(self._at_original, original - 1)]

    def to_json(self) -> dict[str, Any]:
        return {"length": self.length, "runs": [list(run) for run in self.runs]}

    @classmethod
    def from_json(cls, value: Any) -> LineMap:
        """From to_json's form (sent by the host to the sandbox), checked: runs in order,
        inside the file, each with an id."""
        length, runs = int(value["length"]), []
        last = 0
        for first, stop, ident in value["runs"]:
            if not (isinstance(first, int) and isinstance(stop, int) and isinstance(ident, str)
                    and last <= first < stop <= length):
                raise ValueError("a line map's runs must be in order and inside the file")
            runs.append((first, stop, ident))
            last = stop
        return cls(length, runs)


@dataclasses.dataclass(frozen=True)
class Staged:
    """The temporary copy of the ledger with the proposals written in (files/stage.py
    makes it and removes it)."""

    root: Path
    main: Path  # the staged copy of the main file
    staged: dict[Path, Path]  # original -> staged path
    new_bytes: dict[Path, bytes]  # original -> new content, for changed files only
    # staged file -> per staged line (1-based index - 1): original line number, or a proposal id
    line_maps: dict[Path, LineMap]
    targets: dict[str, Path]  # proposal id -> original file it goes into
    source_root: Path  # the original folder the stage root mirrors
    texts: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> text as written

    def original_of(self, staged_file: Path) -> Path | None:
        for orig, staged in self.staged.items():
            if staged == staged_file:
                return orig
        return None


@dataclasses.dataclass(frozen=True)
class GateError:
    file: str  # the original file the error belongs to
    line: int  # its line in the original file (0 when it sits in a proposal)
    message: str
    proposal: str | None  # the proposal the error points into, if any

    def __str__(self) -> str:
        where = f"proposal {self.proposal}" if self.proposal else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclasses.dataclass(frozen=True)
class GateResult:
    passed: bool
    errors: tuple[GateError, ...]  # new errors only
    seconds: float = 0.0  # how long the check itself ran
    waited: float = 0.0  # how long the run stood still for it (the rest was hidden)


# --- review and result ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Decision:
    """The user's answer on one proposal.

    `text` is the entry as the user edited it (None: as proposed). The UI only returns an
    edit that the reviser accepted, and the workflow runs it through the reviser again
    before staging it: what comes back from the UI is held to the rules like what comes
    back from the sandbox."""

    id: str
    accepted: bool
    text: str | None = None


@dataclasses.dataclass(frozen=True)
class BalanceCheck:
    account: str
    date: datetime.date
    statement: Decimal
    ledger: Decimal
    currency: str
    culprits: tuple[Culprit, ...] = ()  # when they differ

    @property
    def difference(self) -> Decimal:
        return self.statement - self.ledger

    @property
    def reconciles(self) -> bool:
        return self.difference == 0


@dataclasses.dataclass(frozen=True)
class Finding:
    """A problem the ledger shows by itself (a failing `balance`, a transfer booked twice, a
    duplicate, a stale `!`, an account gone quiet): where it is and what would fix it. Only
    reported: the user edits the ledger."""

    kind: str  # balance | transfer-twice | transfer-one-side | duplicate | stale-flag | dormant
    message: str
    file: str  # the entry or directive it points at, as the loader names it
    line: int
    fix: str
    related: tuple[tuple[str, int], ...] = ()  # other entries involved (file, line)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Everything a run found and did; the CLI renders it and maps it to an exit code.
    Made at the end of each stage the user sees (with what is known by then), never
    changed afterwards."""

    ledger: Path
    statements: tuple[Statement, ...]
    matches: tuple[MatchResult, ...]
    proposals: tuple[Proposal, ...]  # as checked (and, after a review, as accepted/edited)
    agent: AgentRun | None
    agent_seconds: float
    gate: GateResult | None = None
    proof: Proof | None = None  # the reconciliation proof of `proposals`
    balance: BalanceCheck | None = None
    dropped: tuple[tuple[str, str], ...] = ()  # (id, why): proposals that failed the gate
    diff: str = ""
    decisions: tuple[Decision, ...] = ()  # the user's answers, one per proposal, in order
    accepted: tuple[str, ...] | None = None  # None: nobody was asked (dry run, no review)
    edited: tuple[str, ...] = ()  # ids the user edited
    committed: bool = False
    written: tuple[Path, ...] = ()
    exit_code: ExitCode = ExitCode.OK
    findings: tuple[Finding, ...] = ()  # with no statements: what the ledger alone shows
