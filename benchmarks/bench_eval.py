"""Compare agent configurations on generated scenarios with an answer key.

Each configuration is the agent's name and any further `beanagent reconcile` flags, as one
string: `offline`, `"anthropic --model claude-sonnet-4-5"`, `"anthropic --actions json"`,
`"openai --base-url http://localhost:11434/v1 --model qwen2.5-coder"`. Every configuration
runs on every scenario of the grid (benchmarks/scenarios.py; the runs of one scenario are
interleaved so machine noise hits them alike), through the CLI with `--dry-run --json`, and
is graded by `scenarios.score`. Per configuration it prints recall, precision and
counter-account accuracy, the proof's findings (proposals it refused and flagged, from
the report's `proof`), steps, tokens (input/output), estimated cost, wall time per
scenario and the failed runs (non-zero exit, graded as delivering nothing), and writes
every figure to a JSON file. A configuration whose API key is missing is skipped with a
line saying so; the benchmark itself never fails.

Usage: python -m benchmarks.bench_eval [--agents offline "anthropic --actions json" …]
[--seeds 1 2] [--sources sample example] [--limit N] [--timeout S] [--out FILE] [-v]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.common import DATA
from benchmarks.scenario_run import (
    USAGE_FIELDS,
    Run,
    Scenario,
    agent_args,
    grid,
    prepare,
    run_agent,
)
from benchmarks.scenarios import SOURCES, Score

# The key each LLM agent needs; `openai` pointed at a local server (--base-url) needs none.
KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def skip_reason(config: str) -> str | None:
    """Why this configuration cannot run here (a missing key), or None."""
    args = agent_args(config)
    name = args[1]
    key = KEYS.get(name)
    if key is None or os.environ.get(key):
        return None
    if name == "openai" and any(a.split("=")[0] == "--base-url" for a in args):
        return None
    return f"{key} is not set (export it to evaluate this agent)"


def evaluate(configs: Sequence[str], scenarios: Sequence[Scenario], root: Path,
             timeout: float | None = None,
             on_run: Callable[[str, Run], None] | None = None) -> dict[str, list[Run]]:
    """Every configuration on every scenario; runs of one scenario back to back."""
    runs: dict[str, list[Run]] = {c: [] for c in configs}
    for scenario in scenarios:
        out, truth = prepare(scenario, root)
        for config in configs:
            run = run_agent(out, truth, scenario, config, timeout)
            runs[config].append(run)
            if on_run is not None:
                on_run(config, run)
    return runs


def summarise(runs: Sequence[Run]) -> dict[str, Any]:
    total = Score()
    for r in runs:
        total.add(r.score)
    n = max(1, len(runs))
    out: dict[str, Any] = {
        "runs": len(runs), "failed": sum(r.failed for r in runs),
        "recall": total.recall, "precision": total.precision,
        "counter_accuracy": total.counter_accuracy,
        "true_positive": total.true_positive, "to_propose": total.to_propose,
        "proposed": total.proposed, "counter_right": total.counter_right,
        "counter_seen": total.counter_seen, "novel_flagged": total.novel_flagged,
        "novel": total.novel, "duplicates_flagged": total.duplicates_flagged,
        "duplicates": total.duplicates,
        "steps_per_run": sum(r.steps for r in runs) / n,
        "wall_seconds_per_run": sum(r.wall_seconds for r in runs) / n,
        "wall_seconds_total": sum(r.wall_seconds for r in runs),
    }
    reported = [r for r in runs if r.usage is not None]
    for field in USAGE_FIELDS:
        out[field] = sum(r.tokens(field) or 0 for r in reported) if reported else None
    costs = [c for c in (r.cost_usd for r in runs) if c is not None]
    out["cost_usd"] = sum(costs, Decimal(0)) if costs else None
    rounds = [r.agent["rounds"] for r in runs if isinstance(r.agent.get("rounds"), int)]
    out["rounds_per_run"] = sum(rounds) / len(rounds) if rounds else None
    proofs = [r.proof for r in runs if r.proof is not None]  # runs that made a report
    for field in ("refused", "flagged", "findings", "unbooked"):
        out[f"proof_{field}"] = sum(getattr(p, field) for p in proofs) if proofs else None
    return out


def _ratio(value: float, num: int, den: int) -> str:
    return f"{value:.3f} {num}/{den}" if den else f"  -   {num}/{den}"


def format_run(config: str, run: Run, width: int) -> str:
    s = run.score
    tokens = (f"{run.tokens('input_tokens')}/{run.tokens('output_tokens')} tok"
              if run.usage is not None else "")
    proof = (f"  proof {run.proof.refused} refused, {run.proof.flagged} flagged"
             if run.proof is not None else "")
    text = (f"{run.scenario.name:<38} {config:<{width}}"
            f"  recall {_ratio(s.recall, s.true_positive, s.to_propose)}"
            f"  precision {_ratio(s.precision, s.true_positive, s.proposed)}"
            f"  counter {_ratio(s.counter_accuracy, s.counter_right, s.counter_seen)}"
            f"{proof}  steps {run.steps}  {tokens}  {run.wall_seconds:.2f} s")
    if run.failed:
        how = "timeout" if run.exit_code is None else f"exit {run.exit_code}"
        why = run.error.splitlines()[-1] if run.error else ""
        text += f"\n    FAILED ({how}): {why}"
    return text


def format_table(summaries: dict[str, dict[str, Any]], skipped: dict[str, str]) -> str:
    width = max([len("agent"), *map(len, summaries), *map(len, skipped)])
    head = (f"{'agent':<{width}}  runs  fail  {'recall':<15} {'precision':<15} "
            f"{'counter':<15} {'proof ref/flag':<14} steps  {'tokens in/out':<17} "
            f"{'cost $':>8}  s/run")
    rows = [head, "-" * len(head)]
    for config, m in summaries.items():
        tokens = ("-" if m["input_tokens"] is None
                  else f"{m['input_tokens']}/{m['output_tokens']}")
        cost = "-" if m["cost_usd"] is None else f"{m['cost_usd']:.4f}"
        proof = ("-" if m.get("proof_refused") is None
                 else f"{m['proof_refused']}/{m['proof_flagged']}")
        rows.append(
            f"{config:<{width}}  {m['runs']:>4}  {m['failed']:>4}  "
            f"{_ratio(m['recall'], m['true_positive'], m['to_propose']):<15} "
            f"{_ratio(m['precision'], m['true_positive'], m['proposed']):<15} "
            f"{_ratio(m['counter_accuracy'], m['counter_right'], m['counter_seen']):<15} "
            f"{proof:<14} {m['steps_per_run']:>5.1f}  {tokens:<17} {cost:>8}  "
            f"{m['wall_seconds_per_run']:.2f}")
    rows += [f"{config:<{width}}  skipped: {why}" for config, why in skipped.items()]
    return "\n".join(rows) + "\n"


def _run_json(run: Run) -> dict[str, Any]:
    s = run.score
    return {"scenario": run.scenario.name, "exit_code": run.exit_code,
            "wall_seconds": round(run.wall_seconds, 3), "recall": s.recall,
            "precision": s.precision, "counter_accuracy": s.counter_accuracy,
            "true_positive": s.true_positive, "to_propose": s.to_propose,
            "proposed": s.proposed, "missed": s.missed, "false": s.false,
            "wrong_counter": s.wrong_counter, "agent": run.agent, "error": run.error or None,
            "proof": dataclasses.asdict(run.proof) if run.proof is not None else None}


def results(runs: dict[str, list[Run]], skipped: dict[str, str],
            scenarios: Sequence[Scenario], argv: Sequence[str]) -> dict[str, Any]:
    return {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": list(argv),
        "scenarios": [s.name for s in scenarios],
        "agents": [{"config": c, "args": agent_args(c), "skipped": None,
                    "summary": summarise(r), "runs": [_run_json(x) for x in r]}
                   for c, r in runs.items()]
        + [{"config": c, "args": agent_args(c), "skipped": why, "summary": None, "runs": []}
           for c, why in skipped.items()],
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", nargs="+", default=["offline"],
                    help="agent configurations: a name and reconcile flags, one string each")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--sources", nargs="+", choices=sorted(SOURCES), default=["sample"])
    ap.add_argument("--limit", type=int, help="only the first N scenarios of the grid")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--work", type=Path, default=DATA / "eval",
                    help="where the scenarios are generated")
    ap.add_argument("--out", type=Path, help="results file (default: WORK/results.json)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = ap.parse_args(argv)
    skipped = {c: why for c in args.agents if (why := skip_reason(c)) is not None}
    for config, why in skipped.items():
        print(f"skipping {config!r}: {why}")
    configs = [c for c in args.agents if c not in skipped]
    scenarios = grid(args.sources, args.seeds)[:args.limit]
    width = max(map(len, configs), default=0)

    def show(config: str, run: Run) -> None:
        print(format_run(config, run, width), flush=True)
        if args.verbose:
            for what in ("false", "missed", "wrong_counter"):
                for item in getattr(run.score, what):
                    print(f"    {what}: {item}")

    runs = evaluate(configs, scenarios, args.work, args.timeout, show)
    print()
    print(format_table({c: summarise(r) for c, r in runs.items()}, skipped), end="")
    data = results(runs, skipped, scenarios, sys.argv[1:] if argv is None else argv)
    out = args.out or args.work / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")  # Decimal cost: a string
    print(f"results written to {out}")
    return data


if __name__ == "__main__":
    main()
