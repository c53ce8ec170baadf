"""The LLM agent with the real anthropic SDK talking HTTP to a fake server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from beanagent.agent.anthropic import AnthropicAgent
from beanagent.errors import SandboxError
from beanagent.workflow import Options, reconcile
from tests.fake_anthropic import FakeAnthropic, serve, text, tool_use
from tests.helpers import RecordingUI, bean_check, report, run_cli, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
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


def agent(**kw: object) -> AnthropicAgent:
    return AnthropicAgent(api_key="sk-ant-test-key", model="fake-model", **kw)  # type: ignore[arg-type]


def test_fix_after_traceback_then_finish_and_commit(books: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAnthropic([tool_use("run_python", {"code": BROKEN}, 1),
                          tool_use("run_python", {"code": GOOD}, 2),
                          tool_use("finish", {"summary": "booked 3 lines"}, 3)])
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        ui = RecordingUI()
        out = reconcile(books / "books.beancount", [books / "march.csv"], agent(),
                        Options(account=ACCOUNT, yes=True), ui)
    assert out.committed and out.agent is not None
    assert [s.result.ok for s in out.agent.steps] == [False, True]
    assert out.agent.summary == "booked 3 lines"
    assert out.agent.usage == {"input_tokens": 300, "output_tokens": 60}
    assert len(out.items) == 3
    assert bean_check(books / "books.beancount") == []
    # What the model was sent: the key, a cached system prompt with the API and the data,
    # the traceback of step 1 as an error tool result.
    sent = fake.headers[0]
    assert "sk-ant-test-key" in (sent.get("x-api-key", "") + sent.get("authorization", ""))
    system = fake.requests[0]["system"][0]
    assert system["cache_control"] == {"type": "ephemeral"}
    assert "propose.transaction" in system["text"] and "<statement-data>" in system["text"]
    assert "KALE & CO, OAKLAND" in system["text"]
    second = fake.requests[1]["messages"][-1]["content"][0]
    assert second["type"] == "tool_result" and second["is_error"] is True
    assert "NameError" in second["content"] and "undefined_name" in second["content"]
    third = fake.requests[2]["messages"][-1]["content"][0]
    assert '"proposals_so_far": 3' in third["content"]


def test_step_limit_keeps_valid_work(books: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAnthropic([tool_use("run_python", {"code": GOOD}, i) for i in range(5)])
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        out = reconcile(books / "books.beancount", [books / "march.csv"], agent(max_steps=2),
                        Options(account=ACCOUNT, dry_run=True), RecordingUI())
    assert out.agent is not None and len(out.agent.steps) == 2
    assert "step limit" in out.agent.summary
    assert len(out.items) == 3  # identical proposals from both steps kept once
    assert len(fake.requests) == 2


def test_malformed_tool_input_is_an_observation(books: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAnthropic([tool_use("run_python", {"script": "print(1)"}, 1),
                          tool_use("run_python", {"code": GOOD}, 2),
                          text("All done.")])
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        out = reconcile(books / "books.beancount", [books / "march.csv"], agent(),
                        Options(account=ACCOUNT, dry_run=True), RecordingUI())
    first = fake.requests[1]["messages"][-1]["content"][0]
    assert first["is_error"] is True and "invalid tool call" in first["content"]
    assert out.agent is not None and out.agent.summary == "All done."
    assert len(out.items) == 3


def test_server_error_is_retried(books: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = (500, {"type": "error", "error": {"type": "api_error", "message": "boom"}})
    fake = FakeAnthropic([err, tool_use("run_python", {"code": GOOD}, 1),
                          tool_use("finish", {"summary": "ok"}, 2)])
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        out = reconcile(books / "books.beancount", [books / "march.csv"], agent(),
                        Options(account=ACCOUNT, dry_run=True), RecordingUI())
    assert len(fake.requests) == 3 and len(out.items) == 3


@pytest.mark.parametrize("replies, needle", [
    ([(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})]
     * 3, "HTTP 429"),
    ([(500, {"type": "error", "error": {"type": "api_error", "message": "down"}})] * 3,
     "HTTP 500"),
    ([("sleep", 2.5, text("late"))] * 3, "timed out"),
])
def test_persistent_api_failure_is_a_clear_error(books: Path, monkeypatch: pytest.MonkeyPatch,
                                                 replies: list[object], needle: str) -> None:
    before = tree_hashes(books)
    fake = FakeAnthropic(replies)
    with serve(fake):
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        with pytest.raises(SandboxError) as exc:
            reconcile(books / "books.beancount", [books / "march.csv"],
                      agent(request_timeout=1.0), Options(account=ACCOUNT, yes=True),
                      RecordingUI())
    assert needle.lower() in str(exc.value).lower()
    assert exc.value.exit_code == 5
    assert len(fake.requests) == 3  # the first try and the SDK's two retries
    assert tree_hashes(books) == before


def test_cli_end_to_end_with_key_and_base_url(books: Path) -> None:
    spy = "import os\nprint(dict(os.environ))\n"
    fake = FakeAnthropic([tool_use("run_python", {"code": spy}, 0),
                          tool_use("run_python", {"code": GOOD}, 1),
                          tool_use("finish", {"summary": "done"}, 2)])
    with serve(fake):
        proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", ACCOUNT,
                       "--agent", "anthropic", "--model", "fake-model", "--dry-run", "--json",
                       cwd=books, env={"ANTHROPIC_API_KEY": "sk-ant-cli",
                                       "ANTHROPIC_BASE_URL": fake.url})
    assert proc.returncode == 0, proc.stderr
    rep = report(proc)
    assert rep["agent"]["name"] == "anthropic" and rep["agent"]["steps"] == 2
    assert len([p for p in rep["proposals"] if p["kind"] == "transaction"]) == 3
    assert fake.requests[0]["model"] == "fake-model"
    # The key never reaches the sandboxed script's environment, so never the model either.
    observation = fake.requests[1]["messages"][-1]["content"][0]["content"]
    assert "PATH" in observation and "sk-ant-cli" not in observation
    assert "ANTHROPIC" not in observation
