"""The evaluation harness (benchmarks/bench_eval.py): the offline agent graded exactly as
`scenarios.score` grades it, the anthropic agent through the real SDK against a fake
Messages API, and worse scripted models scored as worse."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from beanagent.agent.facts import worked_example
from beanagent.agent.offline import offline_script
from benchmarks import bench_eval
from benchmarks.scenario_run import Proofed, Run, _agent_info, grid
from benchmarks.scenarios import Score, score
from tests.fake_anthropic import FakeAnthropic, serve, tool_use
from tests.helpers import report, run_cli_in_process

# The first scenario of the default grid (sample, seed 1), one of each kind of damage.
FIRST = grid(["sample"], [1])[0]


def evaluate(tmp_path: Path, *agents: str) -> dict[str, Any]:
    return bench_eval.main(["--agents", *agents, "--limit", "1", "--work", str(tmp_path),
                            "--out", str(tmp_path / "results.json")])


def by_config(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["config"]: a for a in results["agents"]}


def test_offline_figures_are_the_graders(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    results = evaluate(tmp_path, "offline", "anthropic --model claude-sonnet-4-5")
    printed = capsys.readouterr().out
    # No key: the LLM configuration is skipped with a line saying why, and nothing fails.
    assert ("skipping 'anthropic --model claude-sonnet-4-5': ANTHROPIC_API_KEY is not set"
            in printed)
    agents = by_config(results)
    assert agents["anthropic --model claude-sonnet-4-5"]["skipped"]
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert results["scenarios"] == [FIRST.name]
    offline = agents["offline"]["summary"]
    assert offline["runs"] == 1 and offline["failed"] == 0
    assert offline["steps_per_run"] == 1 and offline["input_tokens"] is None
    assert offline["wall_seconds_per_run"] > 0
    # The same scenario reconciled and graded by hand gives the same figures.
    out = tmp_path / FIRST.folder
    truth = json.loads((out / "truth.json").read_text())
    proc = run_cli_in_process("reconcile", "ledger.beancount",
                              *[st["file"] for st in truth["statements"]], "--dry-run", "--json",
                              cwd=out)
    s = score(truth, report(proc))
    assert s.to_propose > 10
    assert (offline["recall"], offline["precision"], offline["counter_accuracy"]) == (
        s.recall, s.precision, s.counter_accuracy)
    assert (offline["true_positive"], offline["proposed"], offline["counter_right"]) == (
        s.true_positive, s.proposed, s.counter_right)
    for heading in ("recall", "precision", "counter", "tokens in/out", "cost $", "s/run"):
        assert heading in printed


def test_anthropic_running_the_offline_script_scores_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that knows only the prompt: it runs the worked example exactly as the
    system prompt shows it, then finishes. On a generated scenario that is two requests,
    one step, the offline agent's figures, and a proof that refuses nothing."""
    example = worked_example()
    assert example.strip() in offline_script()
    fake = FakeAnthropic([tool_use("run_python", {"code": example}, 1),
                          tool_use("finish", {"summary": "booked what the rules found"}, 2)])
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        results = evaluate(tmp_path, "offline", "anthropic --model fake-model")
    agents = by_config(results)
    offline, llm = agents["offline"]["summary"], agents["anthropic --model fake-model"]
    assert llm["skipped"] is None
    assert fake.requests[0]["model"] == "fake-model"  # the extra flags reached the CLI
    summary = llm["summary"]
    assert summary["failed"] == 0 and summary["steps_per_run"] == 1
    # Two requests, each reported by the fake server as 100 tokens in and 20 out.
    assert (summary["input_tokens"], summary["output_tokens"]) == (200, 40)
    assert llm["runs"][0]["agent"]["name"] == "anthropic"
    for figure in ("recall", "precision", "counter_accuracy", "true_positive", "proposed"):
        assert summary[figure] == offline[figure], figure
    assert summary["recall"] == 1.0
    assert f"```python\n{example}\n```" in fake.requests[0]["system"][0]["text"]
    assert len(fake.requests) == 2
    assert summary["proof_refused"] == offline["proof_refused"] == 0


@pytest.mark.parametrize("replies, failed", [
    ([tool_use("run_python", {"code": "print('nothing to book')"}, 1),
      tool_use("finish", {"summary": "all fine"}, 2)], 0),
    ([tool_use("finish", {"summary": "all fine"}, 1)], 1),  # never ran a script: exit 5
], ids=["proposes-nothing", "runs-nothing"])
def test_a_worse_model_scores_worse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    replies: list[Any], failed: int) -> None:
    with serve(FakeAnthropic(replies)) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        results = evaluate(tmp_path, "anthropic")
    (agent,) = results["agents"]
    summary = agent["summary"]
    assert summary["recall"] == 0.0 and summary["true_positive"] == 0
    assert summary["to_propose"] > 10 and summary["proposed"] == 0
    assert summary["failed"] == failed
    run = agent["runs"][0]
    assert len(run["missed"]) == summary["to_propose"]
    if failed:
        assert run["exit_code"] == 5 and "ran no script (it finished)" in run["error"]
        # its report still says what the model cost: one request of 100 tokens in, 20 out
        assert (summary["input_tokens"], summary["output_tokens"]) == (100, 20)


def test_the_reports_agent_figures_win_over_the_logs() -> None:
    logged = {"agent": {"name": "anthropic", "model": "m", "steps": [{}, {}, {}],
                        "usage": {"input_tokens": 1, "output_tokens": 2}, "messages": ["…"]}}
    reported = {"agent": {"name": "anthropic", "steps": 3, "seconds": 1.5, "rounds": 2,
                          "usage": {"input_tokens": 10, "output_tokens": 20,
                                    "cost_usd": 0.25}}}
    info = _agent_info(reported, logged)
    assert info == {"name": "anthropic", "model": "m", "steps": 3, "seconds": 1.5, "rounds": 2,
                    "usage": {"input_tokens": 10, "output_tokens": 20, "cost_usd": 0.25}}
    # A failed run has no report: the log speaks for it.
    assert _agent_info(None, logged)["steps"] == 3
    assert _agent_info(None, {}) == {}


def test_summary_adds_up_tokens_cost_and_rounds() -> None:
    def run(usage: dict[str, Any] | None, rounds: int | None, code: int | None) -> Run:
        agent = {"name": "x", "steps": 2, "usage": usage, "rounds": rounds}
        return Run(FIRST, Score(to_propose=4, proposed=2, true_positive=2), 3.0, code, agent)

    usage = {"input_tokens": 1000, "output_tokens": 50, "cache_read_input_tokens": 900,
             "cache_creation_input_tokens": 0, "cost_usd": "0.0125"}
    summary = bench_eval.summarise([run(usage, 1, 0), run(usage, 3, 0), run(None, None, None)])
    assert summary["runs"] == 3 and summary["failed"] == 1
    assert (summary["input_tokens"], summary["output_tokens"]) == (2000, 100)
    assert summary["cache_read_input_tokens"] == 1800
    assert summary["cost_usd"] == Decimal("0.025")
    assert summary["rounds_per_run"] == 2 and summary["steps_per_run"] == 2
    assert summary["recall"] == 0.5 and summary["wall_seconds_per_run"] == 3.0
    table = bench_eval.format_table({"x": summary}, {"y": "no key"})
    assert "0.0250" in table and "2000/100" in table and "skipped: no key" in table


def test_the_proofs_findings_per_configuration() -> None:
    """bench_eval counts what the report's proof refused and flagged, per configuration."""
    proof = {"passed": False, "statements": [{"unbooked": [{"file": "a.csv", "line": 4}]}],
             "proposals": [
                 {"id": "P1", "refused": False, "flagged": False, "findings": []},
                 {"id": "P2", "refused": False, "flagged": True,
                  "findings": [{"rule": "plausible", "refused": False}]},
                 {"id": "P3", "refused": True, "flagged": False,
                  "findings": [{"rule": "backed", "refused": True},
                               {"rule": "once", "refused": True}]}]}
    proofed = Proofed.from_report({"proof": proof})
    assert proofed == Proofed(refused=1, flagged=1, findings=3, unbooked=1)
    assert Proofed.from_report(None) is None and Proofed.from_report({"proof": None}) is None

    def run(p: Proofed | None, code: int) -> Run:
        return Run(FIRST, Score(to_propose=4, proposed=3, true_positive=2), 1.0, code,
                   {"name": "x", "steps": 2}, proof=p)

    summary = bench_eval.summarise([run(proofed, 0), run(proofed, 0), run(None, 5)])
    assert (summary["proof_refused"], summary["proof_flagged"], summary["proof_findings"],
            summary["proof_unbooked"]) == (2, 2, 6, 2)
    table = bench_eval.format_table({"x": summary, "y": bench_eval.summarise([run(None, 5)])},
                                    {})
    head, _, x, y = table.splitlines()
    at = head.index("proof ref/flag")  # the column: refused/flagged; "-" without a report
    assert (x[at:at + 14].strip(), y[at:at + 14].strip()) == ("2/2", "-")
    assert "proof 1 refused, 1 flagged" in bench_eval.format_run("x", run(proofed, 0), 1)
