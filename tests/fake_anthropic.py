"""A fake Messages API on 127.0.0.1 that replays a scripted conversation to the real SDK."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tool_use(name: str, args: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return message([{"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": args}],
                   "tool_use")


def text(content: str) -> dict[str, Any]:
    return message([{"type": "text", "text": content}], "end_turn")


def message(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "fake-model",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 20}}


class FakeAnthropic:
    """Each reply is (status, body) or a dict body (200), or ("sleep", seconds, body)."""

    def __init__(self, replies: list[Any]):
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
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


@contextmanager
def serve(fake: FakeAnthropic) -> Iterator[FakeAnthropic]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(body)
            fake.headers.append({k.lower(): v for k, v in self.headers.items()})
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
