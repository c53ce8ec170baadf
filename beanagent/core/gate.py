"""The gate's verdict, and self-correction when it fails.

`gate_result` compares bean-check's errors on the staged copy (run in the sandbox) with the
ledger's own: only errors the original did not have fail the gate.

`settle`: when the staged copy fails, the new errors go back to whoever can fix them, for a
bounded number of rounds, so that the human reviews only proposals that passed. An agent
that can repair (the LLM agent continues its conversation with the errors) gets them first;
otherwise, and when it can't, the proposals the errors point into are dropped (with a
warning naming each error) and the rest is staged and checked again. Errors that sit in the
user's own files (a later `balance` assertion the new entries break) can't be pinned on one
proposal: those end the rounds and the run exits 3 with the errors shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from beanagent.core.proof import Proof, ProposalProof
from beanagent.core.same_error import Key, error_key, unexcused
from beanagent.model import GateError, GateResult, LedgerError, Proposal, Staged


def _locate(stage: Staged, err: LedgerError) -> tuple[str, int, str | None]:
    staged = Path(err.file)
    original = stage.original_of(staged)
    if original is None:
        return err.file, err.line, None
    line_map = stage.line_maps.get(staged)
    if line_map is None or not (1 <= err.line <= len(line_map)):
        return str(original), err.line, None
    where = line_map[err.line - 1]
    if isinstance(where, str):
        return str(original), 0, where
    return str(original), where, None


def _normalise(stage: Staged, message: str) -> str:
    """Error texts name staged paths; name the user's instead so they compare equal."""
    for original, staged in stage.staged.items():
        message = message.replace(str(staged), str(original))
    return message.replace(str(stage.root), str(stage.source_root))


def gate_result(stage: Staged, baseline_errors: list[LedgerError],
                staged_errors: list[LedgerError]) -> GateResult:
    """Compare bean-check's errors on the staged copy (run in the sandbox) with the
    original's: errors the original already had do not count. An error is the same one
    when it concerns the same entry (file, and line mapped back to the original file) and
    says the same once the line numbers it quotes are taken out (core/same_error.py); one
    inside a proposal is always new."""
    files = [str(p) for p in stage.staged]
    found: list[tuple[Key | None, GateError]] = []
    for err in staged_errors:
        file, line, proposal = _locate(stage, err)
        message = _normalise(stage, err.message)
        key = None if proposal else error_key(file, line, message, files)
        found.append((key, GateError(file, line, message, proposal)))
    new = unexcused((error_key(e.file, e.line, e.message, files) for e in baseline_errors),
                    found)
    return GateResult(not new, tuple(new))

MAX_ROUNDS = 3


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Both gates on one staged set: bean-check's new errors and the reconciliation proof's
    refusals (core/proof.py), the latter pinned to the proposals they refuse."""

    gate: GateResult
    proof: Proof

    @property
    def problems(self) -> tuple[GateError, ...]:
        return self.gate.errors + self.proof.errors()

    @property
    def passed(self) -> bool:
        return self.gate.passed and not self.proof.refused

    def reasons(self) -> dict[str, str]:
        """Why each proposal a problem is pinned on fails, as the user is told it."""
        out: dict[str, list[str]] = {}
        for pid, why in errors_by_proposal(self.gate.errors).items():
            out.setdefault(pid, []).append(f"it fails bean-check ({'; '.join(why)})")
        for pid, why in errors_by_proposal(self.proof.errors()).items():
            out.setdefault(pid, []).append(f"the proof refuses it ({'; '.join(why)})")
        return {pid: "; ".join(parts) for pid, parts in out.items()}


Restage = Callable[[list[Proposal]], tuple[Staged, Verdict, list[Proposal]]]
# The agent's own repair: given the problems and the proposals, new proposals (or None
# when it has nothing better).
Fix = Callable[[Sequence[GateError], list[Proposal]], list[Proposal] | None]
# Blame for problems pinned on no proposal (a `balance` assertion of the user's that the
# proposals break): the proposals to drop, with why.
Blame = Callable[[Sequence[GateError], Sequence[Proposal]], dict[str, str]]


@dataclasses.dataclass(frozen=True)
class Settled:
    stage: Staged
    verdict: Verdict
    proposals: tuple[Proposal, ...]
    rounds: int = 0  # repair rounds run
    dropped: tuple[tuple[str, str], ...] = ()  # (id, why)
    refused: tuple[ProposalProof, ...] = ()  # the proof's verdicts on what it had dropped

    @property
    def gate(self) -> GateResult:
        return self.verdict.gate

    @property
    def proof(self) -> Proof:
        return self.verdict.proof


def errors_by_proposal(errors: Sequence[GateError]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        if e.proposal:
            out.setdefault(e.proposal, []).append(e.message)
    return out


def settle(stage: Staged, verdict: Verdict, proposals: Sequence[Proposal], restage: Restage,
           warn: Callable[[str], None], fix: Fix | None = None, blame: Blame | None = None,
           max_rounds: int = MAX_ROUNDS) -> Settled:
    """Round after round until both gates pass, nothing is left, or no round can help.
    `restage` stages and checks a new set (its owner removes the stages it made). Problems
    pinned on proposals go to `fix` (the agent) first, else those proposals are dropped;
    problems pinned on none go to `blame`, and what it names is dropped."""
    items = list(proposals)
    rounds = 0
    dropped: list[tuple[str, str]] = []
    refused: list[ProposalProof] = []
    while not verdict.passed and rounds < max_rounds and items:
        rounds += 1
        problems = verdict.problems
        proposed = fix(problems, items) if fix is not None else None
        if proposed is None:
            blamed = verdict.reasons()
            if not blamed and blame is not None:
                blamed = blame(problems, items)
            if not blamed:
                break  # only the user's own lines fail, and no proposal explains it
            for item in items:
                if item.id in blamed:
                    dropped.append((item.id, blamed[item.id]))
                    warn(f"{item.id} dropped: {blamed[item.id]}")
                    verdict_of = verdict.proof.of(item.id)
                    if verdict_of is not None and verdict_of.refused:
                        refused.append(verdict_of)
            proposed = [i for i in items if i.id not in blamed]
        if not proposed:  # nothing passed: the problems stand, nothing is reviewed
            items = []
            break
        stage, verdict, items = restage(proposed)
    return Settled(stage, verdict, tuple(items), rounds, tuple(dropped), tuple(refused))
