"""What the agent's steps run on: the sandboxed executor of its scripts, the gates
`propose.check()` runs inside the loop, and the agent's repair of the gate's errors."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from beanagent.agent import Execute, Repairing
from beanagent.core import proposals as rules
from beanagent.core.gate import Fix
from beanagent.errors import BeanagentError
from beanagent.files.stage import Stages
from beanagent.gatecheck import check_verdict, format_gate_error, start_check
from beanagent.model import GateError, Proposal, StepResult
from beanagent.sandbox.runner import Sandbox
from beanagent.settings import Settings
from beanagent.statements.model import Statement

if TYPE_CHECKING:
    from beanagent.workflow import UI, Found, Loaded


Gates = Callable[[Sequence[Any]], dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class Executor:
    """Runs the agent's scripts in the sandbox; `check` is `propose.check()`'s (`check_gates`)."""

    sandbox: Sandbox
    statements: list[Statement]
    engine: dict[str, str]
    ui: UI
    gates: Gates | None = None

    def __call__(self, code: str, *, timeout: float | None = None,
                 staged: Sequence[Any] = ()) -> StepResult:
        if self.sandbox.weak:  # in a weak sandbox the user sees every script before it runs
            self.ui.script(code)
        return self.sandbox.run(code, self.statements, self.engine, timeout=timeout,
                                staged=staged)

    def check(self, proposals: Sequence[Any]) -> dict[str, Any]:
        if self.gates is None:
            return {"passed": None, "errors": ["no check is available here"]}
        return self.gates(proposals)


def step_executor(sandbox: Sandbox, loaded: Loaded, settings: Settings, ui: UI,
              gates: Gates | None = None) -> Executor:
    return Executor(sandbox, list(loaded.statements), settings.engine(), ui, gates)


def check_gates(stages: Stages, loaded: Loaded, found: Callable[[], Found], sandbox: Sandbox,
           settings: Settings) -> Gates:
    """`propose.check()`: the run's raw proposals held to the rules, staged in a temporary
    copy, bean-checked there and proven, as the loop tells the model (nothing is written)."""
    def check(raws: Sequence[Any]) -> dict[str, Any]:
        from beanagent.agent.loop import check_report  # the LLM agents' loop, theirs only

        ledger = found()
        items, rejected = rules.validate_all(raws, loaded.accounts, loaded.statements,
                                             rules.currency_places(loaded.ledger.options))
        errors: tuple[GateError, ...] = ()
        if items:
            staged, items = stages.stage(loaded.ledger, items)
            errors = check_verdict(sandbox, start_check(sandbox, loaded.ledger, staged),
                              ledger.full).errors
        return check_report([format_gate_error(e) for e in errors],
                            ledger.prove(items, loaded.statements, settings, False), rejected)

    return check


Validate = Callable[[Sequence[Any], Sequence[Proposal]], list[Proposal]]


def agent_fix(agent: Repairing, run_script: Execute, validate: Validate,
               ui: UI, spent: list[float]) -> Fix:
    """The gate's errors go back to the agent. Its answer, validated like any proposal,
    replaces what the errors point into (and what it withdraws), numbered after the rest;
    what the errors don't touch stays. None (the deterministic drop) when it has no answer.
    The time it takes is the agent's (added to `spent`)."""
    def fix(errors: Sequence[GateError], items: list[Proposal]) -> list[Proposal] | None:
        ui.status(f"the {agent.name} agent is fixing {len(errors)} bean-check error(s)")
        started = time.monotonic()
        try:
            answer = agent.repair([format_gate_error(e) for e in errors],
                                  [(i.id, i.text) for i in items], run_script, ui.step)
        except BeanagentError as exc:  # the model's API failed: what passed still stands
            ui.warn(f"the agent could not repair its proposals ({exc}); dropping what fails")
            return None
        finally:
            spent.append(time.monotonic() - started)
        if answer is None:
            return None
        out = {e.proposal for e in errors if e.proposal} | set(answer.withdrawn)
        kept = [i for i in items if i.id not in out]
        specs = {i.spec for i in kept}
        new = [i for i in validate(answer.proposals, items) if i.spec not in specs]
        # A corrected entry replaces the one that cited the same statement lines.
        cited = {r for i in new if i.spec.kind == "transaction" for r in i.spec.evidence}
        kept = [i for i in kept if i.spec.kind != "transaction"
                or not cited.intersection(i.spec.evidence)]
        first = 1 + max((int(i.id[1:]) for i in items if i.id[1:].isdigit()), default=0)
        return kept + [dataclasses.replace(i, id=f"P{first + n}") for n, i in enumerate(new)]

    return fix
