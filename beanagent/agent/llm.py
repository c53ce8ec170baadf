"""What the LLM agents share: the prompt, the bounds, the loop, gate feedback. An agent for
one API only says how to reach it (`wire`)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from importlib import resources

from beanagent.agent import Execute, OnStep, Repair
from beanagent.agent.actions import actions_for
from beanagent.agent.facts import api_reference, statement_summary, worked_example
from beanagent.agent.loop import Limits, Session, Wire
from beanagent.errors import BadInputError
from beanagent.model import AgentRun, Task
from beanagent.settings import AGENT_TIMEOUT, DEFAULT_STEPS, MAX_TOKENS_TOTAL


def _prompt(name: str) -> str:
    return resources.files("beanagent.agent").joinpath(f"prompts/{name}").read_text("utf-8")


_PLACEHOLDER = re.compile(r"\{(api|example|actions|review|steps|tokens|seconds|facts|"
                          r"statements)\}")


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template's `{name}` placeholders replaced in one pass: what is inserted (the
    ledger's facts, the statements' text) is never scanned again, so a payee named
    "{statements}" stays text. (Chained str.replace expanded it.)"""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def require_safe_url(url: str, allow_insecure: bool, what: str = "--base-url") -> None:
    """Refuse to send the API key and the ledger's data over plain http, except to this
    machine (localhost, 127.0.0.0/8, ::1: a local model server) or when the user said
    `--allow-insecure-url`. Raises BadInputError (exit 2)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() != "http" or allow_insecure:
        return
    host = (parts.hostname or "").rstrip(".")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if not loopback:
        raise BadInputError(
            f"{what} {url} is plain http to another machine: your API key and the ledger's "
            "data would travel unencrypted. Use https://, a server on this machine "
            "(localhost, 127.0.0.1, ::1), or pass --allow-insecure-url")


@dataclasses.dataclass(kw_only=True)
class LLMAgent:
    model: str
    actions: str = "code"  # "code": run_python (CodeAct); "json": plain JSON tools
    max_steps: int | None = None  # default by actions: DEFAULT_STEPS
    max_tokens_total: int = MAX_TOKENS_TOTAL
    max_seconds: float = AGENT_TIMEOUT
    max_tokens: int = Limits.max_reply_tokens  # one reply
    request_timeout: float = Limits.request_timeout
    name: str = "llm"
    needs_facts = True  # the workflow writes up the ledger's facts for the prompt

    def __post_init__(self) -> None:
        self._session: Session | None = None

    def wire(self) -> Wire:
        raise NotImplementedError

    def limits(self) -> Limits:
        steps = self.max_steps if self.max_steps is not None else DEFAULT_STEPS[self.actions]
        return Limits(steps, self.max_tokens_total, self.max_seconds, self.request_timeout,
                      self.max_tokens)

    def system_prompt(self, task: Task) -> str:
        """The instructions (prompt files), the API reference and worked example, the
        budget, the ledger's facts and the statements. Each fill is one pass, so text
        from the ledger or a statement is never read as a placeholder."""
        how = fill(_prompt(f"{self.actions}.md"), {"api": api_reference(),
                                                   "example": worked_example()})
        limits = self.limits()
        return fill(_prompt("system.md"), {
            "actions": how.strip(), "review": task.review_account,
            "steps": str(limits.max_steps), "tokens": f"{limits.max_tokens_total:,}",
            "seconds": f"{limits.max_seconds:g}", "facts": task.facts or "(no facts)",
            "statements": statement_summary(task.statements)})

    def first_message(self) -> str:
        return "Reconcile the statements. Start by " + (
            "running a script." if self.actions == "code" else "matching each statement.")

    def run(self, task: Task, execute: Execute, on_step: OnStep) -> AgentRun:
        run = AgentRun(self.name, model=self.model)
        self._session = Session(self.wire(), actions_for(self.actions),
                                self.system_prompt(task), run, self.limits(), self.model)
        run.messages.append({"role": "user", "content": self.first_message()})
        self._session.drive(execute, on_step)
        return run

    def repair(self, errors: list[str], staged: list[tuple[str, str]], execute: Execute,
               on_step: OnStep) -> Repair | None:
        if self._session is None:
            return None
        listed = "\n".join(f"- {e}" for e in errors)
        entries = "\n".join(f"{pid}:\n" + "\n".join("  " + row for row in text.splitlines())
                            for pid, text in staged)
        feedback = (f"The bean-check of the combined ledger failed. New errors:\n{listed}\n\n"
                    f"The proposals as staged:\n{entries}\n\n"
                    "Proposals named by an error are withdrawn unless you propose them again. "
                    "Propose the corrected entries, withdraw any other proposal that causes an "
                    "error (finish's `withdraw`), then call finish.")
        return self._session.repair(feedback, execute, on_step)
