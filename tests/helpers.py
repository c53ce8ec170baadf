"""Test doubles that are real parts: a UI that records and answers like a person would,
and a runner for the installed `beanagent` command as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beanagent.agent import Step
from beanagent.report import Outcome
from beanagent.stage import Item
from beanagent.statements.model import Statement


class RecordingUI:
    """Records what the workflow shows; `answer` decides approvals (default: accept all)."""

    def __init__(self, answer: Callable[[list[Item]], list[str]] | None = None):
        self.answer = answer
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self.steps: list[Step] = []
        self.outcomes: list[Outcome] = []
        self.diffs: list[str] = []
        self.asked: list[list[Item]] = []

    def status(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def step(self, step: Step) -> None:
        self.steps.append(step)

    def outcome(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def diff(self, text: str) -> None:
        self.diffs.append(text)

    def weak_sandbox(self, missing: list[str]) -> None:
        self.warnings.append("WEAK SANDBOX: " + "; ".join(missing))

    def script(self, code: str) -> None:
        self.messages.append("SCRIPT:\n" + code)

    def approve(self, items: list[Item], statements: list[Statement]) -> list[str]:
        self.asked.append(items)
        return self.answer(items) if self.answer else [i.id for i in items]


def run_cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m beanagent ARGS` in a subprocess, stdin not a terminal."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "160"})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "beanagent", *map(str, args)], cwd=cwd,
                          env=full_env, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout)


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below root: to prove nothing was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def bean_check(path: Path) -> list[str]:
    from beanagent.load import load_entries, to_ledger_errors

    _, errors, _ = load_entries(path)
    return [str(e) for e in to_ledger_errors(errors)]


REPO_ROOT = Path(__file__).resolve().parents[1]
