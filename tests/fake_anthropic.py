"""A fake Messages API on 127.0.0.1 that replays a scripted conversation to the real SDK.

`FakeAPI` and `serve` are protocol-neutral (tests/fake_openai.py uses them for the Chat
Completions API); the reply builders here speak the Messages API.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"input_tokens": 100, "output_tokens": 20}


def tool_use(name: str, args: dict[str, Any], n: int = 1,
             usage: dict[str, int] | None = None) -> dict[str, Any]:
    return tool_uses([(name, args)], n, usage)


def tool_uses(calls: list[tuple[str, Any]], n: int = 1,
              usage: dict[str, int] | None = None) -> dict[str, Any]:
    """One reply with several tool calls (ids toolu_N, toolu_N+1, ...)."""
    return message([{"type": "tool_use", "id": f"toolu_{n + i}", "name": name, "input": args}
                    for i, (name, args) in enumerate(calls)], "tool_use", usage)


def text(content: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return message([{"type": "text", "text": content}], "end_turn", usage)


def message(content: list[dict[str, Any]], stop: str,
            usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "fake-model",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": usage or USAGE}


def error(status: int, kind: str, text: str) -> tuple[int, dict[str, Any]]:
    return status, {"type": "error", "error": {"type": kind, "message": text}}


class FakeAPI:
    """Each reply is a dict body (200), (status, body), or ("sleep", seconds, body)."""

    def __init__(self, replies: list[Any]):
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.raw: list[bytes] = []  # the request bodies as sent
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.url = ""

    def next_reply(self) -> tuple[int, Any, float]:
        if not self.replies:
            return 500, {"type": "error", "error": {"type": "api_error",
                                                    "message": "script exhausted"}}, 0.0
        reply = self.replies.pop(0)
        if isinstance(reply, dict):
            return 200, reply, 0.0
        if reply[0] == "sleep":
            return 200, reply[2], reply[1]
        return reply[0], reply[1], 0.0


FakeAnthropic = FakeAPI


@contextmanager
def serve(fake: FakeAPI) -> Iterator[FakeAPI]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # only where a followed redirect would lead
            fake.paths.append(self.path)
            fake.headers.append({k.lower(): v for k, v in self.headers.items()})
            self.send_error(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            fake.raw.append(raw)
            fake.requests.append(json.loads(raw or b"{}"))
            fake.headers.append({k.lower(): v for k, v in self.headers.items()})
            fake.paths.append(self.path)
            status, payload, delay = fake.next_reply()
            if delay:
                time.sleep(delay)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after", "0")
                if 300 <= status < 400:  # somewhere else on this server
                    self.send_header("location", fake.url + "/stolen")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
