"""The LLM agent over Anthropic's Messages API: the CodeAct loop (agent.loop) with this
protocol's messages.

The static prompt (tools, then the system prompt with the ledger's facts and statements)
is cached; a second breakpoint on the newest message caches the conversation so far. The
SDK retries 429s, 5xxs, timeouts and connection errors with backoff (`max_retries`); once
they are spent the run ends with one line and exit 5. `anthropic` is imported only here
(it takes seconds to import).
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from beanagent.agent.llm import LLMAgent, require_safe_url
from beanagent.agent.loop import Call, Reply, ToolSpec, Wire
from beanagent.errors import AgentError, BadInputError
from beanagent.text import visible

if TYPE_CHECKING:  # the SDK is imported when used: a run without the agent skips it
    from anthropic.types import CacheControlEphemeralParam

DEFAULT_MODEL = "claude-sonnet-4-6"
CACHE: CacheControlEphemeralParam = {"type": "ephemeral"}


def to_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The neutral conversation as Messages API turns: tool results (and a user text after
    them) share one user turn, as the API requires turns to alternate."""
    out: list[dict[str, Any]] = []

    def user(block: dict[str, Any]) -> None:
        if out and out[-1]["role"] == "user":
            out[-1]["content"].append(block)
        else:
            out.append({"role": "user", "content": [block]})

    for m in messages:
        if m["role"] == "user":
            user({"type": "text", "text": m["content"]})
        elif m["role"] == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m["call_id"],
                                     "content": m["content"]}
            if m.get("error"):
                block["is_error"] = True
            user(block)
        elif m["role"] == "assistant":
            content: list[dict[str, Any]] = []
            if m["content"]:
                content.append({"type": "text", "text": m["content"]})
            content += [{"type": "tool_use", "id": c["id"], "name": c["name"],
                         "input": c["input"] if c["input"] is not None else {}}
                        for c in m["calls"] if c["id"] is not None]
            out.append({"role": "assistant",
                        "content": content or [{"type": "text", "text": "(no reply)"}]})
    if out:
        out[-1]["content"][-1] = {**out[-1]["content"][-1], "cache_control": CACHE}
    return out


class AnthropicWire:
    def __init__(self, api_key: str, model: str, base_url: str | None, max_retries: int,
                 max_tokens: int):
        import anthropic

        self._anthropic = anthropic
        # base_url None: the SDK reads ANTHROPIC_BASE_URL itself
        self.client = anthropic.Anthropic(api_key=api_key, base_url=base_url,
                                          max_retries=max_retries)
        self.model = model
        self.max_tokens = max_tokens

    def send(self, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec],
             timeout: float) -> Reply:
        try:
            reply = self.client.messages.create(
                model=self.model, max_tokens=self.max_tokens, timeout=timeout,
                system=[{"type": "text", "text": system, "cache_control": CACHE}],
                tools=[{"name": t.name, "description": t.description,
                        "input_schema": t.parameters} for t in tools],
                # plain dicts of the MessageParam shape, not declared as the SDK's TypedDicts
                messages=to_messages(messages))  # type: ignore[arg-type]
        except self._anthropic.APIError as exc:
            raise AgentError(f"the Anthropic API failed: {_api_message(exc)}") from None
        text, calls = [], []
        for block in reply.content:
            if block.type == "text":
                text.append(block.text)
            elif block.type == "tool_use":
                args = block.input
                calls.append(Call(block.id, block.name, args if isinstance(args, dict) else None,
                                  "" if isinstance(args, dict) else f"got {type(args).__name__}"))
        u = reply.usage
        usage = {"input_tokens": u.input_tokens or 0, "output_tokens": u.output_tokens or 0,
                 "cache_read_input_tokens": getattr(u, "cache_read_input_tokens", 0) or 0,
                 "cache_creation_input_tokens":
                     getattr(u, "cache_creation_input_tokens", 0) or 0}
        return Reply("".join(text), calls, usage)


@dataclasses.dataclass(kw_only=True)
class AnthropicAgent(LLMAgent):
    api_key: str = dataclasses.field(repr=False)
    model: str = DEFAULT_MODEL
    base_url: str | None = None  # else ANTHROPIC_BASE_URL, else Anthropic's
    max_retries: int = 2  # the SDK's, with exponential backoff
    name: str = "anthropic"

    @classmethod
    def from_env(cls, model: str | None, allow_insecure_url: bool = False,
                 **options: Any) -> AnthropicAgent:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise BadInputError("--agent anthropic needs an API key: export "
                                "ANTHROPIC_API_KEY=sk-ant-... (or drop --agent to use the "
                                "offline agent, which needs none)")
        # the SDK reads ANTHROPIC_BASE_URL itself when base_url is None: checked the same
        url = options.get("base_url") or os.environ.get("ANTHROPIC_BASE_URL")
        if url:
            require_safe_url(url, allow_insecure_url,
                             "--base-url" if options.get("base_url") else "ANTHROPIC_BASE_URL")
        return cls(api_key=key, model=model or DEFAULT_MODEL, **options)

    def wire(self) -> Wire:
        return AnthropicWire(self.api_key, self.model, self.base_url, self.max_retries,
                             self.max_tokens)


def _api_message(exc: Exception) -> str:
    """`HTTP 429: the server's own message`, or the SDK's (timed out, connection error)."""
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    text = error.get("message") if isinstance(error, dict) else None
    text = str(text or getattr(exc, "message", "") or exc)
    # the server's words reach the terminal in the error line: controls made visible
    text = visible((text.strip().splitlines() or [type(exc).__name__])[0][:300])
    return f"HTTP {status}: {text}" if status else text
