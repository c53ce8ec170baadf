"""Both LLM agents end to end, each with its real client talking HTTP to a fake server on
127.0.0.1: the Messages API through the anthropic SDK, Chat Completions through urllib.
Every test runs once per protocol (tests/dialects.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from beanagent.errors import AgentError
from beanagent.runlog.audit import Trail
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.dialects import DIALECTS, IDS, KEY
from tests.fake_anthropic import FakeAPI, serve
from tests.helpers import RecordingUI, bean_check, report, run_cli, run_cli_in_process, tree_hashes

ACCOUNT = "Assets:Bank:Checking"
BROKEN = "for st in statements:\n    result = engine.match(st)\n    print(undefined_name)\n"
GOOD = """\
for st in statements:
    result = engine.match(st)
    for line in result.missing:
        guess = engine.suggest(st, line)
        if guess.account == "Expenses:FIXME":
            continue
        propose.transaction(line.date, guess.payee, line.description,
                            [(st.account, line.amount, st.currency), (guess.account,)],
                            evidence=[line], meta=engine.bank_meta(st, line),
                            confidence=guess.confidence, reason="from history")
    print(len(result.missing), "missing")
"""
# The statement's closing balance can't hold (a duplicate in the ledger, a line left out):
# the gate says what the ledger accumulates, and the fix asserts that.
WRONG_BALANCE = GOOD + ('st = statements[0]\npropose.balance(st.account, date(2024, 3, 9), '
                        '"9999.00 USD")\n')
FIXED_BALANCE = ('st = statements[0]\npropose.balance(st.account, date(2024, 3, 9), '
                 '"2854.48 USD", reason="what the ledger holds; see the duplicate")\n')

pytestmark = pytest.mark.parametrize("d", DIALECTS, ids=IDS)


def run(books: Path, d: Any, fake: FakeAPI, ui: RecordingUI | None = None,
        trail: bool = False, **options: Any) -> Any:
    """reconcile in-process with d's agent on the fake server."""
    agent_kw = {k: options.pop(k) for k in list(options)
                if k in ("max_steps", "max_tokens_total", "max_seconds", "request_timeout",
                         "actions", "model")}
    agent = d.agent(fake.url, **agent_kw)
    opts = load_settings(books / "books.beancount", account=ACCOUNT, **options)
    ui = ui or RecordingUI()
    paths = [books / "march.csv"]
    if not trail:
        return reconcile(books / "books.beancount", paths, agent, opts, ui)
    with Trail("reconcile", books / "books.beancount", paths, opts, ui, agent) as t:
        out = reconcile(books / "books.beancount", paths, agent, opts, t.ui, on_load=t.loaded)
        t.done(out)
    return out


def test_fixes_a_traceback_then_finishes_and_commits_with_its_transcript_logged(
        books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": BROKEN}, 1),
                    d.call("run_python", {"code": GOOD}, 2),
                    d.call("finish", {"summary": "booked 3 lines"}, 3)])
    with serve(fake):
        out = run(books, d, fake, trail=True, yes=True)
    assert out.committed and bean_check(books / "books.beancount") == []
    agent = out.agent
    assert [s.result.ok for s in agent.steps] == [False, True]
    assert agent.summary == "booked 3 lines" and len(out.proposals) == 3
    assert (agent.usage["input_tokens"], agent.usage["output_tokens"]) == (300, 60)
    assert agent.usage["cost_usd"] is None  # fake-model has no price
    # The traceback went back as an error observation, then the proposal count.
    [(first, failed)] = d.results(fake.requests[1])
    assert failed and "NameError" in first and "undefined_name" in first
    [(second, failed)] = d.results(fake.requests[2])
    assert not failed and json.loads(second)["proposals_so_far"] == 3
    # The transcript: the system prompt once, then every message, scripts and outputs.
    roles = [m["role"] for m in agent.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool",
                     "assistant", "tool"]
    assert "<statement-data>" in agent.messages[0]["content"]
    assert agent.messages[4]["calls"][0]["input"] == {"code": GOOD}
    assert "4 missing" in agent.messages[5]["content"]
    # ... and the audit record carries it; the key is nowhere (it was never in the
    # environment, so nothing could have scrubbed it: absent for real).
    log = books / ".beanagent" / "log" / "audit.jsonl"
    record = json.loads(log.read_text())
    assert record["agent"]["messages"] == json.loads(json.dumps(agent.messages))
    assert record["agent"]["usage"]["input_tokens"] == 300
    assert KEY not in log.read_text() and "[redacted]" not in log.read_text()
    assert KEY not in json.dumps(agent.messages)
    assert not any(KEY.encode() in body for body in fake.raw)  # only in the auth header


def test_a_gate_failure_goes_back_and_is_fixed_in_the_next_round(books: Path, d: Any) -> None:
    """The wrong balance fails bean-check and the proof (it is not the statement's closing
    balance); both go back to the model, which withdraws it in the next round."""
    fake = FakeAPI([d.call("run_python", {"code": WRONG_BALANCE}, 1),
                    d.call("finish", {"summary": "done"}, 2),
                    d.call("finish", {"summary": "balance withdrawn", "withdraw": ["P4"]}, 3)])
    ui = RecordingUI()
    with serve(fake):
        out = run(books, d, fake, ui, yes=True)
    # the request after finish holds the gate's error, pinned on the balance proposal
    feedback = d.last_text(fake.requests[2])
    assert "Balance failed for 'Assets:Bank:Checking'" in feedback
    assert "9999.00 USD" in feedback and "(proposal P4)" in feedback
    assert "backed: balance 9999.00 USD on 2024-03-09 is not the statement's closing" \
        in feedback
    assert "P4:\n  2024-03-09 balance Assets:Bank:Checking" in feedback
    assert out.agent.rounds == 1 and out.agent.summary == "balance withdrawn"
    assert out.committed and out.gate.passed and out.dropped == ()
    assert [i.id for i in out.proposals] == ["P1", "P2", "P3"]
    assert not any("dropped" in w for w in ui.warnings)  # the model fixed it, not the drop
    assert "9999.00" not in (books / "books.beancount").read_text()
    assert bean_check(books / "books.beancount") == []


def test_step_limit_ends_the_run_and_keeps_valid_work(books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": GOOD}, i) for i in range(5)])
    ui = RecordingUI()
    with serve(fake):
        out = run(books, d, fake, ui, max_steps=2, dry_run=True)
    assert len(out.agent.steps) == 2 and out.agent.stopped == "steps"
    assert "step limit (2 steps)" in out.agent.summary
    assert len(out.proposals) == 3  # identical proposals from both steps kept once
    assert len(fake.requests) == 2
    assert any("agent stopped after the step limit" in w for w in ui.warnings)


def test_token_limit_ends_the_run_and_keeps_valid_work(books: Path, d: Any) -> None:
    fake = FakeAPI([d.call("run_python", {"code": BROKEN}, 1),
                    d.call("run_python", {"code": GOOD}, 2),
                    d.call("run_python", {"code": BROKEN}, 3)])
    with serve(fake):
        out = run(books, d, fake, max_tokens_total=200, dry_run=True)
    # 120 tokens a reply: the second reply passes the limit; its script still runs
    assert len(fake.requests) == 2 and out.agent.stopped == "tokens"
    assert "token limit (240 tokens used, limit 200)" in out.agent.summary
    assert len(out.proposals) == 3


def test_malformed_tool_input_is_an_observation(books: Path, d: Any) -> None:
    bad = {"script": "print(1)"} if d.name == "anthropic" else '{"code": "print(1)'
    fake = FakeAPI([d.calls([("run_python", bad), ("delete_ledger", {})], 1),
                    d.call("run_python", {"code": GOOD}, 3),
                    d.text("All done.")])
    with serve(fake):
        out = run(books, d, fake, dry_run=True)
    [(first, e1), (second, e2)] = d.results(fake.requests[1])
    assert e1 and e2 and "invalid tool call" in first and "no tool 'delete_ledger'" in second
    assert out.agent.summary == "All done." and len(out.proposals) == 3
    assert len(out.agent.steps) == 1  # nothing malformed reached the sandbox


def test_a_transient_server_error_is_retried(books: Path, d: Any) -> None:
    fake = FakeAPI([d.error(500, "boom"), d.call("run_python", {"code": GOOD}, 1),
                    d.call("finish", {"summary": "ok"}, 2)])
    with serve(fake):
        out = run(books, d, fake, dry_run=True)
    assert len(fake.requests) == 3 and len(out.proposals) == 3


@pytest.mark.parametrize("kind", ["429", "500", "timeout"])
def test_persistent_api_failure_is_a_clear_error(books: Path, d: Any, kind: str) -> None:
    before = tree_hashes(books)
    reply: Any = {"429": d.error(429, "slow down"), "500": d.error(500, "down"),
                  "timeout": ("sleep", 1.2, d.text("late"))}[kind]
    fake = FakeAPI([reply] * 3)
    with serve(fake), pytest.raises(AgentError) as exc:
        run(books, d, fake, request_timeout=0.5, yes=True)
    message = str(exc.value)
    assert "\n" not in message and exc.value.exit_code == 5
    assert {"429": "HTTP 429: slow down", "500": "HTTP 500: down",
            "timeout": "timed out"}[kind] in message
    assert len(fake.requests) == 3  # the first try and two retries
    assert tree_hashes(books) == before


def test_json_actions_go_through_the_sandbox(books: Path, d: Any) -> None:
    line = {"statement": 0, "line": 2}  # 2024-03-04 SQ *BLUE BOTTLE COFFEE -4.75
    fake = FakeAPI([
        d.call("match_statement", {"statement": 0}, 1),
        d.call("suggest", line, 2),
        d.call("propose_transaction", {"date": "2024-03-04"}, 3),  # missing arguments
        d.call("propose_transaction", {
            "date": "2024-03-04", "payee": "Blue Bottle Coffee", "narration": "latte",
            "postings": [{"account": ACCOUNT, "amount": "-4.75 USD"},
                         {"account": "Expenses:Food:Coffee"}],
            "evidence": [line], "confidence": 0.9, "reason": "same as every month"}, 4),
        d.call("finish", {"summary": "one booked"}, 5)])
    with serve(fake):
        out = run(books, d, fake, actions="json", dry_run=True)
    tools = [t.get("name") or t["function"]["name"] for t in fake.requests[0]["tools"]]
    assert "run_python" not in tools and "propose_balance" in tools and "finish" in tools
    [(matched, _)] = d.results(fake.requests[1])
    missing = json.loads(json.loads(matched)["output"])["missing"]
    assert {"line": 2, "date": "2024-03-04", "amount": "-4.75",
            "description": "SQ *BLUE BOTTLE COFFEE"} in missing
    [(suggested, _)] = d.results(fake.requests[2])
    assert "Expenses:Food:Coffee" in suggested
    [(invalid, failed)] = d.results(fake.requests[3])
    assert failed and "propose_transaction needs narration, postings, evidence" in invalid
    assert len(out.agent.steps) == 3  # every valid call ran as a script in the sandbox
    [item] = out.proposals
    assert item.spec.evidence[0].line is not None
    assert item.spec.meta[0][0] == "bank_ref" and item.spec.meta[0][1].startswith("h:")
    assert "Expenses:Food:Coffee" in item.text and out.agent.summary == "one booked"


def test_cli_reports_usage_and_keeps_the_key_out_of_scripts(books: Path, d: Any) -> None:
    spy = "import os\nprint(dict(os.environ))\n"
    usage = ({"input_tokens": 1000, "output_tokens": 200, "cache_read_input_tokens": 5000,
              "cache_creation_input_tokens": 3000} if d.name == "anthropic" else
             {"prompt_tokens": 6000, "completion_tokens": 200,
              "prompt_tokens_details": {"cached_tokens": 5000}})
    replies = [d.call("run_python", {"code": spy}, 0), d.call("run_python", {"code": GOOD}, 1),
               d.call("finish", {"summary": "done"}, 2)]
    for r in replies:
        r["usage"] = usage
    fake = FakeAPI(replies)
    model = "claude-haiku-4-5" if d.name == "anthropic" else "qwen2.5-coder:7b"
    with serve(fake):
        args = [a if a != "fake-model" else model for a in d.cli_args(fake.url)]
        proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT, *args,
                       "--dry-run", "--json", cwd=books, env=d.cli_env(fake.url, KEY))
    assert proc.returncode == 0, proc.stderr
    agent = report(proc)["agent"]
    assert (agent["name"], agent["model"], agent["steps"], agent["rounds"]) == (
        d.name, model, 2, 0)
    u = agent["usage"]
    if d.name == "anthropic":  # 3 x (1000 x $1 + 3000 x $1.25 + 5000 x $0.10 + 200 x $5) / 1M
        assert (u["input_tokens"], u["cache_read_input_tokens"],
                u["cache_creation_input_tokens"], u["output_tokens"]) == (3000, 15000, 9000, 600)
        assert u["cost_usd"] == "0.0188"  # money: a decimal string, like the amounts
        assert "about $0.0188 (estimated" in proc.stderr
    else:  # cached prompt tokens are reported apart; no price for a local model
        assert (u["input_tokens"], u["cache_read_input_tokens"], u["output_tokens"]) == (
            3000, 15000, 600)
        assert u["cost_usd"] is None and "cost unknown for this model" in proc.stderr
    # The key never reaches the sandboxed script's environment, so never the model either.
    [(observation, _)] = d.results(fake.requests[1])
    assert "PATH" in observation and KEY not in observation
    assert d.key_env not in observation
    log = (books / ".beanagent" / "log" / "audit.jsonl").read_text()
    assert KEY not in log and json.loads(log)["agent"]["messages"][0]["role"] == "system"


def test_cli_api_failure_is_one_line_and_exit_5(books: Path, d: Any) -> None:
    fake = FakeAPI([d.error(429, "slow down")] * 3)
    with serve(fake):
        proc = run_cli_in_process("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                                  *d.cli_args(fake.url), "--yes", cwd=books,
                                  env=d.cli_env(fake.url, KEY))
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert line.startswith("beanagent: error: the ") and "HTTP 429: slow down" in line
