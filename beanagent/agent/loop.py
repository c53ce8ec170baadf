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
from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol

from beanagent.agent import Checks, Execute, OnStep, Repair
from beanagent.agent.pricing import add_usage, new_usage, total_tokens
from beanagent.model import AgentRun, Step, merge_proposals
from beanagent.sandbox.protocol import OUTPUT_HEAD, clip_middle
from beanagent.settings import AGENT_TIMEOUT, DEFAULT_STEPS, MAX_TOKENS_TOTAL

if TYPE_CHECKING:
    from beanagent.core.proof import Proof

# Of a script's output, what goes back to the model: its head and its tail (errors come
# last), with a marker saying how many characters of the whole output were cut.
TOOL_HEAD = 2000
TOOL_TAIL = 6000
MAX_TOOL_TEXT = TOOL_HEAD + TOOL_TAIL
NUDGE = ("You answered without an action. Run a script with run_python (or call finish "
         "with a summary if there is nothing to do).")
NUDGE_JSON = ("You answered without an action. Call one of the tools (or finish with a "
              "summary if there is nothing to do).")


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
        self.nudged = False  # a first reply without an action is answered once

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
            if not reply.calls:  # a reply with no action ends the run ...
                if self.taken == 0 and not self.nudged:  # ... unless nothing was done yet
                    self.nudged = True
                    run.messages.append({"role": "user", "content": NUDGE if any(
                        t.name == "run_python" for t in self.tools) else NUDGE_JSON})
                    continue
                said = reply.text.strip() or next(
                    (str(m["content"]).strip() for m in reversed(run.messages[:-1])
                     if m["role"] == "assistant" and str(m["content"]).strip()), "")
                run.summary = said or "the model ended without calling finish"
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
            return f"{exc}\n{self.budget()}", True
        self.taken += 1
        # the step's own limit, clipped to the agent's time left
        left = max(0.1, self.limits.max_seconds - self.elapsed())
        step = self.run.add_step(code, execute(code, timeout=left,
                                               staged=list(self.run.proposals)))
        on_step(step)
        if step.result.ok:
            self.round, _ = merge_proposals(self.round, step.result.proposals)
        checked = None
        if step.result.check:  # propose.check(): both gates on the run's proposals
            checked = self._check(step, execute)
        return (observation(step, len(self.run.proposals), self.budget(), checked),
                not step.result.ok)

    def _check(self, step: Step, execute: Execute) -> dict[str, Any]:
        if not step.result.ok:
            return {"ran": False, "why": "the script failed: its proposals were not kept"}
        if not isinstance(execute, Checks):
            return {"ran": False, "why": "no check is available in this run"}
        return {"ran": True, **execute.check(list(self.run.proposals))}

    def budget(self) -> str:
        """One line: steps, tokens and time used and left."""
        lim = self.limits
        used = total_tokens(self.run.usage or {})
        return (f"budget: steps {self.taken}/{lim.max_steps} used "
                f"({max(0, lim.max_steps - self.taken)} left); tokens {used:,}/"
                f"{lim.max_tokens_total:,} used ({max(0, lim.max_tokens_total - used):,} "
                f"left); {max(0.0, lim.max_seconds - self.elapsed()):.0f} s left")

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


def observation(step: Step, so_far: int, budget: str = "",
                checked: dict[str, Any] | None = None) -> str:
    """What the model learns from one script: JSON, so that printed text stays data.
    `output` keeps the head and the tail of everything printed, with a marker saying how
    many characters were cut between them; `proposals_so_far` counts every proposal staged
    in the run (all steps, all rounds); `replaced` says how many earlier ones this step's
    replaced (they cited the same statement lines: a corrected entry replaces the old one,
    it is not booked twice); `check`: what propose.check() found; `budget`: what is left."""
    result = step.result
    output = clip_middle(result.output, TOOL_HEAD, TOOL_TAIL,
                         OUTPUT_HEAD if result.output_truncated else None)
    payload: dict[str, Any] = {
        "ok": result.ok, "output": output,
        "output_truncated": result.output_truncated or output != result.output,
        "error": result.error,
        "proposals_this_step": len(result.proposals) if result.ok else 0,
        "proposals_so_far": so_far, "replaced": step.replaced}
    if checked is not None:
        payload["check"] = checked
    if budget:
        payload["budget"] = budget
    return json.dumps(payload, ensure_ascii=False, default=str)


MAX_CHECK_ITEMS = 40  # of each list in a check's report (the count says how many in all)


def check_report(errors: Sequence[str], proof: Proof | None,
                 rejected: Sequence[str]) -> dict[str, Any]:
    """What `propose.check()` tells the model: bean-check's new errors on the staged copy
    (`file:line: message (proposal P3)`), the proof's findings (`P3 backed: ...`, refused
    ones marked: they would be dropped), the statement lines nothing books yet, each
    closing balance's difference, and the proposals the host's rules refuse."""
    findings: list[str] = []
    unbooked: list[str] = []
    refused = False
    for p in proof.proposals if proof is not None else ():
        for f in p.findings:
            refused = refused or f.refuse
            findings.append(f"{p.id} {f.rule}: {f.message}"
                            + (" (refused: it would be dropped)" if f.refuse
                               else " (flagged for the reviewer)"))
    for st in proof.statements if proof is not None else ():
        name = PurePath(st.file).name  # the file's name, as the prompt gives it
        if st.unbooked:
            where = ", ".join(str(r.line if r.line is not None else r.id) for r in st.unbooked)
            unbooked.append(f"{name}: {len(st.unbooked)} line(s) booked by no entry or "
                            f"proposal: {where[:300]}")
        if st.difference:
            unbooked.append(f"{name}: the closing balance still differs by "
                            f"{st.difference} {st.currency} after the proposals")

    def capped(items: Sequence[str]) -> list[str]:
        rest = len(items) - MAX_CHECK_ITEMS
        return [*items[:MAX_CHECK_ITEMS], *([f"... and {rest} more"] if rest > 0 else [])]

    return {"passed": not errors and not refused and not rejected,
            "errors": capped(errors), "findings": capped(findings),
            "unbooked": capped(unbooked), "rejected": capped(rejected)}
