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

from beanagent.model import Decision, Proposal, RunResult, Step
from beanagent.statements.model import Statement

Answer = Callable[[list[Proposal]], list[str] | list[Decision]]


class RecordingUI:
    """Records what the workflow shows; `answer` decides approvals (default: accept all):
    the ids it accepts, or full Decisions (to edit an entry: `Decision(id, True, text)`)."""

    def __init__(self, answer: Answer | None = None):
        self.answer = answer
        self.summaries: list[RunResult] = []
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self.steps: list[Step] = []
        self.outcomes: list[RunResult] = []
        self.diffs: list[str] = []
        self.asked: list[list[Proposal]] = []

    def status(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def step(self, step: Step) -> None:
        self.steps.append(step)

    def outcome(self, outcome: RunResult) -> None:
        self.outcomes.append(outcome)

    def diff(self, text: str) -> None:
        self.diffs.append(text)

    def weak_sandbox(self, missing: list[str]) -> None:
        self.warnings.append("WEAK SANDBOX: " + "; ".join(missing))

    def script(self, code: str) -> None:
        self.messages.append("SCRIPT:\n" + code)

    def approve(self, items: list[Proposal], statements: list[Statement],
                revise: Callable[[Proposal, str], Proposal]) -> list[Decision]:
        self.asked.append(items)
        answer = self.answer(items) if self.answer else [i.id for i in items]
        if answer and all(isinstance(a, Decision) for a in answer):
            return [a for a in answer if isinstance(a, Decision)]
        return [Decision(i.id, i.id in answer) for i in items]

    def summary(self, outcome: RunResult) -> None:
        self.summaries.append(outcome)


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


STATE_DIR = ".beanagent"  # beanagent's own state beside a ledger (the audit log, ...)


def users_files(root: Path) -> list[Path]:
    """Every entry below root but beanagent's own state, which the host (never a script:
    the ledger's folder is read-only to them) writes on every run."""
    return [p for p in sorted(root.rglob("*"))
            if STATE_DIR not in p.relative_to(root).parts]


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below root (beanagent's own state aside): to prove nothing
    was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in users_files(root) if p.is_file()}


def bean_check(path: Path) -> list[str]:
    from beanagent.ledger.load import load_entries, to_ledger_errors

    _, errors, _ = load_entries(path)
    return [str(e) for e in to_ledger_errors(errors)]


REPO_ROOT = Path(__file__).resolve().parents[1]
