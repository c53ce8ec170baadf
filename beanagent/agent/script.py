"""`beanagent run`: a script written by hand (or saved from an agent run), or the scripts
of a logged run, as the agent."""

from __future__ import annotations

from beanagent.agent import Execute, OnStep
from beanagent.model import AgentRun, Task


class ScriptAgent:
    name = "script"
    manual = True  # a person wrote it: the proof flags an unbacked entry instead of refusing it

    def __init__(self, code: str, source: str):
        self.code = code
        self.source = source

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        run = AgentRun(f"script:{self.source}")
        on_step(run.add_step(self.code, execute(self.code)))
        return run


class ReplayAgent:
    """`beanagent run --from-log RUN_ID`: the scripts of a logged run, in their order, with
    no model. Each runs in a fresh sandboxed child, as it did then."""

    def __init__(self, scripts: list[str], run_id: str):
        self.scripts = scripts
        self.name = f"replay:{run_id}"

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        run = AgentRun(self.name)
        for code in self.scripts:  # each sees the earlier ones' proposals, as it did then
            on_step(run.add_step(code, execute(code, staged=list(run.proposals))))
        return run
