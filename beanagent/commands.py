"""What the commands do, without typer: `query`, `doctor` and `log` (output via render
helpers), and the runs of `reconcile` and `run` (their agent, the early sandbox, the load
cache, the workflow under its audit record)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from beanagent.errors import BadInputError


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def run_query(ledger_path: Path, bql: str, as_json: bool) -> None:
    from beanagent.ledger.load import load_ledger
    from beanagent.ledger.view import LedgerView
    from beanagent.ui.tables import render_rows

    ledger = load_ledger(ledger_path, str(ledger_path))
    view = LedgerView(ledger.entries, ledger.options)
    try:
        rows = view.query(bql)
    except Exception as exc:  # beanquery's parse/compile errors: the user's query is wrong
        name = type(exc).__module__ or ""
        if not name.startswith("beanquery"):
            raise
        raise BadInputError(f"query failed: {str(exc).splitlines()[0] if str(exc) else exc}"
                            ) from None
    if as_json:
        sys.stdout.write(json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows],
                                    indent=2, ensure_ascii=False) + "\n")
    else:
        render_rows(rows)


def run_doctor() -> int:
    """0 when every layer is there and every canary attack failed; 5 otherwise."""
    from beanagent.sandbox.doctor import doctor_facts, self_test
    from beanagent.ui.tables import render_doctor

    canaries, layers = self_test()
    render_doctor(doctor_facts(), layers, canaries)
    ok = all(c.blocked for c in canaries) and not layers.get("missing")
    return 0 if ok else 5


def run_log(ledger_path: Path, run_id: str | None, as_json: bool, limit: int) -> None:
    """`beanagent log`: the runs of this ledger, newest first, or one run in full."""
    from beanagent.runlog.history import find_run, format_log, format_run, load_log, summary
    from beanagent.settings import load_settings

    log = load_log(ledger_path, load_settings(ledger_path))
    if run_id is not None:
        record = find_run(log, run_id)
        sys.stdout.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n" if as_json
                         else format_run(record))
        return
    records = log.records[::-1][:limit]
    if as_json:
        sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
        return
    sys.stdout.write(format_log([summary(r) for r in records]))
    shown = f"{len(records)} of {len(log.records)} run(s)" if records else "no runs yet"
    skipped = f"; {log.skipped} unreadable line(s) skipped" if log.skipped else ""
    sys.stderr.write(f"{shown} in {log.path}{skipped}\n")


# --- the runs (`reconcile`, `run`): the workflow, its sandbox and its audit record ----


def start_early_sandbox(ledger: Path, settings: Any, cache: Any) -> Any:
    """Start the sandbox server (which loads the ledger: the run's one load) before our
    own heavier imports: its load is on the critical path of the run."""
    from beanagent.sandbox import start_sandbox

    if not ledger.is_file():
        return None
    def warn(note: str) -> None:
        sys.stderr.write(f"warning: {note}\n")

    return start_sandbox(ledger, settings, warn, cache)


def load_cache(settings: Any) -> Any:
    from beanagent.ledger.cache import LoadCache

    return LoadCache() if settings.cache else None


def make_agent(settings: Any, reply: dict[str, Any] | None = None) -> Any:
    """The agent the settings name; the LLM agents take their limits from them, and from
    `reply` (--max-reply-tokens, --request-timeout: for a slow local model)."""
    if settings.agent == "offline":
        from beanagent.agent.offline import OfflineAgent

        return OfflineAgent()
    options = {"actions": settings.actions, "max_steps": settings.step_limit,
               "max_tokens_total": settings.max_tokens_total,
               "max_seconds": settings.agent_timeout,
               **{k: v for k, v in (reply or {}).items() if v is not None}}
    if settings.agent == "anthropic":
        from beanagent.agent.anthropic import AnthropicAgent

        return AnthropicAgent.from_env(settings.model, base_url=settings.base_url,
                                       allow_insecure_url=settings.allow_insecure_url, **options)
    from beanagent.agent.openai import OpenAIAgent

    return OpenAIAgent.from_env(settings.model, settings.base_url,
                                allow_insecure_url=settings.allow_insecure_url, **options)


def run_audited(command: str, ledger: Path, statements: list[Path], agent: Any, settings: Any,
             ui: Any, sandbox: Any = None, inbox: Any = None, cache: Any = None,
             **extra: Any) -> Any:
    """The workflow with its audit record, appended whatever happens (a log that can't be
    written costs a warning, never the run). `inbox`: the statements are the inbox's,
    already read."""
    from beanagent.runlog.audit import Trail
    from beanagent.workflow import reconcile as run_reconcile

    if sandbox is None:
        cache = load_cache(settings)
    try:
        with Trail(command, ledger, statements, settings, ui, agent, cache=cache,
                   **extra) as trail:
            for note in inbox.notes if inbox is not None else ():
                trail.ui.warn(note)
            outcome = run_reconcile(ledger, statements, agent, settings, trail.ui, sandbox,
                                    on_load=trail.loaded,
                                    read=inbox.statements if inbox is not None else None,
                                    cache=cache)
            trail.done(outcome)
    finally:
        ui.close()  # a progress spinner never outlives the run (hidden cursor, stray line)
    return outcome
