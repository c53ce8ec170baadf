"""The command line: parse flags, call the workflow, map errors to exit codes.

Heavy imports (beancount, the workflow, anthropic) happen inside the commands so that
`beanagent --help` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer


def _unset_options_skip_pydantic() -> None:
    """typer (0.2x) coerces every option's value through a pydantic TypeAdapter it builds on
    first use, even an unset one (None), whose coercion is None whatever the type: the
    group's unset --help alone imports pydantic (~60 ms of `reconcile --help`'s 160). An
    unset option's coercion is done here without the adapter (what typer's
    `RuntimeParam.coerce` returns for None); a value still goes through typer's own. Only
    where typer has the hook this relies on; else typer is left as it is."""
    core = sys.modules.get("typer.core")
    param: Any = getattr(core, "_TyperParameter", None)
    build: Any = getattr(core, "build_runtime_param", None)
    if param is None or build is None or not hasattr(param, "get_runtime_param"):
        return

    class Unset:
        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            if value is None:
                return () if param.multiple or param.nargs == -1 else None
            plain = _plain_coercion(param.type_descriptor, value)
            if plain is not None:
                return plain
            param._runtime_param = build(param.type_descriptor)
            return param._runtime_param.coerce(value, param=param, ctx=ctx)

    unset = Unset()
    param.get_runtime_param = lambda self: self._runtime_param or unset


# A Path option or argument without constraints (typer's defaults): the value is Path(text).
_PATH_DEFAULTS = {"exists": False, "file_okay": True, "dir_okay": True, "writable": False,
                  "readable": True, "resolve_path": False, "allow_dash": False,
                  "path_type": None}


def _plain_coercion(descriptor: Any, value: Any) -> Any:
    """A given value of a text, flag or plain path parameter, coerced as typer's pydantic
    adapter would (str and bool as click gives them, a path as `Path(text)`, a list of
    paths as a list), without importing pydantic (14 MiB and 0.09 s of every run); None
    for anything else (numbers, constrained paths), which goes through typer's own."""
    kind = getattr(descriptor, "annotation", None)
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if isinstance(kind, types.UnionType) and len(args) == 1:
        kind = args[0]  # X | None, with a value given
    info = getattr(descriptor, "parameter_info", None)
    plain_path = info is not None and all(getattr(info, k, d) == d
                                          for k, d in _PATH_DEFAULTS.items())
    if kind in (str, bool):
        return value if type(value) is kind else None
    if kind is Path and plain_path and type(value) is str:
        return Path(value)
    if typing.get_origin(kind) is list and typing.get_args(kind) == (Path,) and plain_path \
            and isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
        return [Path(v) for v in value]
    return None


_unset_options_skip_pydantic()

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_enable=False,  # a bug shows a plain traceback, never local values
    help="Reconcile a Beancount ledger against bank and card statements.\n\n"
         "Proposals come from an agent whose scripts run in a sandbox; nothing is written "
         "without a passing bean-check of a staged copy and your approval.\n\n"
         "Exit codes: 0 done (or nothing to do), 1 you declined everything, 2 bad input or "
         "usage, 3 the staged ledger failed the check, 4 the ledger changed on disk during "
         "the run (or another run is writing it), 5 sandbox or agent failure, 6 a file "
         "could not be written (disk full, permissions; nothing changed).",
)

LedgerArg = Annotated[Path, typer.Argument(help="The main Beancount file.", show_default=False)]
StatementsArg = Annotated[list[Path] | None, typer.Argument(
    help="Statement files: CSV, OFX/QFX, or anything your --importers understand.",
    show_default=False)]
AccountOpt = Annotated[str | None, typer.Option(
    "--account", "-a", help="Ledger account the statements belong to (else from OFX account "
    "ids matched to `account:` metadata, else beanagent.toml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout "
                                       "(human output goes to stderr).")]
DryOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the diff; write nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Accept every proposal that passes "
                                      "the check (for scripts).")]
ClosingOpt = Annotated[str | None, typer.Option(
    help="Closing balance 'AMOUNT CUR' for statements that carry none.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write new entries into this file (one the ledger includes) "
    "instead of the file holding each account's recent entries.", show_default=False)]
NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Load the ledger in full, without the load cache kept between runs in "
    "your cache folder (~/.cache/beanagent).")]
WeakOpt = Annotated[bool, typer.Option(
    "--allow-weak-sandbox", help="Run scripts even where Landlock or seccomp is missing "
    "(macOS, old kernels, some containers); every script is shown first.")]


def _handled(command: Callable[..., None]) -> Callable[..., None]:
    """The one place where a user-facing error becomes a line on stderr and an exit code
    (and, for a run with --json, a report on stdout whose `error` says the same)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from beanagent.errors import BeanagentError, ExitCode

        report = command.__name__ in REPORTING and bool(kwargs.get("as_json"))
        try:
            command(*args, **kwargs)
        except BeanagentError as exc:
            from beanagent.text import visible

            # One line, and nothing a statement or a model wrote reaches the terminal raw.
            sys.stderr.write(f"beanagent: error: {visible(str(exc), keep=chr(10))}\n")
            if report:
                _error_report(exc, int(exc.exit_code), kwargs.get("ledger"))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            message = "interrupted; nothing was written"
            sys.stderr.write(f"beanagent: {message}\n")
            if report:
                _error_report(None, int(ExitCode.INTERRUPTED), kwargs.get("ledger"), message)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper


REPORTING = ("reconcile", "run")  # the commands whose --json is the run's report


def _error_report(error: Any, code: int, ledger: Any, message: str = "") -> None:
    """A failed run's --json report: still exactly one JSON document on stdout."""
    from beanagent.ui.report import build_error_report

    data = build_error_report(error, code, ledger if isinstance(ledger, Path) else None,
                              message)
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _closing(value: str | None) -> tuple[Decimal, str] | None:
    from beanagent.errors import BadInputError

    if value is None:
        return None
    parts = value.replace(",", "").split()
    try:
        if len(parts) != 2:
            raise InvalidOperation
        number = Decimal(parts[0])
        from beanagent.statements.model import amount_problem

        problem = amount_problem(number)
        if problem is not None:
            raise BadInputError(f"--closing-balance amount {parts[0]!r} {problem}")
        return number, parts[1].upper()
    except InvalidOperation:
        raise BadInputError(f"--closing-balance expects 'AMOUNT CURRENCY' like '-2356.38 USD', "
                            f"got {value!r}") from None


def _require_approval_channel(dry_run: bool, yes: bool) -> None:
    from beanagent.errors import BadInputError

    if not dry_run and not yes and not sys.stdin.isatty():
        raise BadInputError("standard input is not a terminal, so nothing can be approved "
                            "interactively: pass --yes to accept every checked proposal, or "
                            "--dry-run to only show them")


def _finish(outcome: Any, ui: Any, as_json: bool) -> None:
    from beanagent.ui.report import build_report

    ui.finish(outcome)
    if as_json:
        sys.stdout.write(json.dumps(build_report(outcome), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    raise typer.Exit(int(outcome.exit_code))


def _inbox(ledger: Path, settings: Any, include_all: bool, list_only: bool,
           as_json: bool, sandbox: Any = None) -> Any:
    """The inbox of a bare `reconcile LEDGER`, identified; listed first (on stdout for
    --list, else on stderr unless --json). --list ends here."""
    from beanagent.statements.inbox import read_inbox
    from beanagent.ui.inbox import render_inbox

    inbox = read_inbox(ledger, settings, include_all, sandbox)
    if list_only and as_json:
        from beanagent.statements.inbox import inbox_report

        sys.stdout.write(json.dumps(inbox_report(inbox), indent=2, ensure_ascii=False) + "\n")
    elif list_only or not as_json:
        render_inbox(inbox, sys.stdout if list_only else sys.stderr)
    if list_only:
        raise typer.Exit(0)
    if not inbox.run:
        sys.stderr.write(inbox.format_nothing_new() + "\n")
    return inbox


@app.command(epilog="Examples:\n\n"
             "  beanagent reconcile books.beancount\n\n"
             "  beanagent reconcile books.beancount --list\n\n"
             "  beanagent reconcile books.beancount checking.csv --dry-run\n\n"
             "  beanagent reconcile books.beancount card.ofx --yes --json > report.json\n\n"
             "  beanagent reconcile books.beancount stmt.csv -a Assets:Bank:Checking "
             "--closing-balance '1913.56 USD'")
@_handled
def reconcile(
    ledger: LedgerArg,
    statements: StatementsArg = None,
    account: AccountOpt = None,
    agent: Annotated[str, typer.Option(help="offline (default: no key, no network), "
                                       "anthropic (ANTHROPIC_API_KEY), or openai (any "
                                       "OpenAI-compatible server: --base-url).")] = "offline",
    model: Annotated[str | None, typer.Option(help="Model for the LLM agent (else "
                                              "BEANAGENT_MODEL, else beanagent.toml).")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="LLM agents: the API's URL, e.g. http://localhost:11434/v1 (Ollama) for "
        "--agent openai.")] = None,
    actions: Annotated[str, typer.Option(help="LLM agents: code (the model writes Python "
                                         "scripts) or json (plain tool calls).")] = "code",
    max_steps: Annotated[int | None, typer.Option(
        min=1, help="LLM agents: at most this many actions (default 12; 40 with "
        "--actions json).")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        min=1, help="LLM agents: at most this many tokens in the run (default 500000).")
    ] = None,
    max_reply_tokens: Annotated[int | None, typer.Option(
        min=1, help="LLM agents: at most this many tokens in one reply (default 4096; a "
        "small local model on a CPU may need fewer to answer within the request timeout).")
    ] = None,
    request_timeout: Annotated[float | None, typer.Option(
        min=1, help="LLM agents: seconds one request may take (default 120; a local model "
        "on a CPU may need more to read the first prompt).")] = None,
    dry_run: DryOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    closing_balance: ClosingOpt = None,
    importers: Annotated[Path | None, typer.Option(
        help="Your beangulp import config (a Python file with CONFIG = [...]).")] = None,
    save_script: Annotated[Path | None, typer.Option(
        help="Save the agent's script(s) here, to rerun with `beanagent run`.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show what the agent's "
                                          "scripts print.")] = False,
    allow_weak_sandbox: WeakOpt = False,
    allow_insecure_url: Annotated[bool, typer.Option(
        "--allow-insecure-url", help="LLM agents: allow a plain http:// --base-url on another "
        "machine (the API key and the ledger's data travel unencrypted).")] = False,
    output: OutputOpt = None,
    no_cache: NoCacheOpt = False,
    csv_delimiter: Annotated[str | None, typer.Option(help="CSV: , ; or \\t")] = None,
    csv_encoding: Annotated[str | None, typer.Option(help="CSV: file encoding")] = None,
    csv_header_line: Annotated[int | None, typer.Option(help="CSV: line of the header")] = None,
    csv_date_col: Annotated[str | None, typer.Option(help="CSV: date column (name or 1-based "
                                                     "number)")] = None,
    csv_amount_col: Annotated[str | None, typer.Option(help="CSV: signed amount column")] = None,
    csv_debit_col: Annotated[str | None, typer.Option(help="CSV: debit column")] = None,
    csv_credit_col: Annotated[str | None, typer.Option(help="CSV: credit column")] = None,
    csv_description_col: Annotated[str | None, typer.Option(help="CSV: description")] = None,
    csv_balance_col: Annotated[str | None, typer.Option(help="CSV: running balance")] = None,
    csv_payee_col: Annotated[str | None, typer.Option(help="CSV: counterparty (payee) "
                                                      "column")] = None,
    csv_type_col: Annotated[str | None, typer.Option(help="CSV: column saying debit or "
                                                     "credit, for unsigned amounts")] = None,
    csv_currency_col: Annotated[str | None, typer.Option(help="CSV: currency of each "
                                                         "row")] = None,
    csv_date_format: Annotated[str | None, typer.Option(help="CSV: strptime format, e.g. "
                                                        "%d/%m/%Y")] = None,
    csv_decimal: Annotated[str | None, typer.Option(help="CSV: decimal mark, . or ,")] = None,
    csv_negate: Annotated[bool, typer.Option(help="CSV: flip every sign (charges shown "
                                             "positive)")] = False,
    list_only: Annotated[bool, typer.Option(
        "--list", help="With no statement files: list the inbox's files (format, account, "
        "period, lines, reconciled before or new) and stop.")] = False,
    include_all: Annotated[bool, typer.Option(
        "--all", help="With no statement files: take the inbox's files reconciled before "
        "too.")] = False,
) -> None:
    """Find missing statement lines, propose entries and a balance, review, then write.
    With no statement files, the inbox's new files (beanagent.toml's `inbox`, default
    inbox/**/* beside the ledger)."""
    from beanagent.errors import BadInputError
    from beanagent.settings import CsvOptions, load_settings

    if statements and (list_only or include_all):
        raise BadInputError("--list and --all are for the inbox: pass no statement files "
                            "after the ledger")
    if not list_only:
        _require_approval_channel(dry_run, yes)
    settings = load_settings(
        ledger, agent=agent, model=model, base_url=base_url, actions=actions,
        max_steps=max_steps, max_tokens_total=max_tokens, account=account, dry_run=dry_run,
        yes=yes, closing_balance=_closing(closing_balance), importers=importers,
        save_script=save_script, allow_weak_sandbox=allow_weak_sandbox, output=output,
        verbose=verbose, allow_insecure_url=allow_insecure_url,
        cache=False if no_cache else None, csv=CsvOptions(
            delimiter=csv_delimiter, encoding=csv_encoding, header_line=csv_header_line,
            date_col=csv_date_col, amount_col=csv_amount_col, debit_col=csv_debit_col,
            credit_col=csv_credit_col, description_col=csv_description_col,
            balance_col=csv_balance_col, payee_col=csv_payee_col, type_col=csv_type_col,
            currency_col=csv_currency_col, date_format=csv_date_format, decimal=csv_decimal,
            negate=csv_negate or None))
    inbox = None
    if not statements and list_only:
        _inbox(ledger, settings, include_all, list_only, as_json)
    from beanagent import commands

    cache = commands.load_cache(settings)
    sandbox = commands.start_early_sandbox(ledger, settings, cache)
    try:
        from beanagent.ui.console import ConsoleUI

        agent_impl = commands.make_agent(settings, {"max_tokens": max_reply_tokens,
                                            "request_timeout": request_timeout})
        ui = ConsoleUI(show_output=verbose or settings.agent != "offline",
                       confident=settings.confident)
        if not statements:
            inbox = _inbox(ledger, settings, include_all, list_only, as_json, sandbox)
            statements = [Path(f.display) for f in inbox.run]
    except BaseException:
        if sandbox is not None:
            sandbox.close()
        raise
    outcome = commands.run_audited("reconcile", ledger, statements, agent_impl, settings,
                                   ui, sandbox, inbox, cache, json=as_json, verbose=verbose)
    _finish(outcome, ui, as_json)


@app.command(epilog="Example:\n\n  beanagent reconcile books.beancount stmt.csv -n "
             "--save-script fix.py\n\n  beanagent run books.beancount fix.py stmt.csv --dry-run"
             "\n\n  beanagent run books.beancount --from-log last --dry-run")
@_handled
def run(
    ledger: LedgerArg,
    script: Annotated[Path | None, typer.Argument(
        help="A reconciliation script (Python) using the script API. With --from-log there "
        "is none: every path after LEDGER is a statement.", show_default=False)] = None,
    statements: StatementsArg = None,
    account: AccountOpt = None,
    dry_run: DryOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    closing_balance: ClosingOpt = None,
    allow_weak_sandbox: WeakOpt = False,
    output: OutputOpt = None,
    no_cache: NoCacheOpt = False,
    from_log: Annotated[str | None, typer.Option(
        "--from-log", help="Replay the scripts of a logged run (its id from `beanagent log`, "
        "or `last`) without its agent or model; statements and their settings default to "
        "that run's.", show_default=False)] = None,
) -> None:
    """Run a hand-written (or saved) script, or a logged run's scripts, through the same
    sandbox, check and review."""
    _require_approval_channel(dry_run, yes)
    from beanagent import commands
    from beanagent.agent.script import ReplayAgent, ScriptAgent
    from beanagent.errors import BadInputError
    from beanagent.settings import load_settings
    from beanagent.ui.console import ConsoleUI

    settings = load_settings(ledger, account=account, dry_run=dry_run, yes=yes, output=output,
                             closing_balance=_closing(closing_balance),
                             allow_weak_sandbox=allow_weak_sandbox,
                             cache=False if no_cache else None)
    ui = ConsoleUI(confident=settings.confident)
    paths = list(statements or [])
    agent_impl: Any
    if from_log is not None:
        from beanagent.runlog.history import find_run, load_log, plan_replay, replay_settings

        plan = plan_replay(find_run(load_log(ledger, settings), from_log, replay=True),
                           ([script] if script else []) + paths)
        for note in plan.notes:
            ui.warn(note)
        agent_impl, paths = ReplayAgent(plan.scripts, plan.run_id), plan.statements
        settings = replay_settings(plan, settings)
    elif script is None:
        raise BadInputError("pass a script file after the ledger (or --from-log RUN_ID to "
                            "replay a logged run)")
    else:
        try:
            code = script.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"cannot read script: {exc}", file=str(script)) from None
        agent_impl = ScriptAgent(code, str(script))
    outcome = commands.run_audited("run", ledger, paths, agent_impl, settings, ui,
                                   json=as_json, from_log=from_log,
                                   script=script if from_log is None else None)
    _finish(outcome, ui, as_json)


@app.command(epilog="Example:\n\n  beanagent query books.beancount "
             "\"SELECT account, sum(position) WHERE account ~ 'Checking' GROUP BY account\"")
@_handled
def query(
    ledger: LedgerArg,
    bql: Annotated[str, typer.Argument(help="A beanquery (BQL) statement.",
                                       show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Run a read-only query: the same view agent scripts get as `ledger.query(...)`."""
    from beanagent.commands import run_query

    run_query(ledger, bql, as_json)


@app.command(name="log", epilog="Examples:\n\n  beanagent log books.beancount\n\n"
             "  beanagent log books.beancount last --json")
@_handled
def log_runs(
    ledger: LedgerArg,
    run_id: Annotated[str | None, typer.Argument(
        help="Show this run in detail (an id, a unique prefix of one, or `last`).",
        show_default=False)] = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1,
                                       help="How many runs to list, newest first.")] = 20,
) -> None:
    """The audit log: every reconcile and run, with its scripts, proposals, decisions and
    the files' sha256 before and after."""
    from beanagent.commands import run_log

    run_log(ledger, run_id, as_json, limit)


@app.command(epilog="Examples:\n\n  beanagent undo books.beancount\n\n"
             "  beanagent undo books.beancount --steps 2")
@_handled
def undo(
    ledger: LedgerArg,
    steps: Annotated[int, typer.Option("--steps", "-s", min=1, help="How many commits to "
                                       "take back, latest first.")] = 1,
) -> None:
    """Restore the files of the last beanagent commit byte-identical (refused, naming the
    file, if one changed since); run again to step further back."""
    from beanagent.files.undo import format_undone, undo_commits

    sys.stderr.write(format_undone(undo_commits(ledger, steps)))


@app.command()
@_handled
def doctor() -> None:
    """Versions, the sandbox layers active here, and a self-test of canary attacks
    (exit 5 if a layer is missing or an attack gets through)."""
    from beanagent.commands import run_doctor

    raise typer.Exit(run_doctor())


def main() -> None:
    from beanagent.sandbox.layers import make_undumpable

    with contextlib.suppress(OSError):
        make_undumpable()  # this process may hold an API key: keep /proc readers out
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    from beanagent.sandbox.early import stop_unadopted

    stop_unadopted()
    # Every file we write is closed and fsynced by then; skipping the interpreter's
    # teardown saves ~0.2 s of freeing a large ledger's millions of objects one by one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))
