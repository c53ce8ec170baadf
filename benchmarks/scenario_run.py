"""Run one agent configuration on one generated scenario through the CLI, and grade it.

Shared by bench_accuracy (the offline agent over the whole grid) and bench_eval (any agents,
side by side). A run is `beanagent reconcile ledger.beancount <statements> --dry-run --json
--agent NAME [extra flags]` in the scenario's folder, graded by `scenarios.score`. A run that
exits non-zero (or times out) delivered nothing: it is graded as an empty report, so its
lines count as missed. The agent's figures (steps, tokens, cost, rounds) come from the
report's `agent` object (a failed run's report has it when its agent ran), read
defensively, and where it lacks them from the run's audit log record, which is also
written for runs that fail.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, bench_env
from benchmarks.scenarios import Score, build, scenarios, score

AUDIT_FILE = ".eval-audit.jsonl"  # one log per run, in the scenario's folder
EMPTY_REPORT: dict[str, Any] = {"proposals": [], "unmatched_ledger": [], "balance": None}
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens")


@dataclasses.dataclass(frozen=True)
class Scenario:
    source: str
    seed: int
    checking: str
    card: str

    @property
    def name(self) -> str:
        return f"{self.source} seed {self.seed} {self.checking}+{self.card}"

    @property
    def folder(self) -> str:
        return f"{self.source}-{self.seed}-{self.checking}-{self.card}"


def grid(sources: Sequence[str], seeds: Sequence[int]) -> list[Scenario]:
    return [Scenario(*s) for s in scenarios(sources, seeds)]


def prepare(scenario: Scenario, root: Path) -> tuple[Path, dict[str, Any]]:
    """Generate the scenario's folder (ledger, statements, truth); returns it and the truth."""
    out = root / scenario.folder
    truth = build(scenario.source, scenario.seed, out, scenario.checking, scenario.card)
    return out, truth


@dataclasses.dataclass(frozen=True)
class Proofed:
    """The reconciliation proof's verdicts in one report: proposals it refused (never
    reviewed), flagged (shown in red, never accepted by --yes), its findings in all, and
    the statement lines it still counts as unbooked."""

    refused: int = 0
    flagged: int = 0
    findings: int = 0
    unbooked: int = 0

    @classmethod
    def from_report(cls, report: dict[str, Any] | None) -> Proofed | None:
        proof = (report or {}).get("proof")
        if not isinstance(proof, dict):
            return None
        items = [p for p in proof.get("proposals") or [] if isinstance(p, dict)]
        statements = [s for s in proof.get("statements") or [] if isinstance(s, dict)]
        return cls(refused=sum(bool(p.get("refused")) for p in items),
                   flagged=sum(bool(p.get("flagged")) for p in items),
                   findings=sum(len(p.get("findings") or []) for p in items),
                   unbooked=sum(len(s.get("unbooked") or []) for s in statements))


@dataclasses.dataclass
class Run:
    """One agent on one scenario: the grade, the clock, and what the agent reported."""

    scenario: Scenario
    score: Score
    wall_seconds: float
    exit_code: int | None  # None: killed at the timeout
    agent: dict[str, Any]  # the report's `agent` object, completed from the audit log
    error: str = ""  # the end of stderr, when the run failed
    proof: Proofed | None = None  # what the report's proof found (None: no report)

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    @property
    def steps(self) -> int:
        steps = self.agent.get("steps")
        return len(steps) if isinstance(steps, list) else int(steps or 0)

    @property
    def usage(self) -> dict[str, Any] | None:
        usage = self.agent.get("usage")
        return usage if isinstance(usage, dict) else None

    def tokens(self, field: str) -> int | None:
        return None if self.usage is None else int(self.usage.get(field) or 0)

    @property
    def cost_usd(self) -> Decimal | None:
        cost = self.usage.get("cost_usd") if self.usage else None
        return None if cost is None or isinstance(cost, bool) else Decimal(str(cost))


def agent_args(config: str | Sequence[str]) -> list[str]:
    """`"anthropic --model X"` or `["anthropic", "--model", "X"]` → reconcile's flags."""
    import shlex

    words = shlex.split(config) if isinstance(config, str) else list(config)
    if not words:
        raise ValueError("an agent configuration needs at least the agent's name")
    return ["--agent", words[0], *words[1:]]


def run_agent(out: Path, truth: dict[str, Any], scenario: Scenario,
              config: str | Sequence[str], timeout: float | None = None) -> Run:
    """Reconcile the scenario in `out` with one agent configuration and grade the report."""
    files = [st["file"] for st in truth["statements"]]
    audit = out / AUDIT_FILE
    audit.unlink(missing_ok=True)
    env = {**bench_env(), "BEANAGENT_AUDIT_LOG": str(audit)}
    # --no-cache: each scenario's ledger is new (a miss that would only add a cache file)
    cmd = [str(BIN / "beanagent"), "reconcile", "ledger.beancount", *files, "--dry-run",
           "--json", "--no-cache", *agent_args(config)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True,
                              timeout=timeout)
        code: int | None = proc.returncode
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout = None, ""
        stderr = _text(exc.stderr) + f"\ntimed out after {timeout:g} s"
    elapsed = time.perf_counter() - start
    # A failed run's report (one with `error`) still says what its agent did and cost;
    # what it proposed counts for nothing.
    report = _report(stdout)
    info = _agent_info(report, _last_record(audit))
    graded = score(truth, report if code == 0 and report else EMPTY_REPORT)
    error = "" if code == 0 else stderr.strip()[-2000:] or f"exit {code}, no message"
    return Run(scenario, graded, elapsed, code, info, error, Proofed.from_report(report))


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _report(stdout: str) -> dict[str, Any] | None:
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) else None


def _last_record(path: Path) -> dict[str, Any]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[-1]) if lines else {}
    except (OSError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _agent_info(report: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """The report's agent object over the audit record's: the report is the contract, the
    log fills in what the report does not carry (yet) and speaks for runs that failed."""
    logged = record.get("agent")
    info = dict(logged) if isinstance(logged, dict) else {}
    reported = (report or {}).get("agent")
    if isinstance(reported, dict):
        info.update({k: v for k, v in reported.items() if v is not None})
    if isinstance(info.get("steps"), list):
        info["steps"] = len(info["steps"])
    info.pop("messages", None)
    if isinstance(info.get("summary"), str):
        info["summary"] = info["summary"][:300]
    return info
