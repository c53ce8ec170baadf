"""Test doubles that are real parts: a UI that records and answers like a person would,
and runners for the `beanagent` command: as a subprocess, and in this process."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import locale
import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from beanagent.model import Decision, Finding, Proposal, RunResult, Step
from beanagent.statements.model import Statement

Answer = Callable[[list[Proposal]], list[str] | list[Decision]]


class RecordingUI:
    """Records what the workflow shows; `answer` decides approvals (default: accept all):
    the ids it accepts, or full Decisions (to edit an entry: `Decision(id, True, text)`)."""

    def __init__(self, answer: Answer | None = None):
        self.answer = answer
        self.summaries: list[RunResult] = []
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self.steps: list[Step] = []
        self.outcomes: list[RunResult] = []
        self.diffs: list[str] = []
        self.asked: list[list[Proposal]] = []
        self.found: list[list[Finding]] = []  # each `findings` call's list

    def status(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def step(self, step: Step) -> None:
        self.steps.append(step)

    def outcome(self, outcome: RunResult) -> None:
        self.outcomes.append(outcome)

    def diff(self, text: str) -> None:
        self.diffs.append(text)

    def weak_sandbox(self, missing: list[str]) -> None:
        self.warnings.append("WEAK SANDBOX: " + "; ".join(missing))

    def script(self, code: str) -> None:
        self.messages.append("SCRIPT:\n" + code)

    def approve(self, items: list[Proposal], statements: list[Statement],
                revise: Callable[[Proposal, str], Proposal],
                proof: Any = None) -> list[Decision]:
        self.asked.append(items)
        answer = self.answer(items) if self.answer else [i.id for i in items]
        if answer and all(isinstance(a, Decision) for a in answer):
            return [a for a in answer if isinstance(a, Decision)]
        return [Decision(i.id, i.id in answer) for i in items]

    def summary(self, outcome: RunResult) -> None:
        self.summaries.append(outcome)

    def findings(self, items: Sequence[Finding]) -> None:
        self.found.append(list(items))


def _cli_env(env: dict[str, str] | None) -> dict[str, str]:
    """The environment a `beanagent` run gets: ours without the Anthropic key, plain output
    160 columns wide, then the test's own values."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    full_env.update({"NO_COLOR": "1", "COLUMNS": "160"})
    full_env.update(env or {})
    return full_env


def run_cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m beanagent ARGS` in a subprocess, stdin not a terminal."""
    return subprocess.run([sys.executable, "-m", "beanagent", *map(str, args)], cwd=cwd,
                          env=_cli_env(env), input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)


# ---- the same command in this process ----------------------------------------------------
#
# A `python -m beanagent` run costs ~0.5 s of CPU (interpreter start and imports) before it
# does anything; most tests only look at what the command printed, its exit code and files.
# `run_cli_in_process` gives them the same `CompletedProcess` from `beanagent.cli.app` run
# here, with everything a fresh process would have set up the way `run_cli`'s child gets it:
# the environment (os.environ swapped whole), the working directory, stdin a non-terminal
# holding `stdin`, stdout/stderr in the child's encodings read back like `subprocess.run`
# does (universal newlines), the exit code as `beanagent.cli.main` hands it to `os._exit`,
# an uncaught exception printed by `sys.excepthook` with exit 1, warnings shown once on
# stderr under a fresh interpreter's filters, and log records with no handler of the
# test's in the way (`logging.lastResort` writes them to stderr). The sandbox server is a
# real process either way.
#
# What it does not do, so tests about these keep `run_cli`: `main`'s own steps (making the
# process undumpable, `os._exit`), signals, a killed or hung process (`timeout` is checked
# after the run), process-wide state a run leaves behind, anything that reads
# /proc/<host pid>, and fd-level stdio (a child of the command writing to fd 1/2).
#
# BEANAGENT_TEST_CLI=subprocess makes every call a real `run_cli`, to compare (read at
# import: the autouse fixture clears BEANAGENT_* from each test's environment).
ALWAYS_SUBPROCESS = os.environ.get("BEANAGENT_TEST_CLI") == "subprocess"

PROG_NAME = "python -m beanagent"  # what click calls the command run as `python -m beanagent`


@functools.cache
def _child_stdio() -> tuple[tuple[str, str], ...]:
    """(encoding, errors) of stdin, stdout and stderr in a `python` started like run_cli's."""
    probe = ("import sys; print(' '.join(f'{s.encoding} {s.errors}' for s in "
             "(sys.stdin, sys.stdout, sys.stderr)))")
    words = subprocess.run([sys.executable, "-c", probe], env=_cli_env(None), input="",
                           capture_output=True, text=True, check=True).stdout.split()
    return tuple(zip(words[::2], words[1::2], strict=True))


class _Buffer(io.BytesIO):
    def close(self) -> None:  # a command closing its stdout must not lose what it wrote
        self.flush()


def _stream(encoding: str, errors: str, data: bytes = b"") -> TextIO:
    return io.TextIOWrapper(_Buffer(data), encoding=encoding, errors=errors,
                            write_through=True)


def _as_subprocess_reads(stream: TextIO) -> str:
    """What `subprocess.run(..., text=True)` makes of the bytes: the locale's encoding,
    strict, universal newlines."""
    with contextlib.suppress(ValueError):
        stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, _Buffer)
    return io.TextIOWrapper(io.BytesIO(buffer.getvalue()),
                            encoding=locale.getpreferredencoding(False)).read()


@contextlib.contextmanager
def _fresh_warnings() -> Iterator[None]:
    """Warnings as a `python -m beanagent` shows them: a fresh interpreter's default
    filters, then PYTHONWARNINGS from the (already swapped) environment, each location
    once, written to sys.stderr."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        for option in filter(None, os.environ.get("PYTHONWARNINGS", "").split(",")):
            with contextlib.suppress(warnings._OptionError):  # type: ignore[attr-defined]
                warnings._setoption(option)  # type: ignore[attr-defined]

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _no_test_log_handlers() -> Iterator[None]:
    """pytest's log capture sits on the root logger; a fresh process has nothing there,
    so a warning logged during the run reaches stderr through logging.lastResort."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers = handlers
        root.setLevel(level)


def run_cli_in_process(*args: str | Path, cwd: Path, env: dict[str, str] | None = None,
                       stdin: str | None = None, timeout: float = 120
                       ) -> subprocess.CompletedProcess[str]:
    """`run_cli`'s contract (see above), without starting a `python` for the command."""
    argv = [str(a) for a in args]
    if ALWAYS_SUBPROCESS:
        return run_cli(*argv, cwd=cwd, env=env, stdin=stdin, timeout=timeout)
    from beanagent.cli import app

    (in_enc, in_err), (out_enc, out_err), (err_enc, err_err) = _child_stdio()
    data = (stdin or "").encode(locale.getpreferredencoding(False))
    stdin_stream, out, err = (_stream(in_enc, in_err, data), _stream(out_enc, out_err),
                              _stream(err_enc, err_err))
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams, saved_hook = (sys.stdin, sys.stdout, sys.stderr), sys.excepthook
    full_env = _cli_env(env)
    started = time.monotonic()
    try:
        os.environ.clear()
        os.environ.update(full_env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = stdin_stream, out, err
        with _fresh_warnings(), _no_test_log_handlers():
            try:
                app(args=argv, prog_name=PROG_NAME)
                code: object = 0
            except SystemExit as exc:  # how click ends every run in standalone mode
                code = exc.code
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # uncaught: the interpreter prints it, exit 1
                sys.excepthook(type(exc), exc, exc.__traceback__)
                code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.excepthook = saved_hook
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    # beanagent.cli.main: os._exit(code if int else 0 if None else 1); the status is 8 bits.
    returncode = (code if isinstance(code, int) else (0 if code is None else 1)) & 0xFF
    proc = subprocess.CompletedProcess([sys.executable, "-m", "beanagent", *argv], returncode,
                                       _as_subprocess_reads(out), _as_subprocess_reads(err))
    if time.monotonic() - started > timeout:
        raise subprocess.TimeoutExpired(proc.args, timeout, proc.stdout, proc.stderr)
    return proc


def report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(proc.stdout)


STATE_DIR = ".beanagent"  # beanagent's own state beside a ledger (the audit log, ...)


def users_files(root: Path) -> list[Path]:
    """Every entry below root but beanagent's own state, which the host (never a script:
    the ledger's folder is read-only to them) writes on every run."""
    return [p for p in sorted(root.rglob("*"))
            if STATE_DIR not in p.relative_to(root).parts]


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below root (beanagent's own state aside): to prove nothing
    was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in users_files(root) if p.is_file()}


def bean_check(path: Path) -> list[str]:
    from beanagent.ledger.load import load_entries, to_ledger_errors

    _, errors, _ = load_entries(path)
    return [str(e) for e in to_ledger_errors(errors)]


REPO_ROOT = Path(__file__).resolve().parents[1]
