"""The CodeAct loop on its own: a scripted wire and a fake sandbox, so that every bound,
the transcript and the repair round can be checked exactly (and fast). The same loop over
real HTTP is in test_llm_agents.py."""

from __future__ import annotations

import ast
import json
import time
from decimal import Decimal
from typing import Any

import pytest

from beanagent.agent.actions import CodeActions, JsonActions
from beanagent.agent.loop import Call, InvalidCall, Limits, Reply, Session, ToolSpec
from beanagent.agent.pricing import estimate_cost, price_of
from beanagent.model import AgentRun, Step, StepResult

USAGE = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0,
         "cache_creation_input_tokens": 0}


class ScriptedWire:
    def __init__(self, replies: list[Reply]):
        self.replies = list(replies)
        self.sent: list[dict[str, Any]] = []

    def send(self, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec],
             timeout: float) -> Reply:
        self.sent.append({"system": system, "messages": json.loads(json.dumps(messages)),
                          "tools": [t.name for t in tools], "timeout": timeout})
        return self.replies.pop(0)


def run_py(code: str, n: int = 1) -> Call:
    return Call(f"c{n}", "run_python", {"code": code})


def reply(*calls: Call, text: str = "") -> Reply:
    return Reply(text, list(calls), dict(USAGE))


class Sandbox:
    """execute(code): the code is `propose N` (a proposal {"n": N}), `fail`, or `sleep S`."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def __call__(self, code: str, **options: Any) -> StepResult:
        self.ran.append(code)
        word, _, arg = code.partition(" ")
        if word == "fail":
            return StepResult(False, "partial\n", False, "Traceback: NameError: x", [], 0.01)
        if word == "sleep":
            time.sleep(float(arg))
        proposals = [{"n": int(arg)}] if word == "propose" else []
        return StepResult(True, f"ran {code}\n", False, None, proposals, 0.01)


def session(replies: list[Reply], **limits: Any) -> tuple[Session, ScriptedWire, AgentRun]:
    wire = ScriptedWire(replies)
    run = AgentRun("test")
    s = Session(wire, CodeActions(), "SYSTEM PROMPT", run, Limits(**limits), "claude-haiku-4-5")
    run.messages.append({"role": "user", "content": "go"})
    return s, wire, run


def drive(s: Session) -> list[Step]:
    steps: list[Step] = []
    s.drive(Sandbox(), steps.append)
    return steps


def test_finish_ends_the_run_and_the_transcript_has_every_message() -> None:
    s, wire, run = session([reply(run_py("fail", 1)), reply(run_py("propose 1", 2)),
                            reply(Call("c3", "finish", {"summary": "done"}))])
    drive(s)
    assert run.summary == "done" and run.stopped is None
    assert [st.result.ok for st in run.steps] == [False, True]
    assert run.proposals == [{"n": 1}]
    # the traceback went back as an error observation, with the proposal count
    failed = wire.sent[1]["messages"][-1]
    assert failed["role"] == "tool" and failed["error"] is True
    assert json.loads(failed["content"])["error"] == "Traceback: NameError: x"
    assert json.loads(wire.sent[2]["messages"][-1]["content"])["proposals_so_far"] == 1
    roles = [m["role"] for m in run.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant",
                     "tool"]
    assert run.messages[0]["content"] == "SYSTEM PROMPT"
    assert run.messages[2]["calls"][0]["input"] == {"code": "fail"}
    assert "partial" in run.messages[3]["content"]
    assert run.usage is not None and run.usage["input_tokens"] == 300
    assert run.usage["cost_usd"] == Decimal(300 * 1 + 60 * 5) / 1_000_000
    # the system prompt is sent separately each time, never as a message
    assert all(m["role"] != "system" for sent in wire.sent for m in sent["messages"])


def test_step_limit_mid_reply_runs_what_it_can_and_keeps_it() -> None:
    s, wire, run = session([reply(run_py("propose 1", 1), run_py("propose 2", 2),
                                  run_py("propose 3", 3))], max_steps=2)
    drive(s)
    assert len(run.steps) == 2 and run.proposals == [{"n": 1}, {"n": 2}]
    assert run.stopped == "steps" and "step limit (2 steps)" in run.summary
    assert "kept" in run.summary
    last = run.messages[-1]
    assert last["role"] == "tool" and last["error"] and last["content"].startswith("not run")
    assert len(wire.sent) == 1  # no request after the bound


def test_token_limit_counts_every_token_and_stops_before_the_next_request() -> None:
    replies = [reply(run_py(f"propose {i}", i)) for i in range(1, 6)]
    s, wire, run = session(replies, max_tokens_total=250)
    drive(s)
    # 120 tokens a reply: 240 < 250 asks again; 360 stops (the third reply's call still runs)
    assert len(wire.sent) == 3 and len(run.steps) == 3
    assert run.stopped == "tokens" and "token limit (360 tokens used, limit 250)" in run.summary
    assert len(run.proposals) == 3


def test_time_limit_ends_the_run_and_clips_the_request_timeout() -> None:
    s, wire, run = session([reply(run_py("sleep 0.4", 1)), reply(run_py("propose 1", 2))],
                           max_seconds=0.3, request_timeout=120.0)
    drive(s)
    assert run.stopped == "time" and "time limit (0.3 s)" in run.summary
    assert len(wire.sent) == 1 and wire.sent[0]["timeout"] <= 1.0


def test_malformed_calls_are_observations_and_count_as_steps() -> None:
    s, wire, run = session([
        reply(Call("c1", "run_python", None, "not valid JSON"),
              Call("c2", "run_python", {"script": "x"}), Call("c3", "rm_rf", {})),
        reply(text="I give up.")], max_steps=5)
    drive(s)
    texts = [m["content"] for m in wire.sent[1]["messages"][-3:]]
    assert "not a JSON object (not valid JSON)" in texts[0]
    assert "run_python needs a 'code' string" in texts[1] and "'script'" in texts[1]
    assert "no tool 'rm_rf'" in texts[2]
    assert all(m["error"] for m in wire.sent[1]["messages"][-3:])
    assert s.taken == 3 and run.steps == []
    assert run.summary == "I give up."  # a reply with no call ends the run


def test_repair_continues_the_conversation_with_the_errors() -> None:
    s, wire, run = session([
        reply(run_py("propose 1", 1), run_py("propose 2", 2)),
        reply(Call("c3", "finish", {"summary": "first"})),
        reply(run_py("propose 1", 4), run_py("propose 3", 5)),
        reply(Call("c6", "finish", {"summary": "fixed", "withdraw": ["P2"]}))])
    drive(s)
    answer = s.repair("bean-check failed: ERROR-TEXT", Sandbox(), lambda step: None)
    assert answer is not None
    # a proposal made again in the round counts again (it may have been withdrawn)
    assert answer.proposals == [{"n": 1}, {"n": 3}] and answer.withdrawn == ("P2",)
    assert run.rounds == 1 and run.summary == "fixed"
    sent = wire.sent[2]["messages"]
    assert sent[-1] == {"role": "user", "content": "bean-check failed: ERROR-TEXT"}
    assert sent[-2]["role"] == "tool"  # finish's result, then the errors
    assert len(run.steps) == 4  # the round's steps are the run's too


def test_no_repair_once_a_bound_was_reached() -> None:
    s, wire, run = session([reply(run_py("propose 1", 1)), reply(run_py("propose 2", 2))],
                           max_steps=1)
    drive(s)
    assert run.stopped == "steps"
    assert s.repair("errors", Sandbox(), lambda step: None) is None
    assert run.rounds == 0 and len(wire.sent) == 1


def test_json_tool_arguments_reach_the_script_as_data() -> None:
    hostile = '")\nimport os; os.system("id")  # """ \' \\'
    code = JsonActions().script(Call("c1", "propose_balance", {
        "account": hostile, "date": "2024-03-09", "amount": "1.00 USD"}))
    tree = ast.parse(code)
    # the only import is json; the arguments are one string constant decoded by json.loads
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [a.name for n in imports for a in n.names] == ["json"]
    literal = tree.body[1].value.args[0]  # type: ignore[attr-defined]
    assert json.loads(literal.value)["account"] == hostile
    with pytest.raises(InvalidCall, match="propose_balance needs amount"):
        JsonActions().script(Call("c1", "propose_balance", {"account": "A", "date": "x"}))
    with pytest.raises(InvalidCall, match="no tool 'run_python'"):
        JsonActions().script(run_py("print(1)"))


def test_cost_estimate_by_model() -> None:
    usage = {"input_tokens": 1_000_000, "output_tokens": 100_000,
             "cache_read_input_tokens": 2_000_000, "cache_creation_input_tokens": 400_000}
    # 1M x $3 + 0.4M x $3.75 + 2M x $0.30 + 0.1M x $15
    assert estimate_cost("claude-sonnet-4-5-20250929", usage) == Decimal("6.6")
    assert estimate_cost("claude-haiku-4-5", usage) == Decimal("2.2")
    assert estimate_cost("llama3.1:8b", usage) is None
    assert estimate_cost("claude-unreleased-9", usage) is None
    assert price_of("claude-opus-4-1-20250805") != price_of("claude-opus-4-5")


def test_the_workflow_applies_a_repair_to_what_was_staged() -> None:
    """Errors pin P2; the agent proposes P1 again (kept once), a replacement, and withdraws
    P3: P1 stays, P2 and P3 go, the replacement follows on as P4."""
    import datetime

    from beanagent.agent import Repair
    from beanagent.core.proposals import validate_all
    from beanagent.ledger.view import AccountInfo
    from beanagent.model import GateError
    from beanagent.steps import agent_fix
    from tests.helpers import RecordingUI

    day = datetime.date(2024, 1, 1)
    accounts = {a: AccountInfo(a, day, None, (), {}) for a in ("Assets:Bank", "Expenses:Food")}

    def txn(amount: str) -> dict[str, Any]:
        return {"kind": "transaction", "date": "2024-03-01", "flag": "*", "payee": "Shop",
                "narration": "food", "postings": [
                    {"account": "Assets:Bank", "number": f"-{amount}", "currency": "USD"},
                    {"account": "Expenses:Food", "number": None, "currency": None}],
                "evidence": [], "meta": {}, "tags": [], "links": [], "confidence": None,
                "reason": ""}

    ui = RecordingUI()

    def validate(raws: Any, earlier: Any) -> list[Any]:
        return validate_all(raws, accounts, [], {}, earlier)[0]

    items = validate([txn("1.00"), txn("2.00"), txn("3.00")], [])
    seen: list[tuple[list[str], list[tuple[str, str]]]] = []

    class Agent:
        name = "llm"

        def repair(self, errors: list[str], staged: list[tuple[str, str]], execute: Any,
                   on_step: Any) -> Repair:
            seen.append((errors, staged))
            return Repair([txn("1.00"), txn("2.50")], withdrawn=("P3",))

    spent: list[float] = []
    fix = agent_fix(Agent(), Sandbox(), validate, ui, spent)  # type: ignore[arg-type]
    fixed = fix([GateError("/books/main.beancount", 0, "Balance failed", "P2"),
                 GateError("/books/main.beancount", 12, "Other", None)], items)
    assert fixed is not None
    assert [(i.id, str(i.spec.postings[0].number)) for i in fixed] == [
        ("P1", "-1.00"), ("P4", "-2.50")]
    [(errors, staged)] = seen
    assert errors == ["/books/main.beancount: Balance failed (proposal P2)",
                      "/books/main.beancount:12: Other"]
    assert [pid for pid, _ in staged] == ["P1", "P2", "P3"] and "-2.00 USD" in staged[1][1]
    assert len(spent) == 1 and spent[0] >= 0  # the repair's time is counted as the agent's
