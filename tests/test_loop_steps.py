"""Issue 15, "What the model can do between steps": each against the fake Messages API
with a scripted model, through the real loop, sandbox and gates.

State across steps (`propose.staged`), `propose.check()`, the output's head and tail, the
nudge after a first reply without an action, the step's timeout clipped to the agent's time
left, the budget in every observation, "did you mean" for the script API's objects, and the
review account opened implicitly."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from beanagent.agent.anthropic import AnthropicAgent
from beanagent.agent.offline import OfflineAgent
from beanagent.errors import AgentError
from beanagent.model import RunResult
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.dialects import DIALECTS, IDS, KEY
from tests.fake_anthropic import FakeAPI, serve, text, tool_use
from tests.helpers import RecordingUI, bean_check
from tests.test_llm_agents import ACCOUNT, GOOD, WRONG_BALANCE


def agent(url: str, **kw: Any) -> AnthropicAgent:
    return AnthropicAgent(api_key=KEY, model="fake-model", base_url=url, **kw)


def reconcile_with(books: Path, fake: FakeAPI, made: AnthropicAgent | None = None,
                   **options: Any) -> RunResult:
    options.setdefault("dry_run", True)
    return reconcile(books / "books.beancount", [books / "march.csv"],
                     made or agent(fake.url),
                     load_settings(books / "books.beancount", account=ACCOUNT, **options),
                     RecordingUI())


def observations(fake: FakeAPI, n: int) -> list[dict[str, Any]]:
    """The tool results request `n` carries, as JSON."""
    last = fake.requests[n]["messages"][-1]
    return [json.loads(b["content"]) for b in last["content"] if b["type"] == "tool_result"]


def run_then_finish(*scripts: str) -> list[dict[str, Any]]:
    replies = [tool_use("run_python", {"code": code}, i + 1) for i, code in enumerate(scripts)]
    return [*replies, tool_use("finish", {"summary": "done"}, len(scripts) + 1)]


# --- state across steps -------------------------------------------------------------------

SHOW_STAGED = """\
print("this step:", len(propose))
for p in propose.staged:
    print(p.id, p.kind, p.date, p.account, [r.line for r in p.evidence], "|",
          p.text.splitlines()[0])
booked = {r for p in propose.staged for r in p.evidence}
print("left:", [ln.ref.line for st in statements for ln in engine.match(st).missing
                if ln.ref not in booked])
"""


def test_a_second_step_sees_what_the_first_proposed(books: Path) -> None:
    fake = FakeAPI(run_then_finish(GOOD, SHOW_STAGED))
    with serve(fake):
        out = reconcile_with(books, fake)
    [seen] = observations(fake, 2)
    assert seen["ok"], seen["error"]
    lines = seen["output"].splitlines()
    assert lines[0] == "this step: 0"
    assert lines[1].startswith("P1 transaction 2024-03-04 Assets:Bank:Checking [4] | "
                               "2024-03-04 * ")
    assert [ln.split()[0] for ln in lines[1:4]] == ["P1", "P2", "P3"]
    assert lines[4] == "left: [7]"  # the one line GOOD left to the review account
    assert len(out.proposals) == 3


# --- propose.check() ----------------------------------------------------------------------


def test_check_brings_both_gates_into_the_observation(books: Path) -> None:
    fake = FakeAPI([*run_then_finish(WRONG_BALANCE + "propose.check()\npropose.check()\n",
                                     KALE),
                    tool_use("finish", {"summary": "withdrawn", "withdraw": ["P4"]}, 9)])
    with serve(fake):
        out = reconcile_with(books, fake)
    [first] = observations(fake, 1)
    check = first["check"]
    assert check["ran"] is True and check["passed"] is False
    assert any("Balance failed for 'Assets:Bank:Checking'" in e and "(proposal P4)" in e
               for e in check["errors"])
    assert any(f.startswith("P4 backed: balance 9999.00 USD on 2024-03-09 is not the "
                            "statement's closing") and f.endswith("(refused: it would be "
                                                                  "dropped)")
               for f in check["findings"])
    assert "march.csv: 1 line(s) booked by no entry or proposal: 7" in check["unbooked"]
    # the second step booked the last line: only the wrong balance is left to withdraw
    [second] = observations(fake, 2)
    assert second["check"]["passed"] is False
    assert not any("booked by no entry" in u for u in second["check"]["unbooked"])
    assert all("(proposal P4)" in e for e in second["check"]["errors"])
    assert second["proposals_so_far"] == 5
    assert out.gate is not None and out.gate.passed
    assert "9999.00" not in "".join(p.text for p in out.proposals)


KALE = """\
st = statements[0]
line = st.lines[5]
propose.transaction(line.date, "Kale & Co", line.description,
                    [(st.account, line.amount, st.currency), ("Expenses:Food:Groceries",)],
                    evidence=[line], meta=engine.bank_meta(st, line))
propose.check()
"""


def test_check_after_a_failed_script_says_it_did_not_run(books: Path) -> None:
    fake = FakeAPI(run_then_finish("propose.check()\nraise ValueError('x')\n", GOOD))
    with serve(fake):
        reconcile_with(books, fake)
    [first] = observations(fake, 1)
    assert first["ok"] is False and first["check"]["ran"] is False
    assert "the script failed" in first["check"]["why"]


# --- output: head and tail of the whole ---------------------------------------------------

FLOOD = """\
for i in range(1, 300_001):
    print(f"line {i:07d}")
print("LAST ok: true")
"""


def test_a_3_mb_print_keeps_its_head_and_its_last_line(books: Path) -> None:
    fake = FakeAPI(run_then_finish(FLOOD, GOOD))
    with serve(fake):
        out = reconcile_with(books, fake)
    [seen] = observations(fake, 1)
    whole = 300_000 * len("line 0000001\n") + len("LAST ok: true\n")  # 3.9 million
    output = seen["output"]
    assert seen["output_truncated"] and output.startswith("line 0000001\nline 0000002\n")
    assert output.endswith("line 0300000\nLAST ok: true\n")
    head, marker, tail = output.partition(" characters cut …\n")
    cut = int(head.rsplit("… ", 1)[1].replace(",", ""))
    kept = len(head.rsplit("\n… ", 1)[0]) + len(tail)
    assert cut == whole - kept and kept <= 8000  # every character accounted for
    # the step itself (audit log, UI) keeps the server's head and tail, marked the same way
    assert out.agent is not None
    step = out.agent.steps[0].result
    assert step.output.startswith("line 0000001") and step.output.endswith("LAST ok: true\n")
    server_cut = int(step.output.split("\n… ", 1)[1].split(" characters cut", 1)[0]
                     .replace(",", ""))
    server_marker = f"\n… {server_cut:,} characters cut …\n"
    assert server_cut == whole - len(step.output) + len(server_marker)
    assert len(step.output) <= 64 * 1024 and marker


# --- a first reply without an action ------------------------------------------------------


def test_a_text_only_first_reply_is_nudged_once_and_the_run_goes_on(books: Path) -> None:
    fake = FakeAPI([text("Let me think about the statement first."), *run_then_finish(GOOD)])
    with serve(fake):
        out = reconcile_with(books, fake)
    nudge = fake.requests[1]["messages"][-1]["content"][-1]["text"]
    assert "run a script with run_python" in nudge.lower()
    assert len(out.proposals) == 3 and out.agent is not None and out.agent.summary == "done"


def test_two_text_replies_end_the_run_with_the_models_text_kept(books: Path) -> None:
    fake = FakeAPI([text("Hello! What would you like me to do?"),
                    text("I need more information about your accounts.")])
    made = agent("http://127.0.0.1:1")
    with serve(fake):
        made.base_url = fake.url
        with pytest.raises(AgentError) as exc:
            reconcile_with(books, fake, made)
    assert len(fake.requests) == 2 and exc.value.exit_code == 5
    session = made._session
    assert session is not None
    run = session.run
    assert run.summary == "I need more information about your accounts."
    assert [m["role"] for m in run.messages] == ["system", "user", "assistant", "user",
                                                  "assistant"]


# --- the step's timeout, clipped to the agent's time left ---------------------------------


def test_the_step_timeout_is_clipped_to_the_time_left(books: Path) -> None:
    fake = FakeAPI(run_then_finish("while True:\n    pass\n"))
    started = time.monotonic()
    with serve(fake), pytest.raises(AgentError) as exc:  # its only script was stopped
        reconcile_with(books, fake, agent(fake.url, max_seconds=3.0), step_timeout=60)
    assert time.monotonic() - started < 15  # not the step's 60 s
    assert "s and was stopped (the agent's time left)" in str(exc.value)
    assert len(fake.requests) == 1  # and the time limit ended the run


# --- the budget ---------------------------------------------------------------------------


def test_every_observation_carries_the_budget(books: Path) -> None:
    fake = FakeAPI([tool_use("run_python", {"code": "print(1)"}, 1),
                    tool_use("run_python", {"script": "x"}, 2), *run_then_finish(GOOD)[0:1],
                    tool_use("finish", {"summary": "ok"}, 9)])
    with serve(fake):
        reconcile_with(books, fake, agent(fake.url, max_steps=6, max_tokens_total=10_000))
    [first] = observations(fake, 1)
    assert first["budget"].startswith("budget: steps 1/6 used (5 left); tokens 120/10,000 "
                                      "used (9,880 left); ")
    assert first["budget"].endswith(" s left")
    invalid = fake.requests[2]["messages"][-1]["content"][0]["content"]
    assert "budget: steps 2/6 used (4 left); tokens 240/10,000 used" in invalid


# --- did you mean -------------------------------------------------------------------------

WRONG_FIELD = """\
st = statements[0]
guess = engine.suggest(st, st.lines[0])
print(guess.counter_account)
"""


def test_a_wrong_attribute_names_the_right_one_and_the_fields(books: Path) -> None:
    fake = FakeAPI(run_then_finish(WRONG_FIELD, "print(engine.sugest)\n", GOOD))
    with serve(fake):
        reconcile_with(books, fake)
    [first] = observations(fake, 1)
    last = first["error"].splitlines()[-1]
    assert last.startswith("AttributeError: Suggestion has no attribute 'counter_account' "
                           "(did you mean 'account'?; fields: account, payee, confidence, ")
    assert "confident" in last and 'line 3, in <module>' in first["error"]
    [second] = observations(fake, 2)
    assert "Engine has no attribute 'sugest' (did you mean 'suggest'?" in second["error"]
    assert "methods: " in second["error"] and "match()" in second["error"]


# --- the review account -------------------------------------------------------------------

EVERY_LINE = """\
for st in statements:
    for line in engine.match(st).missing:
        guess = engine.suggest(st, line)
        propose.transaction(line.date, guess.payee, line.description,
                            [(st.account, line.amount, st.currency), (guess.account,)],
                            evidence=[line], meta=engine.bank_meta(st, line),
                            flag="*" if guess.confident else "!", reason=guess.reason)
"""


def test_booking_to_the_review_account_opens_it_once(books: Path) -> None:
    """The README's example (no open of its own) passes the gates on the sample; a second
    step that books to it again adds no second open."""
    again = EVERY_LINE + "print(len(propose), [p['kind'] for p in propose.to_json()])\n"
    fake = FakeAPI(run_then_finish(EVERY_LINE, again))
    with serve(fake):
        out = reconcile_with(books, fake, yes=True, dry_run=False)
    [second] = observations(fake, 2)
    assert second["ok"] and second["output"].strip() == "4 ['transaction', 'transaction', " \
        "'transaction', 'transaction']"
    opens = [p for p in out.proposals if p.spec.kind == "open"]
    assert [(p.spec.account, str(p.spec.date)) for p in opens] == [
        ("Expenses:FIXME", "2024-03-01")]  # the statement's first line
    assert out.committed and out.gate is not None and out.gate.passed
    assert bean_check(books / "books.beancount") == []
    assert len(out.proposals) == 5


def test_the_offline_script_still_opens_it_itself_and_only_once(books: Path) -> None:
    out = reconcile(books / "books.beancount", [books / "march.csv"], OfflineAgent(),
                    load_settings(books / "books.beancount", account=ACCOUNT, dry_run=True),
                    RecordingUI())
    opens = [p for p in out.proposals if p.spec.kind == "open"]
    assert [p.spec.account for p in opens] == ["Expenses:FIXME"]
    assert "review account" in opens[0].spec.reason
    assert out.gate is not None and out.gate.passed


def test_a_replayed_run_gives_each_script_the_earlier_ones_proposals(books: Path) -> None:
    from beanagent.agent.script import ReplayAgent

    out = reconcile(books / "books.beancount", [books / "march.csv"],
                    ReplayAgent([GOOD, SHOW_STAGED], "test"),
                    load_settings(books / "books.beancount", account=ACCOUNT, dry_run=True),
                    RecordingUI())
    assert out.agent is not None
    assert out.agent.steps[1].result.output.splitlines()[4] == "left: [7]"


@pytest.mark.parametrize("d", DIALECTS, ids=IDS)
def test_the_nudge_and_the_budget_over_both_protocols(books: Path, d: Any) -> None:
    fake = FakeAPI([d.text("I will reconcile now."), d.call("run_python", {"code": GOOD}, 1),
                    d.call("finish", {"summary": "three"}, 2)])
    with serve(fake):
        out = reconcile(books / "books.beancount", [books / "march.csv"], d.agent(fake.url),
                        load_settings(books / "books.beancount", account=ACCOUNT,
                                      dry_run=True), RecordingUI())
    assert "Run a script with run_python" in d.last_text(fake.requests[1])
    [(seen, failed)] = d.results(fake.requests[2])
    assert not failed and json.loads(seen)["budget"].startswith("budget: steps 1/12 used")
    assert len(out.proposals) == 3 and out.agent is not None and out.agent.summary == "three"
