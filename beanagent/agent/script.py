"""`beanagent run`: a script written by hand (or saved from an agent run) as the agent."""

from __future__ import annotations

from beanagent.agent import AgentRun, Execute, OnStep, Task


class ScriptAgent:
    name = "script"

    def __init__(self, code: str, source: str):
        self.code = code
        self.source = source

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        run = AgentRun(f"script:{self.source}")
        on_step(run.add_step(self.code, execute(self.code)))
        return run
