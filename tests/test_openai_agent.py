"""What only the OpenAI-compatible path does: fenced code for models without tool calling,
an optional key, the request's shape, no redirects. (The loop itself, over both protocols:
test_llm_agents.py.)"""

from __future__ import annotations

from pathlib import Path

from beanagent.agent.openai import FENCED_NOTE, OpenAIAgent
from beanagent.errors import AgentError
from beanagent.settings import load_settings
from beanagent.workflow import reconcile
from tests.fake_anthropic import FakeAPI, serve
from tests.fake_openai import text, tool_call
from tests.helpers import RecordingUI, bean_check
from tests.test_llm_agents import ACCOUNT, BROKEN, GOOD


def agent(url: str, key: str | None = None, **kw: object) -> OpenAIAgent:
    return OpenAIAgent(base_url=url + "/v1", api_key=key, model="local-7b", **kw)  # type: ignore[arg-type]


def test_fenced_code_stands_in_for_tool_calls(books: Path) -> None:
    fake = FakeAPI([text(f"Let me look.\n```python\n{BROKEN}```\n"),
                    text(f"Oops, fixed:\n\n```python\n{GOOD}```"),
                    text("Booked three lines; the kale shop needs a human.")])
    with serve(fake):
        out = reconcile(books / "books.beancount", [books / "march.csv"], agent(fake.url),
                        load_settings(books / "books.beancount", account=ACCOUNT, yes=True),
                        RecordingUI())
    assert [s.code for s in out.agent.steps] == [BROKEN, GOOD]
    assert out.committed and len(out.proposals) == 3
    assert bean_check(books / "books.beancount") == []
    assert out.agent.summary == "Booked three lines; the kale shop needs a human."
    # The observation comes back as a user turn (no tool call to answer), roles alternate.
    second = fake.requests[1]["messages"]
    assert second[-2]["role"] == "assistant" and "tool_calls" not in second[-2]
    assert second[-1]["role"] == "user" and second[-1]["content"].startswith(FENCED_NOTE)
    assert "NameError" in second[-1]["content"]
    roles = [m["role"] for m in fake.requests[2]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]


def test_no_key_sends_a_placeholder_and_a_key_is_sent_as_bearer(books: Path) -> None:
    for key, expected in ((None, "Bearer sk-no-key-required"), ("sk-local", "Bearer sk-local")):
        fake = FakeAPI([tool_call("run_python", {"code": GOOD}, 1),
                        tool_call("finish", {"summary": "ok"}, 2)])
        with serve(fake):
            reconcile(books / "books.beancount", [books / "march.csv"], agent(fake.url, key),
                      load_settings(books / "books.beancount", account=ACCOUNT, dry_run=True),
                      RecordingUI())
        assert fake.paths == ["/v1/chat/completions"] * 2
        assert {h["authorization"] for h in fake.headers} == {expected}


def test_request_shape_is_chat_completions_with_function_tools(books: Path) -> None:
    fake = FakeAPI([tool_call("run_python", {"code": GOOD}, 7),
                    tool_call("finish", {"summary": "ok"}, 8)])
    with serve(fake):
        reconcile(books / "books.beancount", [books / "march.csv"], agent(fake.url),
                  load_settings(books / "books.beancount", account=ACCOUNT, dry_run=True),
                  RecordingUI())
    first, second = fake.requests
    assert first["model"] == "local-7b" and first["max_tokens"] == 4096
    assert [t["type"] for t in first["tools"]] == ["function", "function"]
    run_python = first["tools"][0]["function"]
    assert run_python["name"] == "run_python"
    assert run_python["parameters"]["required"] == ["code"]
    system = first["messages"][0]
    assert system["role"] == "system" and "<statement-data>" in system["content"]
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_7"
    assert assistant["tool_calls"][0]["function"]["name"] == "run_python"
    assert tool == {"role": "tool", "tool_call_id": "call_7", "content": tool["content"]}
    assert '"proposals_so_far": 3' in tool["content"]


def test_a_redirect_is_not_followed(books: Path) -> None:
    fake = FakeAPI([(302, {"error": {"message": "moved"}})])  # urllib would follow a 302
    with serve(fake):
        try:
            reconcile(books / "books.beancount", [books / "march.csv"],
                      agent(fake.url, "sk-secret-value"),
                      load_settings(books / "books.beancount", account=ACCOUNT, dry_run=True),
                      RecordingUI())
        except AgentError as exc:
            assert "HTTP 302" in str(exc) and exc.exit_code == 5
        else:
            raise AssertionError("a redirect must end the run")
    assert fake.paths == ["/v1/chat/completions"]  # the key never went on to /stolen
