"""`reconcile`, top to bottom:

    load → statements → agent → validate → stage → gate → review → commit
    load → examine (no statements: what the ledger alone shows, findings only)

Each stage returns a frozen value and never changes it afterwards. Events (progress,
warnings, steps, what is found) go to the `UI` that is passed in (the CLI's renders with
rich, and the audit log listens to it); the core never prints or prompts.

One full load per run: the sandbox server's (what bean-check does, once). The agent's
scripts and the gate's check use its entries there; the host gets the same load as plain
data (ledger/snapshot.py): the accounts, the booked transactions, the error baseline and
where each file's entries sit. The host never parses or loads the ledger itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from beanagent.agent import Agent, Repairing
from beanagent.agent.facts import ledger_facts
from beanagent.agent.script import ReplayAgent, ScriptAgent
from beanagent.core import proposals as rules
from beanagent.core.balance import closing_balances, compare_balance, user_assertions
from beanagent.core.diff import format_diff
from beanagent.core.edit import Reviser, apply_decisions, decide_all
from beanagent.core.findings import find_problems
from beanagent.core.gate import Settled, Verdict, settle
from beanagent.core.match import MatchResult, match_statement
from beanagent.core.proof import Assertion, Proof, blame_balances, prove
from beanagent.errors import AgentError, BadInputError, ExitCode
from beanagent.files.archive import Archiver
from beanagent.files.commit import commit_files, require_writable
from beanagent.files.stage import Stages, prepare
from beanagent.gatecheck import (
    Checking,
    check_verdict,
    readable_for_check,
    start_check,
)
from beanagent.ledger.cache import LoadCache
from beanagent.ledger.load import check_before_load, from_snapshot, read_ahead
from beanagent.ledger.view import AccountInfo, LedgerView
from beanagent.model import (
    ENDINGS,
    AgentRun,
    Decision,
    Finding,
    Ledger,
    LedgerFile,
    Proposal,
    RunResult,
    Staged,
    Step,
    Task,
)
from beanagent.sandbox import start_sandbox
from beanagent.sandbox.runner import Sandbox
from beanagent.settings import Settings, denylist_warnings
from beanagent.statements.dispatch import read_statements, require_size
from beanagent.statements.model import Statement
from beanagent.steps import Gates, agent_fix, check_gates, step_executor
from beanagent.text import display_path


class UI(Protocol):
    def status(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def step(self, step: Step) -> None: ...
    def outcome(self, outcome: RunResult) -> None: ...
    def diff(self, text: str) -> None: ...
    def approve(self, items: Sequence[Proposal], statements: Sequence[Statement],
                revise: Callable[[Proposal, str], Proposal],
                proof: Proof | None = None) -> list[Decision]: ...
    def summary(self, outcome: RunResult) -> None: ...
    def weak_sandbox(self, missing: list[str]) -> None: ...
    def script(self, code: str) -> None: ...
    def findings(self, items: Sequence[Finding]) -> None: ...


OnLoad = Callable[[Ledger, list[Statement]], None]


# --- the values between stages ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Loaded:
    """The ledger as parsed (accounts, files, where entries sit) and the statements."""

    ledger: Ledger
    view: LedgerView  # over the server's full load: what proposals are validated against
    statements: tuple[Statement, ...]

    @functools.cached_property  # once per run, not once per validation round
    def accounts(self) -> Mapping[str, AccountInfo]:
        return rules.known_accounts(self.view, self.ledger.options)


@dataclasses.dataclass(frozen=True)
class Acted:
    """What the agent did and the proposals that passed the rules."""

    run: AgentRun
    seconds: float  # the agent's time, gate-feedback rounds included
    proposals: tuple[Proposal, ...]


@dataclasses.dataclass(frozen=True)
class Found:
    """The fully loaded ledger, what matching it against the statements found, and what the
    proof needs of it: each statement's ledger balance on its closing day, and the user's
    own `balance` assertions (by file and line)."""

    full: Ledger
    view: LedgerView
    matches: tuple[MatchResult, ...]
    balances: Mapping[int, Decimal | None]
    assertions: Mapping[tuple[str, int], Assertion]

    def prove(self, proposals: Sequence[Proposal], statements: Sequence[Statement],
              settings: Settings, manual: bool) -> Proof:
        return prove(proposals, statements, self.matches, self.view.accounts,
                     settings.window_days, manual=manual, balances=self.balances,
                     denylist=settings.denylist)


@dataclasses.dataclass(frozen=True)
class Gated:
    """The gate's final verdict, after any repair rounds."""

    settled: Settled
    repair_seconds: float  # the agent's time spent fixing its proposals


@dataclasses.dataclass(frozen=True)
class Reviewed:
    """What the user accepted, checked again when it differs from what was checked."""

    result: RunResult
    staged: Staged  # the copy holding exactly the accepted entries


# --- the pipeline -------------------------------------------------------------------------


def reconcile(ledger_path: Path, statement_paths: Sequence[Path], agent: Agent,
              settings: Settings, ui: UI, sandbox: Sandbox | None = None,
              on_load: OnLoad | None = None,
              read: Sequence[Statement] | None = None,
              cache: LoadCache | None = None) -> RunResult:
    """The whole run. `sandbox`: one the CLI started early (after recovering an interrupted
    write), else one is started here. `on_load` sees the files as loaded and the
    statements as parsed (the audit log records their sha256). `read`: the statements of
    `statement_paths` already read and tied to their accounts (the inbox's). `cache`: the
    load cache for the full load (None: off)."""
    if not ledger_path.is_file():
        raise BadInputError("ledger file not found", file=str(ledger_path))
    if sandbox is None:
        check_before_load(ledger_path, str(ledger_path))
        sandbox = start_sandbox(ledger_path, settings, ui.warn, cache)
    with sandbox, Stages() as stages, \
            Archiver(ledger_path, settings.archive, settings.dry_run, ui.warn) as archiver:
        loaded = load(ledger_path, statement_paths, settings, ui, sandbox, read)
        _cache_warning(cache, ui)
        if on_load is not None:
            on_load(loaded.ledger, list(loaded.statements))
        if not loaded.statements and not isinstance(agent, ScriptAgent | ReplayAgent):
            return examine(loaded, settings, ui)  # what the ledger alone shows
        found_once = functools.cache(lambda: _found(loaded, settings))
        acted = act(agent, loaded, sandbox, settings, ui,
                    check_gates(stages, loaded, found_once, sandbox, settings))
        acted = dataclasses.replace(acted, proposals=acted.proposals + tuple(  # archive =
            archiver.propose(loaded.ledger, loaded.statements, acted.proposals)))
        checking = stage(stages, loaded, acted.proposals, sandbox, ui)
        if checking is not None and not settings.dry_run:  # every write possible, before asking
            require_writable(loaded.ledger, checking.staged.new_bytes)
        found = find(loaded, found_once, ui)
        proof = found.prove(acted.proposals, loaded.statements, settings,
                            getattr(agent, "manual", False))
        result = RunResult(loaded.ledger.path, loaded.statements, found.matches,
                           acted.proposals, acted.run, acted.seconds, proof=proof,
                           balance=compare_balance(loaded.statements, found.view,
                                                   acted.proposals, found.matches))
        if checking is None:  # nothing to propose
            ui.outcome(result)
            return result
        early = not settings.dry_run and not settings.yes
        if early:  # someone is going to read this: show it while the check runs behind it
            result = dataclasses.replace(result, diff=format_diff(checking.staged))
            ui.outcome(result)
            ui.diff(result.diff)
        gated = gate(stages, loaded, found, acted, checking, proof, agent, sandbox, settings,
                     ui)
        settled = gated.settled
        result = dataclasses.replace(
            result, proposals=settled.proposals, gate=settled.gate, dropped=settled.dropped,
            proof=dataclasses.replace(settled.proof,  # with the verdicts on what it dropped
                                      proposals=settled.proof.proposals + settled.refused),
            agent_seconds=acted.seconds + gated.repair_seconds,
            balance=compare_balance(loaded.statements, found.view, settled.proposals,
                                  found.matches),
            diff=format_diff(settled.stage) if settled.proposals else "")
        if not early or settled.rounds:  # not shown yet, or what was shown changed
            ui.outcome(result)
            if settled.verdict.passed:
                ui.diff(result.diff)
        if not settled.verdict.passed:  # the errors are shown; nothing is reviewed
            return dataclasses.replace(result, exit_code=ExitCode.CHECK_FAILED)
        if settings.dry_run:
            return result
        reviewed = review(stages, loaded, found, settled, result, sandbox, settings, ui)
        if reviewed.result.exit_code != ExitCode.OK:
            return reviewed.result
        written = commit_files(  # the real ledger is proven and checked again once written
            loaded.ledger, reviewed.staged.new_bytes,
            lambda: sandbox.bean_check(loaded.ledger.path, readable_for_check(loaded.ledger,
                                                                     reviewed.staged)),
            found.full.errors, stage=reviewed.staged,
            expected=[p.text for p in reviewed.result.proposals
                      if p.id in (reviewed.result.accepted or ())])
        return archiver.finish(  # the statements filed with their entries leave the inbox
            dataclasses.replace(reviewed.result, committed=True, written=tuple(written)))



def load(ledger_path: Path, statement_paths: Sequence[Path], settings: Settings,
         ui: UI, sandbox: Sandbox, read: Sequence[Statement] | None = None) -> Loaded:
    """The ledger as the sandbox server's full load found it (waits for that load), and
    the statements read against it."""
    ui.status(f"reading {display_path(ledger_path)}")
    ahead = _while_loading(ledger_path, sandbox)

    def loaded() -> Ledger:
        return _with_target(from_snapshot(ledger_path, sandbox.snapshot(), str(ledger_path),
                                          ahead), settings)

    # The statements are read on the load's body while the server validates it; a ledger
    # the load refuses is still said first, and what reading them warned of after it.
    view = sandbox.snapshot_body().view()
    notes: list[str] = []
    try:
        if read is None:
            statements = read_statements(statement_paths, view, settings, notes.append)
        else:  # the inbox read and identified them (against the same files, parsed alike)
            statements = list(read)
            require_size(statements)
    except BaseException:
        loaded()
        _warn_all(ui, settings, view, notes)
        raise
    ledger = loaded()
    _warn_all(ui, settings, view, notes)
    return Loaded(ledger, view, tuple(statements))


def _warn_all(ui: UI, settings: Settings, view: LedgerView, notes: list[str]) -> None:
    for warning in [*denylist_warnings(settings.denylist, view.accounts), *notes]:
        ui.warn(warning)


def _while_loading(ledger_path: Path, sandbox: Sandbox) -> dict[Path, LedgerFile]:
    """What this process does while the sandbox server loads the ledger (it has a core of
    its own): refuse what can't be a ledger (check_before_load) and read the ledger's
    files. Importing every statement reader, beancount's parser and printer, and readying
    the files for staging (their style) wait for the first time the host waits on the
    server: a cached load is often there before the host asks for it, and then they are
    done while the agent's script runs (reading the statements imports what it needs)."""
    ahead = read_ahead(ledger_path, str(ledger_path))
    sandbox.when_idle(_import_readers)
    sandbox.when_idle(functools.partial(_ready_to_stage, list(ahead.values())))
    return ahead


def _import_readers() -> None:
    import beanagent.statements.camt
    import beanagent.statements.csv
    import beanagent.statements.judge
    import beanagent.statements.mt940
    import beanagent.statements.qif
    import beanagent.statements.resolve  # noqa: F401


def _ready_to_stage(files: list[LedgerFile]) -> None:
    import beancount.parser.lexer
    import beancount.parser.printer  # noqa: F401

    for file in files:
        with contextlib.suppress(UnicodeDecodeError):  # the load says what is wrong with it
            prepare(file)


def examine(loaded: Loaded, settings: Settings, ui: UI) -> RunResult:
    """No statements: the ledger's own problems (core/findings.py), each with its fix.
    Findings only: nothing is proposed or written, and the exit code is 0."""
    ui.status("checking what the ledger alone shows")
    full = loaded.ledger
    findings = find_problems(loaded.view, full.errors,
                             settings.review_account, settings.window_days)
    shown = {(f.file, f.line) for f in findings if f.kind == "balance"}
    other = [e for e in full.errors if (e.file, e.line) not in shown]
    if other:
        ui.warn(f"{display_path(loaded.ledger.path)} has {len(other)} other bean-check "
                f"error(s) (first: {other[0]})")
    result = RunResult(loaded.ledger.path, (), (), (), None, 0.0, findings=tuple(findings))
    ui.findings(result.findings)
    ui.outcome(result)
    return result


def act(agent: Agent, loaded: Loaded, sandbox: Sandbox, settings: Settings,
        ui: UI, gates: Gates | None = None) -> Acted:
    """The agent's run in the sandbox, and its proposals held to the rules on this side."""
    facts = ledger_facts(loaded.view, list(loaded.statements)) \
        if getattr(agent, "needs_facts", False) else ""
    ui.status(f"running the {agent.name} agent")
    started = time.monotonic()
    if sandbox.weak:
        ui.weak_sandbox(sandbox.missing_layers)
    run = agent.run(Task(loaded.statements, settings.review_account, facts),
                    step_executor(sandbox, loaded, settings, ui, gates), ui.step)
    seconds = time.monotonic() - started
    if run.stopped is not None:
        ui.warn(f"the {agent.name} agent {run.summary}")
    if not any(s.result.ok for s in run.steps):
        raise AgentError(_no_script(run, agent.name), run=run, seconds=seconds)
    if settings.save_script is not None:
        settings.save_script.write_text(
            "\n\n# --- next step ---\n\n".join(run.scripts), encoding="utf-8")
    return Acted(run, seconds, tuple(_validated(run.proposals, loaded, ui)))


def _no_script(run: AgentRun, name: str) -> str:
    """Why no script of the agent's ran to completion, with the model's own last words
    (its finish summary, or the reply that ended the run) on one line, cut at 300
    characters."""
    if run.steps:
        why = f"the {name} agent's script failed: {run.steps[-1].result.error or 'no output'}"
    else:
        why = f"the {name} agent ran no script"
    if run.ended is not None:
        why += f" (it {ENDINGS.get(run.ended, run.ended)})"
    said = " ".join((run.said or "").split())  # one line: the model's text may be anything
    if said:
        why += f"; it said: {said[:300]}" + ("…" if len(said) > 300 else "")
    return why


def stage(stages: Stages, loaded: Loaded, proposals: Sequence[Proposal], sandbox: Sandbox,
          ui: UI) -> Checking | None:
    """The staged copy with the proposals written in, its check started in the sandbox
    (`gate` collects the verdict); None when there is nothing to propose."""
    if not proposals:
        return None
    staged, _ = stages.stage(loaded.ledger, list(proposals))
    ui.status("checking the staged ledger (bean-check)")
    return start_check(sandbox, loaded.ledger, staged)


def find(loaded: Loaded, found: Callable[[], Found], ui: UI) -> Found:
    full = loaded.ledger
    if full.errors:
        ui.warn(f"{display_path(loaded.ledger.path)} already has {len(full.errors)} "
                f"bean-check error(s) (first: {full.errors[0]}); only new errors will count")
    return found()


def _cache_warning(cache: LoadCache | None, ui: UI) -> None:
    """The cache's one warning (a file refused, a folder that can't be used), said from
    this thread once the load it concerns is done."""
    if cache is not None and cache.warning:
        ui.warn(cache.warning)


def _found(loaded: Loaded, settings: Settings) -> Found:
    full, view = loaded.ledger, loaded.view
    matches = tuple(match_statement(view, st, settings.window_days, settings.review_account)
                    for st in loaded.statements)
    return Found(full, view, matches, closing_balances(view, loaded.statements),
                 user_assertions(view))


def gate(stages: Stages, loaded: Loaded, found: Found, acted: Acted, checking: Checking,
         proof: Proof, agent: Agent, sandbox: Sandbox, settings: Settings, ui: UI) -> Gated:
    """bean-check's verdict on the staged copy; when it fails, the repair rounds
    (core/gate.settle): the agent fixes its proposals if it can, else what fails is
    dropped."""
    staged = checking.staged
    items = [dataclasses.replace(p, target=staged.targets[p.id], text=staged.texts[p.id])
             for p in acted.proposals]
    manual = getattr(agent, "manual", False)
    first = Verdict(check_verdict(sandbox, checking, found.full), proof)
    spent: list[float] = []  # the agent's time in repair rounds
    gates = check_gates(stages, loaded, lambda: found, sandbox, settings)
    fix = agent_fix(agent, step_executor(sandbox, loaded, settings, ui, gates),
                    lambda raws, earlier: _validated(raws, loaded, ui, earlier), ui, spent) \
        if isinstance(agent, Repairing) else None
    settled = settle(staged, first, items,
                     lambda chosen: _restage(stages, loaded, found, chosen, sandbox, settings,
                                             manual, ui),
                     ui.warn, fix,
                     lambda problems, chosen: blame_balances(problems, chosen, found.assertions))
    return Gated(settled, sum(spent))


def review(stages: Stages, loaded: Loaded, found: Found, settled: Settled, shown: RunResult,
           sandbox: Sandbox, settings: Settings, ui: UI) -> Reviewed:
    """The user's decisions (or --yes), their edits held to the agent's rules, and what
    they accepted checked again when it differs from what was checked."""
    items = list(settled.proposals)
    revise = Reviser(lambda: rules.known_accounts(found.view, loaded.ledger.options), items)
    flagged = set(settled.proof.flagged)  # --yes never accepts what the proof flags
    decisions = [dataclasses.replace(d, accepted=d.id not in flagged)
                 for d in decide_all(items)] if settings.yes else \
        ui.approve(items, loaded.statements, revise, settled.proof)
    chosen, edited = apply_decisions(items, decisions, revise)
    result = dataclasses.replace(shown, decisions=tuple(decisions),
                                 accepted=tuple(i.id for i in chosen), edited=tuple(edited))
    if not chosen:
        return Reviewed(dataclasses.replace(result, exit_code=ExitCode.DECLINED),
                        settled.stage)
    staged, verdict = settled.stage, settled.verdict
    manual = True  # what the user accepted (and edited) is theirs: unbacked is flagged
    if len(chosen) < len(items) or edited:
        staged, verdict, chosen = _restage(stages, loaded, found, chosen, sandbox, settings,
                                           manual, ui)
        blamed = {e.proposal for e in verdict.problems if e.proposal}
        if not verdict.passed and blamed and all(
                i.spec.kind == "balance" for i in chosen if i.id in blamed):
            ui.warn("with the entries as you accepted them the balance assertion no "
                    f"longer holds; dropping {', '.join(sorted(blamed))}")
            chosen = [i for i in chosen if i.id not in blamed]
            staged, verdict, chosen = _restage(stages, loaded, found, chosen, sandbox,
                                               settings, manual, ui)
    by_id = {i.id: i for i in chosen}  # the report shows the entries as written
    result = dataclasses.replace(
        result, accepted=tuple(by_id), gate=verdict.gate, proof=verdict.proof,
        proposals=tuple(by_id.get(i.id, i) for i in items),
        balance=compare_balance(loaded.statements, found.view, chosen, found.matches))
    if not verdict.passed:
        result = dataclasses.replace(result, exit_code=ExitCode.CHECK_FAILED)
    elif not chosen:
        result = dataclasses.replace(result, exit_code=ExitCode.DECLINED)
    if chosen or not verdict.passed:
        ui.summary(result)
    return Reviewed(result, staged)


# --- the parts ----------------------------------------------------------------------------


def _validated(raws: Sequence[Any], loaded: Loaded, ui: UI,
               earlier: Sequence[Proposal] = ()) -> list[Proposal]:
    items, warnings = rules.validate_all(raws, loaded.accounts, loaded.statements,
                                         rules.currency_places(loaded.ledger.options), earlier)
    for warning in warnings:
        ui.warn(warning)
    return items


def _with_target(ledger: Ledger, settings: Settings) -> Ledger:
    """--output FILE, else the configured target_file: one of the files the ledger includes
    (a new file would need an `include` the user should write themselves)."""
    if settings.output is not None:
        chosen, origin = settings.output.resolve(), "--output"
    elif settings.target_file:
        chosen, origin = (ledger.path.parent / settings.target_file).resolve(), "target_file"
    else:
        return ledger
    if chosen not in ledger.files:
        raise BadInputError(f"{origin} {chosen} is not part of the ledger; add "
                            f"`include \"{os.path.relpath(chosen, ledger.path.parent)}\"` to "
                            f"{ledger.path.name} first, or choose a file it includes",
                            file=str(ledger.path))
    return dataclasses.replace(ledger, target=chosen)


def _restage(stages: Stages, loaded: Loaded, found: Found, items: list[Proposal],
             sandbox: Sandbox, settings: Settings, manual: bool,
             ui: UI) -> tuple[Staged, Verdict, list[Proposal]]:
    staged, items = stages.stage(loaded.ledger, items)
    ui.status("checking the staged ledger again (bean-check)")
    checking = start_check(sandbox, loaded.ledger, staged)
    return staged, Verdict(check_verdict(sandbox, checking, found.full),
                           found.prove(items, loaded.statements, settings, manual)), items
