"""The offline agent: a deterministic policy. No key, no network.

It writes one reconciliation script (a data file in `scripts/`, identical every run) and runs
it through exactly the sandbox path an LLM's script takes. The script leans on the `engine`
global: one-to-one matching, counter-accounts from history, the closing balance.
"""

from __future__ import annotations

from importlib import resources

from beanagent.agent import Execute, OnStep
from beanagent.model import AgentRun, Task


def offline_script() -> str:
    return resources.files("beanagent.agent").joinpath("scripts/offline.py").read_text("utf-8")


class OfflineAgent:
    name = "offline"

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        run = AgentRun(self.name)
        code = offline_script()
        on_step(run.add_step(code, execute(code)))
        last = run.steps[-1].result
        run.summary = last.output.strip() if last.ok else (last.error or "script failed")
        return run
