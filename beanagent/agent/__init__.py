"""Agents write reconciliation scripts; the host runs them in the sandbox.

An agent gets a `Task` and an `execute(code) -> StepResult` callable (the sandbox) and
returns an `AgentRun`: every step it took and the proposals its scripts made. The offline
agent and the LLM agents share this path, so the review never depends on who wrote a script.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Protocol

from beanagent.sandbox.runner import StepResult
from beanagent.statements.model import Statement


@dataclasses.dataclass(frozen=True)
class Task:
    statements: tuple[Statement, ...]
    review_account: str
    facts: str = ""  # a summary of the ledger, for agents that read prose


@dataclasses.dataclass(frozen=True)
class Step:
    """One script run, as the agent saw it (easy to log, render and test)."""

    index: int
    code: str
    result: StepResult


@dataclasses.dataclass
class AgentRun:
    name: str
    steps: list[Step] = dataclasses.field(default_factory=list)
    proposals: list[Any] = dataclasses.field(default_factory=list)  # raw, unvalidated
    summary: str = ""
    usage: dict[str, Any] | None = None

    def add_step(self, code: str, result: StepResult) -> Step:
        """Record a step; a step that failed contributes no proposals (its state is
        partial), and a proposal identical to an earlier one is kept once."""
        step = Step(len(self.steps) + 1, code, result)
        self.steps.append(step)
        if result.ok:
            seen = {_key(raw) for raw in self.proposals}
            for raw in result.proposals:
                key = _key(raw)
                if key not in seen:
                    seen.add(key)
                    self.proposals.append(raw)
        return step

    @property
    def scripts(self) -> list[str]:
        return [s.code for s in self.steps if s.result.ok]


def _key(raw: Any) -> str:
    """Proposals are plain JSON values: equal values have equal canonical text."""
    return json.dumps(raw, sort_keys=True, default=str)


Execute = Callable[[str], StepResult]
OnStep = Callable[[Step], None]


class Agent(Protocol):
    name: str

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun: ...
