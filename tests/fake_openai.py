"""Replies of a fake OpenAI-compatible server (POST /v1/chat/completions), served on
127.0.0.1 by tests/fake_anthropic.py's `serve`."""

from __future__ import annotations

import json
from typing import Any

USAGE = {"prompt_tokens": 100, "completion_tokens": 20}


def completion(message: dict[str, Any], finish: str,
               usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "finish_reason": finish}],
            "usage": usage or USAGE}


def tool_calls(calls: list[tuple[str, Any]], n: int = 1,
               usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """One reply with several calls; a str argument is sent as is (malformed JSON)."""
    return completion({"content": None, "tool_calls": [
        {"id": f"call_{n + i}", "type": "function",
         "function": {"name": name,
                      "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for i, (name, args) in enumerate(calls)]}, "tool_calls", usage)


def tool_call(name: str, args: Any, n: int = 1,
              usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return tool_calls([(name, args)], n, usage)


def text(content: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return completion({"content": content}, "stop", usage)


def error(status: int, kind: str, text: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"message": text, "type": kind, "code": None}}
