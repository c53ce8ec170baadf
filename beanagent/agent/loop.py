"""The CodeAct loop, written once for every wire protocol.

A `Session` is one conversation with a model. It asks the model (through a `Wire`: the
Messages API, or OpenAI's Chat Completions), runs what the model asked for (through
`Actions`: `run_python`'s code, or plain JSON tools turned into small scripts; either way
every action is a script run in the sandbox), and sends back an observation: the script's
output, its traceback, and how many proposals exist. `finish` ends it.

Bounds: actions (scripts run, plus tool calls too malformed to run), tokens (everything
the model read and wrote, cached or not) and wall time. Whichever is reached first ends the
run with a message in `run.summary`; what the scripts proposed until then is kept.

The conversation is kept in a protocol-neutral form, which is also the transcript the audit
log records (`AgentRun.messages`):

    {"role": "system", "content": str}                      once, first
    {"role": "user", "content": str}
    {"role": "assistant", "content": str, "calls": [{"id", "name", "input", "problem"}],
     "usage": {...}}
    {"role": "tool", "call_id": str | None, "name": str, "content": str, "error": bool}

A call with no id is a fenced code block the adapter read as `run_python` (models without
tool calling); each adapter renders these messages in its own protocol.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Protocol

from beanagent.agent import Execute, OnStep, Repair
from beanagent.agent.pricing import add_usage, new_usage, total_tokens
from beanagent.model import AgentRun, Step, merge_proposals
from beanagent.settings import AGENT_TIMEOUT, DEFAULT_STEPS, MAX_TOKENS_TOTAL

MAX_TOOL_TEXT = 8000  # of a script's output, sent back (the tail: errors come last)


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON schema (an object)


@dataclasses.dataclass(frozen=True)
class Call:
    id: str | None  # None: a fenced code block, read as run_python
    name: str
    input: dict[str, Any] | None  # None: the arguments were not a JSON object
    problem: str = ""  # why they weren't

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "input": self.input}
        if self.problem:
            out["problem"] = self.problem
        return out


@dataclasses.dataclass(frozen=True)
class Reply:
    text: str
    calls: list[Call]
    usage: dict[str, int]  # pricing.TOKEN_FIELDS


class Wire(Protocol):
    """One protocol's client. `send` raises AgentError (exit 5) with a one-line message
    once its retries are spent."""

    def send(self, system: str, messages: list[dict[str, Any]], tools: list[ToolSpec],
             timeout: float) -> Reply: ...


class InvalidCall(Exception):
    """A tool call that can't be run; the message goes back to the model."""


class Actions(Protocol):
    tools: list[ToolSpec]  # `finish` is added by the loop

    def script(self, call: Call) -> str:
        """The script that carries out `call` (raises InvalidCall)."""
        ...


FINISH = ToolSpec(
    "finish",
    "End your work. The proposals go to a bean-check of the combined ledger (errors come "
    "back to you) and then to the human reviewer.",
    {"type": "object",
     "properties": {"summary": {"type": "string", "description": "what you did, briefly"},
                    "withdraw": {"type": "array", "items": {"type": "string"},
                                 "description": "after bean-check errors only: ids (P3) of "
                                                "earlier proposals to withdraw"}},
     "required": ["summary"]})


@dataclasses.dataclass(frozen=True)
class Limits:
    max_steps: int = DEFAULT_STEPS["code"]  # actions: scripts run, plus calls too malformed
    max_tokens_total: int = MAX_TOKENS_TOTAL  # input + output + cache reads and writes
    max_seconds: float = AGENT_TIMEOUT  # wall time in the agent (model and scripts)
    request_timeout: float = 120.0  # one HTTP request (retries come on top, within the above)
    max_reply_tokens: int = 4096  # one reply


class Session:
    """One conversation: `drive` runs the loop until `finish`, a reply without a tool call,
    or a bound; `repair` continues it with the gate's errors."""

    def __init__(self, wire: Wire, actions: Actions, system: str, run: AgentRun,
                 limits: Limits, model: str):
        self.wire = wire
        self.actions = actions
        self.tools = [*actions.tools, FINISH]
        self.run = run
        self.limits = limits
        self.model = model
        run.messages = [{"role": "system", "content": system}]
        run.usage = new_usage()
        self.taken = 0  # actions, for the step bound
        self.seconds = 0.0  # spent in earlier drives
        self._since = 0.0
        self.round: list[Any] = []  # this round's proposals (merge_proposals within it)
        self.withdrawn: tuple[str, ...] = ()

    # bounds

    def elapsed(self) -> float:
        return self.seconds + (time.monotonic() - self._since if self._since else 0.0)

    def bound(self, tokens: bool = True) -> tuple[str, str] | None:
        """(which, message) when a bound is reached."""
        lim = self.limits
        if self.taken >= lim.max_steps:
            return "steps", f"stopped after the step limit ({lim.max_steps} steps)"
        used = total_tokens(self.run.usage or {})
        if tokens and used >= lim.max_tokens_total:
            return "tokens", (f"stopped after the token limit ({used:,} tokens used, limit "
                              f"{lim.max_tokens_total:,})")
        if self.elapsed() >= lim.max_seconds:
            return "time", f"stopped after the time limit ({lim.max_seconds:g} s)"
        return None

    # the loop

    def drive(self, execute: Execute, on_step: OnStep) -> None:
        self._since = time.monotonic()
        try:
            self._drive(execute, on_step)
        finally:
            self.seconds = self.elapsed()
            self._since = 0.0

    def _drive(self, execute: Execute, on_step: OnStep) -> None:
        run = self.run
        while True:
            hit = self.bound()
            if hit is not None:
                run.stopped = hit[0]
                run.summary = f"{hit[1]}; the valid proposals so far are kept"
                return
            timeout = min(self.limits.request_timeout,
                          max(1.0, self.limits.max_seconds - self.elapsed()))
            reply = self.wire.send(str(run.messages[0]["content"]), run.messages[1:],
                                   self.tools, timeout)
            add_usage(run.usage if run.usage is not None else new_usage(), reply.usage,
                      self.model)
            run.messages.append({"role": "assistant", "content": reply.text,
                                 "calls": [c.to_json() for c in reply.calls],
                                 "usage": dict(reply.usage)})
            if not reply.calls:  # a reply with no action ends the run
                run.summary = reply.text.strip() or "the model ended without calling finish"
                return
            finished = None
            for call in reply.calls:
                if call.name == "finish" and call.input is not None:
                    finished = str(call.input.get("summary") or "")
                    withdraw = call.input.get("withdraw") or []
                    if isinstance(withdraw, list):
                        self.withdrawn = tuple(str(w) for w in withdraw)
                    self._tell(call, "ok")
                    continue
                text, error = self._act(call, execute, on_step)
                self._tell(call, text, error)
            if finished is not None:
                run.summary = finished
                return

    def _act(self, call: Call, execute: Execute, on_step: OnStep) -> tuple[str, bool]:
        hit = self.bound(tokens=False)  # tokens already spent on this reply: run its calls
        if hit is not None:
            return f"not run: {hit[1]}", True
        try:
            if call.input is None:
                raise InvalidCall(f"invalid tool call: the arguments of {call.name} are not "
                                  f"a JSON object ({call.problem or 'unreadable'})")
            code = self.actions.script(call)
        except InvalidCall as exc:
            self.taken += 1
            return str(exc), True
        self.taken += 1
        step = self.run.add_step(code, execute(code))
        on_step(step)
        if step.result.ok:
            self.round, _ = merge_proposals(self.round, step.result.proposals)
        return observation(step, len(self.run.proposals)), not step.result.ok

    def _tell(self, call: Call, text: str, error: bool = False) -> None:
        self.run.messages.append({"role": "tool", "call_id": call.id, "name": call.name,
                                  "content": text, "error": error})

    # gate feedback

    def repair(self, feedback: str, execute: Execute, on_step: OnStep) -> Repair | None:
        """Another round with the gate's errors; None when a bound was already reached."""
        if self.run.stopped is not None or self.bound() is not None:
            return None
        self.round, self.withdrawn = [], ()
        self.run.rounds += 1
        self.run.messages.append({"role": "user", "content": feedback})
        self.drive(execute, on_step)
        return Repair(list(self.round), self.withdrawn)


def observation(step: Step, so_far: int) -> str:
    """What the model learns from one script: JSON, so that printed text stays data.
    `proposals_so_far` counts every proposal staged in the run (all steps, all rounds);
    `replaced` says how many earlier ones this step's replaced (they cited the same
    statement lines: a corrected entry replaces the old one, it is not booked twice)."""
    result = step.result
    payload = {"ok": result.ok, "output": result.output[-MAX_TOOL_TEXT:],
               "output_truncated": result.output_truncated
               or len(result.output) > MAX_TOOL_TEXT,
               "error": result.error,
               "proposals_this_step": len(result.proposals) if result.ok else 0,
               "proposals_so_far": so_far, "replaced": step.replaced}
    return json.dumps(payload, ensure_ascii=False)
