"""The LLM agent over OpenAI's Chat Completions API, as local servers speak it too (Ollama,
vLLM, llama.cpp's server): the CodeAct loop (agent.loop) with this protocol's messages.

Models without tool calling answer with a fenced ```python block instead: that block is
run as `run_python`, and its observation goes back as a user message.

HTTP is the standard library's: the `openai` package is not a dependency of beanagent, and
one JSON POST with retries doesn't justify adding it (and its own dependencies) for
everyone. 429, 5xx, timeouts and refused connections are retried with exponential backoff
(honouring Retry-After); then the run ends with one line and exit 5. Redirects are not
followed, so the key is only ever sent to the URL given.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.request
from typing import Any

from beanagent.agent.llm import LLMAgent, require_safe_url
from beanagent.agent.loop import Call, Reply, ToolSpec, Wire
from beanagent.errors import AgentError, BadInputError
from beanagent.text import visible

OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "sk-no-key-required"  # local servers want some bearer token, and ignore it
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
FENCED = re.compile(r"```(?:python|py)[ \t]*\r?\n(.*?)```", re.DOTALL)
FENCED_NOTE = "Result of your ```python block (run as run_python):\n"


def to_messages(system: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]

    def user(text: str) -> None:  # some chat templates insist that roles alternate
        if out[-1]["role"] == "user":
            out[-1]["content"] += "\n\n" + text
        else:
            out.append({"role": "user", "content": text})

    for m in messages:
        if m["role"] == "user":
            user(m["content"])
        elif m["role"] == "tool" and m["call_id"] is None:
            user(FENCED_NOTE + m["content"])
        elif m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["call_id"], "content": m["content"]})
        elif m["role"] == "assistant":
            calls = [{"id": c["id"], "type": "function",
                      "function": {"name": c["name"], "arguments": json.dumps(c["input"] or {})}}
                     for c in m["calls"] if c["id"] is not None]
            turn: dict[str, Any] = {"role": "assistant", "content": m["content"] or None}
            if calls:
                turn["tool_calls"] = calls
            else:
                turn["content"] = m["content"] or ""
            out.append(turn)
    return out


def parse_reply(data: Any, fenced: bool) -> Reply:
    try:
        message = data["choices"][0]["message"]
        text = message.get("content") or ""
        raw_calls = message.get("tool_calls") or []
        if not isinstance(text, str) or not isinstance(raw_calls, list):
            raise TypeError
    except (KeyError, IndexError, TypeError, AttributeError):
        raise AgentError("the OpenAI-compatible API answered without a message "
                           "(choices[0].message)") from None
    calls = []
    for n, raw in enumerate(raw_calls):
        fn = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(fn, dict):
            continue
        args, problem = fn.get("arguments"), ""
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except ValueError:
                args, problem = None, "not valid JSON"
        if not isinstance(args, dict):
            args, problem = None, problem or f"got {type(args).__name__}"
        calls.append(Call(str(raw.get("id") or f"call_{n}"), str(fn.get("name")), args, problem))
    if not calls and fenced:
        blocks = FENCED.findall(text)
        if blocks:
            calls = [Call(None, "run_python", {"code": "\n\n".join(blocks)})]
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    return Reply(text, calls, {
        "input_tokens": max(0, int(usage.get("prompt_tokens") or 0) - cached),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


class OpenAIWire:
    def __init__(self, base_url: str, api_key: str | None, model: str, max_retries: int,
                 max_tokens: int):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.base_url = base_url
        self.api_key = api_key or NO_KEY
        self.model = model
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.opener = urllib.request.build_opener(_NoRedirect)

    def send(self, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec],
             timeout: float) -> Reply:
        body = {"model": self.model, "max_tokens": self.max_tokens,
                "messages": to_messages(system, messages),
                "tools": [{"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}}
                    for t in tools]}
        return parse_reply(self._post(body, timeout),
                           fenced=any(t.name == "run_python" for t in tools))

    def _post(self, body: dict[str, Any], timeout: float) -> Any:
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=data, method="POST", headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
            retry_after = None
            try:
                with self.opener.open(request, timeout=timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}: {_error_text(exc)}"
                if exc.code not in RETRY_STATUS:
                    break
                retry_after = exc.headers.get("retry-after") if exc.headers else None
            except (TimeoutError, urllib.error.URLError, ConnectionError,
                    http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                problem = ("the request timed out" if isinstance(reason, TimeoutError)
                           else f"cannot connect ({reason})")
            except ValueError:
                problem = "the answer is not JSON"
                break
            if attempt < self.max_retries:
                time.sleep(_backoff(attempt, retry_after))
        raise AgentError(f"the OpenAI-compatible API at {self.base_url} failed: {problem}")


def _backoff(attempt: int, retry_after: str | None) -> float:
    # Retry-After is whole seconds (RFC 9110 delay-seconds); an HTTP date falls back.
    if retry_after is not None and retry_after.strip().isdigit():
        return min(20, int(retry_after))
    return min(8.0, 0.5 * 2.0 ** attempt) * (1 + random.random() / 4)


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(4096).decode("utf-8", "replace")
    except OSError:
        return str(exc.reason)
    try:
        error = json.loads(raw).get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        text = raw
    # the server's words reach the terminal in the error line: controls made visible
    return visible((str(text or exc.reason).strip().splitlines() or [""])[0][:300])


@dataclasses.dataclass(kw_only=True)
class OpenAIAgent(LLMAgent):
    base_url: str
    api_key: str | None = dataclasses.field(default=None, repr=False)  # local servers: none
    max_retries: int = 2
    name: str = "openai"

    @classmethod
    def from_env(cls, model: str | None, base_url: str | None, allow_insecure_url: bool = False,
                 **options: Any) -> OpenAIAgent:
        key = os.environ.get("OPENAI_API_KEY") or None
        url = base_url or os.environ.get("OPENAI_BASE_URL") or (OPENAI_URL if key else None)
        if not url:
            raise BadInputError("--agent openai needs --base-url URL (an OpenAI-compatible "
                                "server, e.g. http://localhost:11434/v1 for Ollama), or "
                                "OPENAI_API_KEY for OpenAI's own API")
        if not re.match(r"^https?://[^/\s]+", url):
            raise BadInputError(f"--base-url must be an http(s) URL, not {url!r}")
        require_safe_url(url, allow_insecure_url,
                         "--base-url" if base_url else "OPENAI_BASE_URL")
        if not model:
            raise BadInputError("--agent openai needs a model: --model NAME (or "
                                "BEANAGENT_MODEL, or model in beanagent.toml)")
        return cls(base_url=url, api_key=key, model=model, **options)

    def wire(self) -> Wire:
        return OpenAIWire(self.base_url, self.api_key, self.model, self.max_retries,
                          self.max_tokens)
