"""Agents write reconciliation scripts; the host runs them in the sandbox.

An agent gets a `Task` and an `execute(code) -> StepResult` callable (the sandbox) and
returns an `AgentRun`: every step it took and the proposals its scripts made. The offline
agent and the LLM agents share this path, so the review never depends on who wrote a script.

An agent that can learn from the bean-check gate (the LLM agents) also has `repair`: after
its run, the gate's new errors go back to it and it answers with a `Repair` (the proposals
of that round, and the earlier ones it withdraws); one that can't is simply not `Repairing`,
and the workflow drops what fails instead (beanagent.repair).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from beanagent.model import AgentRun, Step, StepResult, Task


def _key(raw: Any) -> str:
    """Proposals are plain JSON values: equal values have equal canonical text."""
    return json.dumps(raw, sort_keys=True, default=str)


class Execute(Protocol):
    """Runs one script in the sandbox. `timeout`: a shorter limit than the step's own (the
    time an agent has left); `staged`: the raw proposals of the run's earlier steps, which
    the script sees as `propose.staged`."""

    def __call__(self, code: str, *, timeout: float | None = None,
                 staged: Sequence[Any] = ()) -> StepResult: ...


@runtime_checkable
class Checks(Protocol):
    """An `Execute` that can also run both gates on raw proposals for `propose.check()`:
    stage them, bean-check the staged copy and prove them, and say what it found as JSON
    values (`passed`, `errors`, `findings`, `unbooked`, `rejected`)."""

    def check(self, proposals: Sequence[Any]) -> dict[str, Any]: ...


OnStep = Callable[[Step], None]


class Agent(Protocol):
    name: str

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun: ...


@dataclasses.dataclass(frozen=True)
class Repair:
    """An agent's answer to the gate's errors: the raw proposals its scripts made in that
    round (validated again by the host, like any), and the ids of earlier proposals it
    withdraws. Proposals an error points into are withdrawn anyway, unless proposed again."""

    proposals: list[Any]
    withdrawn: tuple[str, ...] = ()


@runtime_checkable
class Repairing(Protocol):
    name: str

    def repair(self, errors: list[str], staged: list[tuple[str, str]], execute: Execute,
               on_step: OnStep) -> Repair | None:
        """`errors`: the gate's new errors as `file:line: message (proposal P3)`; `staged`:
        (id, entry text) of every proposal as checked. None: no repair (a bound was already
        reached, or the agent has no conversation to continue). Runs on the same run: its
        steps and messages are added to the `AgentRun` that `run` returned."""
        ...
