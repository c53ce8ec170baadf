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
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

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
    original's: errors the original already had do not count."""
    baseline = Counter((e.file, e.message) for e in baseline_errors)
    new: list[GateError] = []
    for err in staged_errors:
        file, line, proposal = _locate(stage, err)
        message = _normalise(stage, err.message)
        if proposal is None and baseline[(file, message)] > 0:
            baseline[(file, message)] -= 1
            continue
        new.append(GateError(file, line, message, proposal))
    return GateResult(not new, tuple(new))

MAX_ROUNDS = 3

Restage = Callable[[list[Proposal]], tuple[Staged, GateResult, list[Proposal]]]
# The agent's own repair: given the new errors and the proposals, new proposals (or None
# when it has nothing better).
Fix = Callable[[Sequence[GateError], list[Proposal]], list[Proposal] | None]


@dataclasses.dataclass(frozen=True)
class Settled:
    stage: Staged
    gate: GateResult
    proposals: tuple[Proposal, ...]
    rounds: int = 0  # repair rounds run
    dropped: tuple[tuple[str, str], ...] = ()  # (id, why)


def errors_by_proposal(errors: Sequence[GateError]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        if e.proposal:
            out.setdefault(e.proposal, []).append(e.message)
    return out


def settle(stage: Staged, gate: GateResult, proposals: Sequence[Proposal], restage: Restage,
           warn: Callable[[str], None], fix: Fix | None = None,
           max_rounds: int = MAX_ROUNDS) -> Settled:
    """Round after round until the gate passes, nothing is left, or no round can help.
    `restage` stages and checks a new set (its owner removes the stages it made)."""
    items = list(proposals)
    rounds = 0
    dropped: list[tuple[str, str]] = []
    while not gate.passed and rounds < max_rounds and items:
        rounds += 1
        proposed = fix(gate.errors, items) if fix is not None else None
        if proposed is None:
            blamed = errors_by_proposal(gate.errors)
            if not blamed:
                break  # only the user's own lines fail: nothing here is ours to drop
            for item in items:
                if item.id in blamed:
                    why = "; ".join(blamed[item.id])
                    dropped.append((item.id, why))
                    warn(f"{item.id} dropped: it fails bean-check ({why})")
            proposed = [i for i in items if i.id not in blamed]
        if not proposed:  # nothing passed: the gate's errors stand, nothing is reviewed
            items = []
            break
        stage, gate, items = restage(proposed)
    return Settled(stage, gate, tuple(items), rounds, tuple(dropped))
