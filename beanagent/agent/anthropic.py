"""The LLM agent over Anthropic's Messages API: a CodeAct loop.

The model acts through two tools: `run_python` (a script, run in a fresh sandboxed child)
and `finish`. What a script prints, its traceback and the proposal count go back as the tool
result: the interpreter's errors are the feedback. Bounded by steps and wall time.
`anthropic` is imported only here (it takes seconds to import).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from importlib import resources
from typing import Any

from beanagent.agent import AgentRun, Execute, OnStep, Task
from beanagent.agent.facts import api_reference, statement_summary
from beanagent.errors import BadInputError, SandboxError

DEFAULT_MODEL = "claude-sonnet-4-6"
MAX_TOOL_TEXT = 8000

TOOLS = [
    {"name": "run_python",
     "description": "Run a Python reconciliation script in the sandbox with the globals "
                    "ledger, statements, propose, engine. Returns its printed output, any "
                    "traceback, and how many proposals exist so far.",
     "input_schema": {"type": "object", "properties": {"code": {"type": "string"}},
                      "required": ["code"]}},
    {"name": "finish",
     "description": "End the reconciliation; the proposals go to the bean-check gate and "
                    "then to the human reviewer.",
     "input_schema": {"type": "object", "properties": {"summary": {"type": "string"}},
                      "required": ["summary"]}},
]


@dataclasses.dataclass
class AnthropicAgent:
    api_key: str
    model: str = DEFAULT_MODEL
    max_steps: int = 12
    max_seconds: float = 600.0
    max_tokens: int = 4096
    request_timeout: float = 120.0  # per HTTP request; the SDK retries twice with backoff
    name: str = "anthropic"

    @classmethod
    def from_env(cls, model: str | None) -> AnthropicAgent:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise BadInputError("--agent anthropic needs an API key: export "
                                "ANTHROPIC_API_KEY=sk-ant-... (or drop --agent to use the "
                                "offline agent, which needs none)")
        return cls(api_key=key, model=model or DEFAULT_MODEL)

    def system_prompt(self, task: Task) -> str:
        template = resources.files("beanagent.agent").joinpath("prompts/system.md")
        return (template.read_text("utf-8")
                .replace("{api}", api_reference())
                .replace("{facts}", task.facts or "(no facts)")
                .replace("{statements}", statement_summary(list(task.statements))))

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        import anthropic

        client = anthropic.Anthropic(api_key=self.api_key, max_retries=2,
                                     timeout=self.request_timeout)
        run = AgentRun(self.name, usage={"input_tokens": 0, "output_tokens": 0})
        system = [{"type": "text", "text": self.system_prompt(task),
                   "cache_control": {"type": "ephemeral"}}]
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": "Reconcile the statements. Start by running a script."}]
        deadline = time.monotonic() + self.max_seconds
        while True:
            if len(run.steps) >= self.max_steps:
                run.summary = f"stopped after the step limit ({self.max_steps})"
                return run
            if time.monotonic() > deadline:
                run.summary = f"stopped after the time limit ({self.max_seconds:g} s)"
                return run
            try:
                reply = client.messages.create(model=self.model, max_tokens=self.max_tokens,
                                               system=system, tools=TOOLS, messages=messages)
            except anthropic.APIError as exc:
                raise SandboxError(f"the Anthropic API failed: {_api_message(exc)}") from None
            usage = getattr(reply, "usage", None)
            if usage is not None and run.usage is not None:
                run.usage["input_tokens"] += getattr(usage, "input_tokens", 0) or 0
                run.usage["output_tokens"] += getattr(usage, "output_tokens", 0) or 0
            messages.append({"role": "assistant",
                             "content": [b.model_dump(exclude_none=True) for b in reply.content]})
            results = []
            finished = None
            for block in reply.content:
                if block.type != "tool_use":
                    continue
                args = block.input if isinstance(block.input, dict) else {}
                if block.name == "finish":
                    finished = str(args.get("summary", ""))
                    results.append(_tool_result(block.id, "ok"))
                elif block.name == "run_python" and isinstance(args.get("code"), str):
                    step = run.add_step(args["code"], execute(args["code"]))
                    on_step(step)
                    results.append(_tool_result(block.id, _observation(step.result, run),
                                                error=not step.result.ok))
                else:
                    results.append(_tool_result(
                        block.id, "invalid tool call: use run_python with a 'code' string, "
                        "or finish with a 'summary'", error=True))
            if finished is not None:
                run.summary = finished
                return run
            if not results:
                run.summary = "".join(b.text for b in reply.content if b.type == "text")
                return run
            messages.append({"role": "user", "content": results})


def _observation(result: Any, run: AgentRun) -> str:
    payload = {"ok": result.ok, "output": result.output[-MAX_TOOL_TEXT:],
               "output_truncated": result.output_truncated, "error": result.error,
               "proposals_this_step": len(result.proposals),
               "proposals_so_far": len(run.proposals)}
    return json.dumps(payload, ensure_ascii=False)


def _tool_result(tool_use_id: str, text: str, error: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
    if error:
        out["is_error"] = True
    return out


def _api_message(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
    return f"HTTP {status}: {text}" if status else text
