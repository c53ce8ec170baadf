"""The audit log: one JSON line per `reconcile` / `run`, appended and fsynced.

A `Trail` is opened by the CLI just before the workflow starts. It watches the run through
the UI the workflow already talks to (steps, the outcome, the approval answers, warnings)
and through the workflow's `on_load` hook (the ledger's files with their sha256, the parsed
statements), and on the way out, whatever happened, appends one record to the log. A run
never fails because of its log: a log that can't be written costs one warning.

Where the log lives, and what a shared folder's beanagent.toml may say about it, is
`location`. The log is opened without following a symlink; its folders are created 0700,
the file 0600.

The record's fields are listed in the README ("The audit log"). The model's messages, for
agents that keep them (`AgentRun.messages`, or `Trail.messages` as they happen), go in
`agent.messages`, every string capped like outputs. Reading the log back is `history`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from beanagent import __version__
from beanagent.errors import BadInputError, BeanagentError
from beanagent.files.journal import (
    file_sha256,
    fsync_dir,
    make_private_dirs,
    read_regular,
    write_all,
)
from beanagent.runlog.location import log_path as log_path
from beanagent.runlog.location import state_home as state_home

if TYPE_CHECKING:
    from beanagent.ledger.cache import LoadCache
    from beanagent.model import Decision, Ledger, Proposal, RunResult, Step
    from beanagent.settings import Settings
    from beanagent.statements.model import Statement

RECORD_VERSION = 1
# The command line's settings a record keeps under "options" (the log's contract; the file
# settings are under "config").
RECORDED_FLAGS = ("account", "dry_run", "yes", "closing_balance", "importers", "csv",
                  "save_script", "allow_weak_sandbox", "output")
OUTPUT_CAP = 16 * 1024  # a script's output, as logged (head and tail kept)
ERROR_CAP = 8 * 1024  # a traceback or an error message
CODE_CAP = 256 * 1024  # a script: logged whole below this (replay needs all of it)
MESSAGE_CAP = 16 * 1024  # any one string inside a model message
WARNINGS_KEPT = 200
# Environment variables whose values must never reach the log, even by accident (a script
# or an error message quoting one): replaced by "[redacted]" in the line as written.
SECRET_NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def cap(text: str | None, limit: int) -> str | None:
    """Keep the head and (mostly) the tail of a long text, saying how much was cut."""
    if text is None or len(text) <= limit:
        return text
    head = limit // 4
    return (f"{text[:head]}\n… [{len(text) - limit} characters cut] …\n"
            f"{text[len(text) - (limit - head):]}")


def cap_json(value: Any, limit: int = MESSAGE_CAP) -> Any:
    """A JSON-able copy of `value` with every string capped (model messages, tool inputs)."""
    if isinstance(value, str):
        return cap(value, limit)
    if isinstance(value, dict):
        return {str(k): cap_json(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [cap_json(v, limit) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return cap(str(value), limit)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value.expanduser().resolve())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)



# Writing.


def _secret_values() -> list[str]:
    return [v for k, v in os.environ.items()
            if any(word in k.upper() for word in SECRET_NAMES) and len(v) >= 8]


def _scrub(line: str) -> str:
    for value in _secret_values():
        for form in {value, json.dumps(value, ensure_ascii=False)[1:-1]}:
            line = line.replace(form, "[redacted]")
    return line


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one line, under an exclusive lock, and fsync it. A line left torn by a crash
    (no final newline) is closed first, so it spoils only itself."""
    data = (_scrub(json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str))
            + "\n").encode("utf-8")
    made = make_private_dirs(path.parent)
    for folder in made:
        fsync_dir(folder.parent)
    created = not os.path.lexists(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError("it is a symbolic link (not followed)") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("it is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)


def read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every record in the file, oldest first, and how many lines were not records (a line
    torn by a crash, say)."""
    records: list[dict[str, Any]] = []
    bad = 0
    try:
        data = read_regular(path)  # never through a symlink, never a FIFO
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise BadInputError(f"cannot read the audit log: {exc.strerror}", file=str(path)) from None
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            bad += 1
            continue
        if isinstance(record, dict) and isinstance(record.get("run"), str):
            records.append(record)
        else:
            bad += 1
    return records, bad


# Recording a run.


def new_run_id(now: datetime.datetime) -> str:
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, BeanagentError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1  # a bug: Python's own status for an uncaught exception


class Trail:
    """One run's record in the making. Use as a context manager around the workflow."""

    def __init__(self, command: str, ledger: Path, statements: Sequence[Path],
                 settings: Settings, ui: Any, agent: Any, cache: LoadCache | None = None,
                 **extra: Any):
        self.started = datetime.datetime.now(datetime.UTC)
        self.run_id = new_run_id(self.started)
        self._t0 = time.monotonic()
        self.command = command
        self.ledger = ledger
        self.statement_paths = list(statements)
        self.settings = settings
        self.agent_name = str(getattr(agent, "name", agent))
        self.model = getattr(agent, "model", None)
        self.extra = extra
        self.cache = cache  # the run's load cache (None: off), read when the record is made
        self.ui = AuditedUI(ui, self)
        self._warn = ui.warn  # the log's own trouble goes to the user, not into the record
        self.files: list[dict[str, Any]] | None = None
        self.statements: list[Statement] | None = None
        self.statement_hashes: dict[str, str | None] = {}
        self.steps: list[Step] = []
        self.messages: list[Any] = []  # model messages, for agents that report them here
        self.outcome: RunResult | None = None
        self.answers: list[dict[str, Any]] | None = None  # the user's, when asked
        self.warnings: list[str] = []
        self.weak_layers: list[str] | None = None
        self.path: Path | None = None  # where the record went, once written
        self._report_cache: dict[str, Any] | None = None

    def loaded(self, ledger: Ledger, statements: list[Statement]) -> None:
        """The workflow's `on_load` hook: the files as loaded, the statements as parsed."""
        self.files = [{"path": str(p), "sha256": f.sha256} for p, f in sorted(ledger.files.items())]
        self.statements = list(statements)
        self.statement_hashes = {str(p): file_sha256(p, quiet=True) for p in self.statement_paths}
        for st in statements:  # the files actually read (the inbox's, say), as read
            if st.file not in self.statement_hashes:
                self.statement_hashes[st.file] = file_sha256(Path(st.file), quiet=True)

    def done(self, outcome: RunResult) -> None:
        self.outcome = outcome

    def __enter__(self) -> Trail:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exc)

    def close(self, error: BaseException | None = None) -> None:
        """Append the record. Never raises: a log that can't be written is one warning.
        Without a ledger there is nothing to record (the run's own error says why)."""
        if not self.ledger.is_file():
            return
        try:
            self.path = log_path(self.ledger, self.settings.audit_log)
            if self.path is not None:
                append_record(self.path, self.record(error))
        except Exception as exc:  # the run must not fail because of its log
            where = f" {self.path}" if self.path else ""
            with contextlib.suppress(Exception):
                self._warn(f"could not write the audit log{where}: {exc}; the run itself is "
                           "not affected")

    def record(self, error: BaseException | None) -> dict[str, Any]:
        config = self.settings
        o = self.outcome
        exit_code = _exit_code_of(error) if error is not None else int(o.exit_code) if o else 0
        return {
            "version": RECORD_VERSION,
            "run": self.run_id,
            "time": self.started.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "seconds": round(time.monotonic() - self._t0, 3),
            "beanagent": __version__,
            "command": self.command,
            "options": self._options(),
            "ledger": str(self.ledger.resolve()),
            "files": self._files(),
            "config": {"source": _plain(config.source),
                       "review_account": config.review_account,
                       "window_days": config.window_days,
                       "confident": _confidence(config.confident),
                       "step_timeout": config.step_timeout},
            "cache": "off" if self.cache is None else self.cache.state,
            "statements": self._statements(),
            "reconciled": self._reconciled(),
            "agent": self._agent(),
            **self._results(),
            "review": self._review(),
            "committed": bool(o and o.committed),
            "written": [str(p) for p in (o.written if o else [])],
            "weak_sandbox": self.weak_layers,
            "warnings": [cap(w, ERROR_CAP) for w in self.warnings[:WARNINGS_KEPT]],
            "error": None if error is None else {
                "type": type(error).__name__,
                "message": cap(str(error), ERROR_CAP) or type(error).__name__},
            "exit_code": exit_code,
        }

    def _options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in RECORDED_FLAGS:
            value = getattr(self.settings, name)
            if name == "closing_balance" and value is not None:
                value = f"{value[0]} {value[1]}"
            elif name == "csv":
                value = value.values()
            out[name] = _plain(value)

        out["agent"] = self.agent_name
        if self.model:
            out["model"] = str(self.model)
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out

    def _files(self) -> list[dict[str, Any]] | None:
        if self.files is None:
            return None
        written = {str(p) for p in (self.outcome.written if self.outcome else [])}
        committed = bool(self.outcome and self.outcome.committed)
        out = []
        for f in self.files:
            after = None
            if committed:
                after = file_sha256(Path(f["path"]), quiet=True) if f["path"] in written \
                    else f["sha256"]
            out.append({**f, "sha256_after": after})
        return out

    def _statements(self) -> list[dict[str, Any]]:
        """Each statement file with its sha256, and, once parsed, what the report says of it
        and how it matched (one file may hold several statements)."""
        hashes = self.statement_hashes  # as parsed; else (never parsed) as they are now
        given = {str(p): {"file": str(p), "path": str(p.resolve()),
                          "sha256": hashes[str(p)] if str(p) in hashes
                          else file_sha256(p, quiet=True)}
                 for p in self.statement_paths}
        if self.statements is None:
            return list(given.values())
        report = self._report()
        done = set(self._reconciled_files())
        out = []
        for i, st in enumerate(self.statements):
            entry = dict(report["statements"][i]) if report else {
                "file": st.file, "format": st.format, "account": st.account,
                "currency": st.currency, "lines": len(st.lines)}
            entry.update(given.get(st.file) or {
                "path": str(Path(st.file).resolve()),
                "sha256": hashes[st.file] if st.file in hashes
                else file_sha256(Path(st.file), quiet=True)})
            if self.outcome is not None:
                m = self.outcome.matches[i]
                entry.update(matched=len(m.matches), missing=len(m.missing),
                             ledger_only=len(m.ledger_only), reconciled=st.file in done)
            out.append(entry)
        return out

    def _reconciled(self) -> list[str]:
        """The sha256 of each statement file this run reconciled (runlog.reconciled), as
        it was read: what the next bare `reconcile` skips."""
        out = [self.statement_hashes.get(f) for f in self._reconciled_files()]
        return list(dict.fromkeys(sha for sha in out if sha))

    def _reconciled_files(self) -> list[str]:
        if self.outcome is None or self.statements is None:
            return []
        from beanagent.runlog.reconciled import reconciled_files

        return reconciled_files(self.outcome)

    def _report(self) -> dict[str, Any] | None:
        """The JSON report's view of the outcome, with every proposal (not only the
        accepted ones): proposals, balance and check are logged in the report's shapes."""
        if self.outcome is None:
            return None
        if self._report_cache is None:
            from beanagent.ui.report import build_report

            self._report_cache = build_report(dataclasses.replace(self.outcome, accepted=None))
        return self._report_cache

    def _agent(self) -> dict[str, Any]:
        run = self.outcome.agent if self.outcome is not None else None
        steps = list(run.steps) if run is not None else self.steps
        messages = list(getattr(run, "messages", None) or self.messages)
        out: dict[str, Any] = {
            "name": run.name if run is not None else self.agent_name,
            "model": self.model,
            "summary": cap(run.summary, ERROR_CAP) if run is not None else None,
            "usage": _plain(run.usage) if run is not None else None,
            "seconds": round(self.outcome.agent_seconds, 3) if self.outcome else None,
            "steps": [_step(s) for s in steps],
        }
        if messages:
            # The system prompt (API reference, worked example, facts: ~20 KiB) is what a
            # replay or a review of the run needs whole; other messages keep the usual cap.
            out["messages"] = [
                cap_json(m, CODE_CAP if isinstance(m, dict) and m.get("role") == "system"
                         else MESSAGE_CAP) for m in messages]
        return out

    def _results(self) -> dict[str, Any]:
        report = self._report()
        if report is None or self.outcome is None:
            return {"proposals": [], "balance": None, "check": None, "proof": None,
                    "findings": []}
        items = self.outcome.proposals
        proposals = [{**p, "flag": i.spec.flag, "file": str(i.target) if i.target else None}
                     for p, i in zip(report["proposals"], items, strict=True)]
        gate = self.outcome.gate
        check = None if gate is None else {**report["check"], "seconds": round(gate.seconds, 3)}
        return {"proposals": proposals, "balance": report["balance"], "check": check,
                "proof": report["proof"], "findings": report.get("findings", [])}

    def _review(self) -> dict[str, Any]:
        o = self.outcome
        mode = "dry-run" if self.settings.dry_run else \
            "yes" if self.settings.yes else "interactive"
        decisions = self.answers
        if o is not None and getattr(o, "decisions", None):  # the workflow's own record
            decisions = [_decision(d) for d in o.decisions]
        elif decisions is None and o is not None and mode == "yes" and o.accepted:
            decisions = [{"id": pid, "accepted": True, "text": None} for pid in o.accepted]
        return {"mode": mode, "decisions": decisions,
                "accepted": None if o is None or o.accepted is None else list(o.accepted)}


def _confidence(value: Any) -> Any:
    """The threshold as the log has always written it: a JSON number."""
    return int(value * 1000) / 1000 if value is not None else None


def _decision(answer: Any) -> dict[str, Any]:
    """A review.Decision: id, accepted, text (the entry as the user edited it, or None)."""
    text = getattr(answer, "text", None)
    return {"id": str(answer.id), "accepted": bool(answer.accepted),
            "text": None if text is None else cap(str(text), OUTPUT_CAP)}


def _step(step: Step) -> dict[str, Any]:
    r = step.result
    return {"index": step.index, "ok": r.ok, "code": cap(step.code, CODE_CAP),
            "code_truncated": len(step.code) > CODE_CAP,
            "output": cap(r.output, OUTPUT_CAP),
            "output_truncated": r.output_truncated or len(r.output) > OUTPUT_CAP,
            "error": cap(r.error, ERROR_CAP), "seconds": round(r.seconds, 3),
            "proposals": len(r.proposals)}


class AuditedUI:
    """The run's UI, unchanged for the user, with the trail listening in."""

    def __init__(self, ui: Any, trail: Trail):
        self._ui = ui
        self._trail = trail

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ui, name)

    def warn(self, message: str) -> None:
        self._trail.warnings.append(message)
        self._ui.warn(message)

    def step(self, step: Step) -> None:
        self._trail.steps.append(step)
        self._ui.step(step)

    def outcome(self, outcome: RunResult) -> None:
        self._trail.outcome = outcome
        self._ui.outcome(outcome)

    def summary(self, outcome: RunResult) -> None:
        self._trail.outcome = outcome  # what the review decided, before the write
        self._ui.summary(outcome)

    def weak_sandbox(self, missing: list[str]) -> None:
        self._trail.weak_layers = list(missing)
        self._ui.weak_sandbox(missing)

    def approve(self, items: Sequence[Proposal], statements: Sequence[Statement],
                revise: Callable[[Proposal, str], Proposal],
                proof: Any = None) -> list[Decision]:
        answer: list[Decision] = self._ui.approve(items, statements, revise, proof)
        self._trail.answers = [_decision(a) for a in answer]
        return answer
