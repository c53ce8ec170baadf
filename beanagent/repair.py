"""Self-correction at the gate: when the staged copy fails bean-check, the new errors go
back to whoever can fix them, for a bounded number of rounds, so that the human reviews
only proposals that passed.

An agent that can repair (the LLM agent continues its conversation with the errors) gets
them first; otherwise, and when it can't, the proposals the errors point into are dropped
(with a warning naming each error) and the rest is staged and checked again. Errors that
sit in the user's own files (a later `balance` assertion the new entries break) can't be
pinned on one proposal: those end the rounds and the run exits 3 with the errors shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from beanagent.check import GateError, GateResult
from beanagent.stage import Item, Stage

MAX_ROUNDS = 3

Restage = Callable[[list[Item]], tuple[Stage, GateResult, list[Item]]]
# The agent's own repair: given the new errors and the proposals, new proposals (or None
# when it has nothing better).
Fix = Callable[[Sequence[GateError], list[Item]], list[Item] | None]


@dataclasses.dataclass
class Settled:
    stage: Stage
    gate: GateResult
    items: list[Item]
    rounds: int = 0  # repair rounds run
    dropped: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (id, why)


def errors_by_proposal(errors: Sequence[GateError]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in errors:
        if e.proposal:
            out.setdefault(e.proposal, []).append(e.message)
    return out


def settle(stage: Stage, gate: GateResult, items: list[Item], restage: Restage,
           warn: Callable[[str], None], fix: Fix | None = None,
           max_rounds: int = MAX_ROUNDS) -> Settled:
    """Round after round until the gate passes, nothing is left, or no round can help.
    The caller owns `stage`; a replaced stage is cleaned up here."""
    done = Settled(stage, gate, items)
    while not done.gate.passed and done.rounds < max_rounds and done.items:
        done.rounds += 1
        proposed = fix(done.gate.errors, done.items) if fix is not None else None
        if proposed is None:
            blamed = errors_by_proposal(done.gate.errors)
            if not blamed:
                break  # only the user's own lines fail: nothing here is ours to drop
            for item in done.items:
                if item.id in blamed:
                    why = "; ".join(blamed[item.id])
                    done.dropped.append((item.id, why))
                    warn(f"{item.id} dropped: it fails bean-check ({why})")
            proposed = [i for i in done.items if i.id not in blamed]
        if not proposed:  # nothing passed: the gate's errors stand, nothing is reviewed
            done.items = []
            break
        done.stage.cleanup()
        done.stage, done.gate, done.items = restage(proposed)
    return done
