"""`reconcile` as a readable sequence of stages:
load → import statements → agent → validate → stage → check → review → commit.

Core code never prints or prompts: a `UI` is passed in (the CLI's renders with rich).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from beanagent import proposals
from beanagent.agent import Agent, Repairing, Step, Task
from beanagent.agent.facts import ledger_facts
from beanagent.check import GateError, GateResult, check_stage
from beanagent.commit import commit_files, recover
from beanagent.config import Config, load_config
from beanagent.errors import BadInputError, BeanagentError, ExitCode, SandboxError
from beanagent.ledger import AccountInfo, LedgerView
from beanagent.load import Ledger, complete, parse_ledger
from beanagent.reconcile.culprits import find_culprits
from beanagent.reconcile.match import MatchResult, match_statement
from beanagent.repair import Fix, settle
from beanagent.report import BalanceCheck, Outcome, display_path
from beanagent.review import Decision, Reviser, apply_decisions, decide_all, format_diff
from beanagent.sandbox.runner import Sandbox, StepResult
from beanagent.stage import Item, Stage, incremental_request, stage_items
from beanagent.statements.model import Statement


class UI(Protocol):
    def status(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def step(self, step: Step) -> None: ...
    def outcome(self, outcome: Outcome) -> None: ...
    def diff(self, text: str) -> None: ...
    def approve(self, items: list[Item], statements: list[Statement],
                revise: Callable[[Item, str], Item]) -> list[Decision]: ...
    def summary(self, outcome: Outcome) -> None: ...
    def weak_sandbox(self, missing: list[str]) -> None: ...
    def script(self, code: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class Options:
    account: str | None = None
    dry_run: bool = False
    yes: bool = False
    closing_balance: tuple[Decimal, str] | None = None
    importers: Path | None = None
    csv: tuple[tuple[str, Any], ...] = ()  # CsvOptions overrides from flags
    save_script: Path | None = None
    allow_weak_sandbox: bool = False  # run scripts even without Landlock/seccomp
    output: Path | None = None  # the file new entries go into (one the ledger includes)


def load_statements(paths: Sequence[Path], view: LedgerView, config: Config, opts: Options,
                    ui: UI) -> list[Statement]:
    from beanagent.statements.csv import CsvOptions
    from beanagent.statements.parse import check_size, parse_statement_file
    from beanagent.statements.resolve import resolve_statement

    importers = None
    if opts.importers is not None:
        from beanagent.statements.beangulp_bridge import load_importers

        importers = load_importers(opts.importers)
    if opts.closing_balance is not None and len(paths) != 1:
        raise BadInputError("--closing-balance applies to a single statement; pass one file")
    out: list[Statement] = []
    for path in paths:
        rule = config.rule_for(path)
        csv_values = dict(rule.csv if rule else ())
        csv_values.update(opts.csv)
        raws = parse_statement_file(path, str(path), CsvOptions(**csv_values), importers)
        for raw in raws:
            st, notes = resolve_statement(
                raw, view, account=opts.account, rule_account=rule.account if rule else None,
                sign_fixed="negate" in csv_values, closing_balance=opts.closing_balance)
            for note in notes:
                ui.warn(note)
            out.append(st)
    check_size(out)
    return out


def _pad(number: Decimal | None, places: dict[str, int], currency: str | None) -> Decimal | None:
    """Show '-42.4' as '-42.40' when the ledger writes USD with 2 decimals; never round."""
    if number is None or currency not in places:
        return number
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent < places[currency]:
        return number.quantize(Decimal(1).scaleb(-places[currency]))
    return number


def _ledger_places(ledger: Ledger) -> dict[str, int]:
    from beancount.core.display_context import Precision

    dcontext = ledger.options.get("dcontext")
    out: dict[str, int] = {}
    for currency, ctx in (getattr(dcontext, "ccontexts", None) or {}).items():
        places = ctx.get_fractional(Precision.MOST_COMMON)
        if isinstance(places, int):
            out[currency] = places
    return out


def _padded(spec: proposals.Spec, places: dict[str, int]) -> proposals.Spec:
    if spec.kind == "balance":
        return dataclasses.replace(spec, number=_pad(spec.number, places, spec.currency))
    return dataclasses.replace(spec, postings=tuple(
        dataclasses.replace(p, number=_pad(p.number, places, p.currency))
        for p in spec.postings))


def _validate(raws: list[Any], accounts: Mapping[str, AccountInfo],
              statements: list[Statement], ui: UI, places: dict[str, int],
              earlier: Sequence[Item] = ()) -> list[Item]:
    """Re-check everything the agent proposed: the child's word is untrusted. Evidence
    that names no line of the parsed statements is dropped, and a transaction left with
    none says so in its reason. `earlier`: proposals already validated (a repair round's
    come after them: the accounts they open count)."""
    known = {(ln.ref.file, ln.ref.line, ln.ref.id) for st in statements for ln in st.lines}
    items: list[Item] = []
    opened = {i.spec.account: i.spec.date for i in earlier
              if i.spec.kind == "open" and i.spec.account}
    for raw in raws:
        try:
            spec = proposals.validate(raw, accounts, opened)
        except proposals.ProposalError as exc:
            ui.warn(f"proposal rejected: {exc}")
            continue
        if spec.kind == "open" and spec.account:
            opened[spec.account] = spec.date
        evidence = tuple(r for r in spec.evidence if (r.file, r.line, r.id) in known)
        reason = spec.reason
        if spec.kind == "transaction" and not evidence:
            reason = ("NO STATEMENT EVIDENCE: no line of the statements supports this entry. "
                      + reason).strip()
        spec = _padded(dataclasses.replace(spec, evidence=evidence, reason=reason), places)
        items.append(Item(f"P{len(items) + 1}", spec, proposals.format_directive(spec)))
    return items


def _balance(statements: list[Statement], view: LedgerView, items: list[Item],
             matches: list[MatchResult]) -> BalanceCheck | None:
    found = next(((s, m) for s, m in zip(statements, matches, strict=True)
                  if s.closing_balance is not None), None)
    if found is None or found[0].closing_balance is None:
        return None
    st, result = found
    day = (st.closing_date or st.end or datetime.date.min) + datetime.timedelta(days=1)
    total = view.balance(st.account, day, st.currency)
    prefix = st.account + ":"
    for item in items:
        if item.spec.kind != "transaction" or item.spec.date >= day:
            continue
        for p in item.spec.postings:
            if (p.account == st.account or p.account.startswith(prefix)) \
                    and p.currency == st.currency and p.number is not None:
                total += p.number
    cited = {ref for item in items for ref in item.spec.evidence}
    unbooked = [ln for ln in result.missing if ln.ref not in cited and ln.date < day]
    culprits = find_culprits(st.closing_balance - total, result.ledger_only, unbooked,
                             st.currency, [m for m in result.matches if m.discrepancy])
    return BalanceCheck(st.account, day, st.closing_balance, total, st.currency,
                        tuple(culprits))


def _known_accounts(view: LedgerView, ledger: Ledger) -> Mapping[str, AccountInfo]:
    """Accounts proposals may use. Checked against the parsed ledger (the full load runs
    later, in parallel with the gate); with the auto_accounts plugin an account is open
    from its first use."""
    accounts = dict(view.accounts)
    plugins = [name for name, _ in ledger.options.get("plugin") or []]
    if "beancount.plugins.auto_accounts" in plugins:
        for txn in view.transactions():
            for p in txn.postings:
                if p.account not in accounts:
                    accounts[p.account] = AccountInfo(p.account, txn.date, None, (), {})
    return accounts


def _readable(ledger: Ledger, stage: Stage) -> tuple[Path, ...]:
    """What the caged check may read: the staged tree and the folders it links into."""
    return (stage.root, stage.source_root, *sorted({p.parent for p in ledger.files}))


def _with_target(ledger: Ledger, opts: Options, config: Config) -> Ledger:
    """--output FILE, else the configured target_file: one of the files the ledger includes
    (a new file would need an `include` the user should write themselves)."""
    if opts.output is not None:
        chosen, origin = opts.output.resolve(), "--output"
    elif config.target_file:
        chosen, origin = (ledger.path.parent / config.target_file).resolve(), "target_file"
    else:
        return ledger
    if chosen not in ledger.files:
        raise BadInputError(f"{origin} {chosen} is not part of the ledger; add "
                            f"`include \"{os.path.relpath(chosen, ledger.path.parent)}\"` to "
                            f"{ledger.path.name} first, or choose a file it includes",
                            file=str(ledger.path))
    return dataclasses.replace(ledger, target=chosen)


def _stage(ledger: Ledger, items: list[Item]) -> tuple[Stage, list[Item]]:
    stage = stage_items(ledger, items, {i.id: ledger.target for i in items} if ledger.target
                        else None)
    return stage, [dataclasses.replace(i, target=stage.targets[i.id], text=stage.texts[i.id])
                   for i in items]


def _gate(stage: Stage, full: Ledger, sandbox: Sandbox, started: float) -> GateResult:
    """The check's result. It ran since `started`, behind the host's own full load and,
    in a review, behind the proposals on screen: `waited` is what was left to wait for."""
    blocked = time.monotonic()
    gate = check_stage(stage, full.errors, sandbox.end_check())
    now = time.monotonic()
    ran = sandbox.last_check.get("seconds")
    return dataclasses.replace(gate, seconds=ran if ran is not None else now - started,
                               waited=now - blocked)


def _restage(ledger: Ledger, full: Ledger, items: list[Item], sandbox: Sandbox,
             ui: UI) -> tuple[Stage, GateResult, list[Item]]:
    stage, items = _stage(ledger, items)
    ui.status("checking the staged ledger again (bean-check)")
    started = time.monotonic()
    sandbox.begin_check(stage.main, _readable(ledger, stage),
                        incremental_request(ledger, stage))
    return stage, _gate(stage, full, sandbox, started), items


def reconcile(ledger_path: Path, statement_paths: Sequence[Path], agent: Agent, opts: Options,
              ui: UI, sandbox: Sandbox | None = None,
              on_load: Callable[[Ledger, list[Statement]], None] | None = None) -> Outcome:
    """The whole run. The loads overlap: the sandbox server loads the ledger for scripts
    while the host parses it; the host's full load (for the baseline errors and the report)
    runs in a thread from then on, mostly while the server runs the agent's script and,
    in a child, bean-checks the staged copy. `on_load` sees the files as loaded and the
    statements as parsed (the audit log records their sha256)."""
    if not ledger_path.is_file():
        raise BadInputError("ledger file not found", file=str(ledger_path))
    for note in recover(ledger_path):  # a commit a crash interrupted: all old or all new
        ui.warn(note)
    config = load_config(ledger_path)
    # The CLI may have started the sandbox already, before its own imports; we own it now.
    sandbox = sandbox or Sandbox(ledger_path.resolve())
    sandbox.step_timeout = config.step_timeout
    sandbox.allow_weak = opts.allow_weak_sandbox
    with sandbox:
        ui.status(f"reading {display_path(ledger_path)}")
        ledger = _with_target(parse_ledger(ledger_path, str(ledger_path)), opts, config)
        parsed_view = LedgerView(ledger.entries, ledger.options)
        statements = load_statements(statement_paths, parsed_view, config, opts, ui)
        if on_load is not None:
            on_load(ledger, statements)
        with ThreadPoolExecutor(1, thread_name_prefix="beanagent-load") as pool:
            full_load = pool.submit(complete, ledger)
            return _run_agent_and_gate(ledger, parsed_view, statements, full_load, agent,
                                       sandbox, config, opts, ui)


def format_gate_error(e: GateError) -> str:
    """`file:line: message (proposal P3)`, as the agent is told it."""
    where = display_path(e.file) + (f":{e.line}" if e.line else "")
    return f"{where}: {e.message}" + (f" (proposal {e.proposal})" if e.proposal else "")


def _agent_fix(agent: Repairing, outcome: Outcome, execute: Callable[[str], StepResult],
               ui: UI, validate: Callable[[list[Any], list[Item]], list[Item]]) -> Fix:
    """The gate's errors go back to the agent. Its answer, validated like any proposal,
    replaces what the errors point into (and what it withdraws), numbered after the rest;
    what the errors don't touch stays. None (the deterministic drop) when it has no answer.
    The time it takes is the agent's."""

    def fix(errors: Sequence[GateError], items: list[Item]) -> list[Item] | None:
        ui.status(f"the {agent.name} agent is fixing {len(errors)} bean-check error(s)")
        started = time.monotonic()
        try:
            answer = agent.repair([format_gate_error(e) for e in errors],
                                  [(i.id, i.text) for i in items], execute, ui.step)
        except BeanagentError as exc:  # the model's API failed: what passed still stands
            ui.warn(f"the agent could not repair its proposals ({exc}); dropping what fails")
            return None
        finally:
            outcome.agent_seconds += time.monotonic() - started
        if answer is None:
            return None
        out = {e.proposal for e in errors if e.proposal} | set(answer.withdrawn)
        kept = [i for i in items if i.id not in out]
        specs = {i.spec for i in kept}
        new = [i for i in validate(answer.proposals, items) if i.spec not in specs]
        first = 1 + max((int(i.id[1:]) for i in items if i.id[1:].isdigit()), default=0)
        return kept + [dataclasses.replace(i, id=f"P{first + n}") for n, i in enumerate(new)]

    return fix


def _run_agent_and_gate(ledger: Ledger, parsed_view: LedgerView, statements: list[Statement],
                        full_load: Future[Ledger], agent: Agent, sandbox: Sandbox,
                        config: Config, opts: Options, ui: UI) -> Outcome:
    task = Task(tuple(statements), config.review_account,
                ledger_facts(parsed_view, statements)
                if getattr(agent, "needs_facts", False) else "")
    ui.status(f"running the {agent.name} agent")
    start = time.monotonic()
    if sandbox.weak:
        ui.weak_sandbox(sandbox.missing_layers)

    def execute(code: str) -> StepResult:
        if sandbox.weak:  # in a weak sandbox the user sees every script before it runs
            ui.script(code)
        return sandbox.run(code, statements, {"review_account": config.review_account,
                                              "window_days": config.window_days,
                                              "confident": config.confident})

    run = agent.run(task, execute, ui.step)
    agent_seconds = time.monotonic() - start
    if run.stopped is not None:
        ui.warn(f"the {agent.name} agent {run.summary}")
    if not any(s.result.ok for s in run.steps):
        last = run.steps[-1].result if run.steps else None
        raise SandboxError(f"the {agent.name} agent's script failed: "
                           f"{(last.error if last else None) or 'no script was run'}")
    if opts.save_script is not None:
        opts.save_script.write_text(
            "\n\n# --- next step ---\n\n".join(run.scripts), encoding="utf-8")
    items = _validate(run.proposals, _known_accounts(parsed_view, ledger), statements, ui,
                      _ledger_places(ledger))
    stage = None
    if items:
        stage, items = _stage(ledger, items)
        ui.status("checking the staged ledger (bean-check)")
        check_started = time.monotonic()
        sandbox.begin_check(stage.main, _readable(ledger, stage),
                            incremental_request(ledger, stage))
    try:
        full = full_load.result()
        if full.errors:
            ui.warn(f"{display_path(ledger.path)} already has {len(full.errors)} "
                    f"bean-check error(s) (first: {full.errors[0]}); only new errors "
                    "will count")
        view = LedgerView(full.entries, full.options)
        matches = [match_statement(view, st, config.window_days, config.review_account)
                   for st in statements]
        outcome = Outcome(ledger.path, statements, matches, items, run, agent_seconds)
        outcome.balance = _balance(statements, view, items, matches)
        if stage is None:
            ui.outcome(outcome)
            return outcome
        if not opts.dry_run and not opts.yes:
            # Someone is going to read this: show it while the check runs behind it.
            outcome.diff = format_diff(ledger, stage)
            ui.outcome(outcome)
            ui.diff(outcome.diff)
            outcome.shown = True
        outcome.gate = _gate(stage, full, sandbox, check_started)
        if not outcome.gate.passed:
            fix = None
            if isinstance(agent, Repairing):  # the LLM agents: errors go back to the model
                fix = _agent_fix(agent, outcome, execute, ui, lambda raws, earlier: _validate(
                    raws, _known_accounts(parsed_view, ledger), statements, ui,
                    _ledger_places(ledger), earlier))
            settled = settle(stage, outcome.gate, items,
                             lambda chosen: _restage(ledger, full, chosen, sandbox, ui), ui.warn,
                             fix)
            stage, outcome.gate, items = settled.stage, settled.gate, settled.items
            outcome.items, outcome.dropped = items, settled.dropped
            outcome.balance = _balance(statements, view, items, matches)
            outcome.shown = False  # what was shown changed: show it again
            if not items:  # every proposal failed the check: exit 3, errors reported
                stage.cleanup()
                outcome.exit_code = ExitCode.CHECK_FAILED
                ui.outcome(outcome)
                return outcome
        outcome.diff = format_diff(ledger, stage)
    except BaseException:
        if stage is not None:
            stage.cleanup()
        raise
    return _review_and_commit(outcome, ledger, full, view, stage, sandbox, opts, ui)


def _review_and_commit(outcome: Outcome, ledger: Ledger, full: Ledger, view: LedgerView,
                       stage: Stage, sandbox: Sandbox, opts: Options, ui: UI) -> Outcome:
    items = outcome.items
    try:
        if not outcome.shown:
            ui.outcome(outcome)
        if outcome.gate is None or not outcome.gate.passed:
            outcome.exit_code = ExitCode.CHECK_FAILED
            return outcome
        if not outcome.shown:
            ui.diff(outcome.diff)
        if opts.dry_run:
            return outcome
        # an edit is held to the agent's rules (review.Reviser), then re-checked below
        revise = Reviser(lambda: _known_accounts(view, ledger), items)
        outcome.decisions = decide_all(items) if opts.yes else \
            ui.approve(items, outcome.statements, revise)
        chosen, outcome.edited = apply_decisions(items, outcome.decisions, revise)
        accepted = [i.id for i in chosen]
        outcome.accepted = accepted
        if not accepted:
            outcome.exit_code = ExitCode.DECLINED
            return outcome
        if len(accepted) < len(items) or outcome.edited:
            stage.cleanup()
            stage, gate, chosen = _restage(ledger, full, chosen, sandbox, ui)
            if not gate.passed and any(e.proposal for e in gate.errors):
                dropped = {e.proposal for e in gate.errors if e.proposal}
                if all(i.spec.kind == "balance" for i in chosen if i.id in dropped):
                    ui.warn("with the entries as you accepted them the balance assertion no "
                            f"longer holds; dropping {', '.join(sorted(dropped))}")
                    stage.cleanup()
                    chosen = [i for i in chosen if i.id not in dropped]
                    stage, gate, chosen = _restage(ledger, full, chosen, sandbox, ui)
            outcome.accepted = [i.id for i in chosen]
            by_id = {i.id: i for i in chosen}  # the report shows the entries as written
            outcome.items = [by_id.get(i.id, i) for i in items]
            outcome.gate = gate
            outcome.balance = _balance(outcome.statements, view, chosen, outcome.matches)
            if not gate.passed:
                ui.summary(outcome)
                outcome.exit_code = ExitCode.CHECK_FAILED
                return outcome
            if not chosen:
                outcome.exit_code = ExitCode.DECLINED
                return outcome
        ui.summary(outcome)
        outcome.written = commit_files(  # the real ledger is checked again once written
            ledger, stage.new_bytes, lambda: sandbox.check(ledger.path, _readable(ledger, stage)),
            full.errors)
        outcome.committed = True
        return outcome
    finally:
        stage.cleanup()
