"""The two wire protocols behind one interface, so that a test of the loop runs against
both: real clients (the anthropic SDK; urllib for OpenAI-compatible servers) talking HTTP
to the fake servers in tests/fake_anthropic.py and tests/fake_openai.py."""

from __future__ import annotations

import json
from typing import Any

from beanagent.agent.anthropic import AnthropicAgent
from beanagent.agent.llm import LLMAgent
from beanagent.agent.openai import OpenAIAgent
from tests import fake_anthropic as fa
from tests import fake_openai as fo

KEY = "sk-test-Zq8XwV3pLm5Kd9Hf"  # never in the environment of the in-process tests


class Anthropic:
    name = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    usage = fa.USAGE  # per reply: 120 tokens

    def call(self, name: str, args: Any, n: int = 1) -> dict[str, Any]:
        return fa.tool_use(name, args, n)

    def calls(self, calls: list[tuple[str, Any]], n: int = 1) -> dict[str, Any]:
        return fa.tool_uses(calls, n)

    def text(self, content: str) -> dict[str, Any]:
        return fa.text(content)

    def error(self, status: int, text: str) -> tuple[int, dict[str, Any]]:
        return fa.error(status, "rate_limit_error" if status == 429 else "api_error", text)

    def agent(self, url: str, **kw: Any) -> LLMAgent:
        return AnthropicAgent(api_key=KEY, model=kw.pop("model", "fake-model"), base_url=url,
                              **kw)

    def cli_env(self, url: str, key: str) -> dict[str, str]:
        return {"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": url}

    def cli_args(self, url: str) -> list[str]:
        return ["--agent", "anthropic", "--model", "fake-model"]

    def results(self, request: dict[str, Any]) -> list[tuple[str, bool]]:
        """The observations the last message of a request carries: (text, is_error)."""
        last = request["messages"][-1]
        return [(b["content"], bool(b.get("is_error"))) for b in last["content"]
                if b["type"] == "tool_result"]

    def last_text(self, request: dict[str, Any]) -> str:
        last = request["messages"][-1]
        return "\n".join(b["text"] for b in last["content"] if b["type"] == "text")


class OpenAI:
    name = "openai"
    key_env = "OPENAI_API_KEY"
    usage = fo.USAGE

    def call(self, name: str, args: Any, n: int = 1) -> dict[str, Any]:
        return fo.tool_call(name, args, n)

    def calls(self, calls: list[tuple[str, Any]], n: int = 1) -> dict[str, Any]:
        return fo.tool_calls(calls, n)

    def text(self, content: str) -> dict[str, Any]:
        return fo.text(content)

    def error(self, status: int, text: str) -> tuple[int, dict[str, Any]]:
        return fo.error(status, "rate_limit" if status == 429 else "server_error", text)

    def agent(self, url: str, **kw: Any) -> LLMAgent:
        return OpenAIAgent(api_key=KEY, model=kw.pop("model", "fake-model"),
                           base_url=url + "/v1", **kw)

    def cli_env(self, url: str, key: str) -> dict[str, str]:
        return {"OPENAI_API_KEY": key}

    def cli_args(self, url: str) -> list[str]:
        return ["--agent", "openai", "--base-url", url + "/v1", "--model", "fake-model"]

    def results(self, request: dict[str, Any]) -> list[tuple[str, bool]]:
        """The tool messages after the last assistant turn (OpenAI has no error flag: an
        observation says `"ok": false` itself)."""
        out: list[tuple[str, bool]] = []
        for m in reversed(request["messages"]):
            if m["role"] != "tool":
                break
            ok = True
            try:
                ok = bool(json.loads(m["content"]).get("ok", True))
            except ValueError:
                ok = not m["content"].startswith(("invalid", "not run"))
            out.insert(0, (m["content"], not ok))
        return out

    def last_text(self, request: dict[str, Any]) -> str:
        last = request["messages"][-1]
        return last["content"] if last["role"] == "user" else ""


DIALECTS = [Anthropic(), OpenAI()]
IDS = [d.name for d in DIALECTS]
