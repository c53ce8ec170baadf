"""The host side of the sandbox: start the server, send it work, distrust what comes back."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from beanagent.errors import SandboxError
from beanagent.ledger.load import paused_gc
from beanagent.ledger.snapshot import Snapshot
from beanagent.model import LedgerError, StepResult
from beanagent.sandbox.early import SAFE_ENV as SAFE_ENV  # (tests start a server too)
from beanagent.sandbox.early import adopt, spawn, tell
from beanagent.sandbox.protocol import OUTPUT_KEEP, RESULT_CAP, ProtocolError, loads_strict
from beanagent.statements.model import Statement

if TYPE_CHECKING:
    from beanagent.ledger.cache import LoadCache

DEFAULT_STEP_TIMEOUT = 60.0
DEFAULT_CHECK_TIMEOUT = 900.0
START_TIMEOUT = 900.0  # loading a very large ledger
REPLY_CAP = RESULT_CAP + 8 * OUTPUT_KEEP + 4096
SNAPSHOT_CAP = 4 * 2**30  # the plain data of a ledger (a 75k-transaction one: ~40 MiB)



class Sandbox:
    def __init__(self, ledger: Path, *, step_timeout: float = DEFAULT_STEP_TIMEOUT,
                 check_timeout: float = DEFAULT_CHECK_TIMEOUT, allow_weak: bool = False,
                 cache: LoadCache | None = None, accounts: Sequence[str] = ()):
        self.ledger = ledger
        self.accounts = tuple(accounts)  # the statements' accounts, if known: a hint
        # Strict by default: without Landlock and seccomp, scripts do not run at all
        # unless the user explicitly accepts a weaker sandbox.
        self.allow_weak = allow_weak
        self.reply_margin = 30.0  # how long past a step's own limit a silent server may take
        self.last_check: dict[str, Any] = {}  # the last check's seconds, and if incremental
        self.missing_layers: list[str] = []
        self.layers: dict[str, Any] = {}
        self.step_timeout = step_timeout
        self.check_timeout = check_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._ready = False
        self._buffer = bytearray()  # what the server sent and was not read yet
        self._snapshot: Snapshot | None = None
        self._body: Snapshot | None = None  # the snapshot before its errors came
        self._keeping = False  # the server pickles its load for the cache
        self._checking = False  # a check was sent and its reply not read yet
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self.load_seconds: Decimal | int | None = None
        self.cache = cache
        self._idle: list[Callable[[], None]] = []  # work for the host's first waits

    def start(self) -> Sandbox:
        """Start the server now (or adopt the one the command spawned before its own
        imports, sandbox/early.py); it loads the ledger while the host does other work."""
        spawned = adopt(self.ledger, self.cache is None)
        if spawned is not None and spawned.told is not None:
            # Told how to load before the command line's imports (sandbox/early.py).
            self._proc, self._stderr, self._workdir, _ = spawned
            early_cache, self._keeping = spawned.told
            if self.cache is not None and early_cache is not None:
                self.cache.adopt(early_cache)
            return self
        spawned = spawned or spawn(self.ledger)
        self._proc, self._stderr, self._workdir, _ = spawned
        self._keeping = tell(spawned, self.ledger, self.cache, self.accounts)
        return self

    def __enter__(self) -> Sandbox:
        return self if self._proc else self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self.keep_load()
        finally:
            self.close()

    def keep_load(self) -> None:
        """After a run that loaded in full: the load the server pickled meanwhile goes into
        the cache, once its bytes are what the server's child said they are."""
        if not (self._keeping and self._ready and self.cache is not None) \
                or self._checking or self._workdir is None:
            return
        self._keeping = False
        try:
            self._send({"op": "kept"})
            reply = self._read_reply(START_TIMEOUT)
        except SandboxError:
            return
        self.store_kept(reply)

    def store_kept(self, reply: dict[str, Any]) -> None:
        """The server's word on the pickled load (`kept`): its file in our folder goes into
        the cache only when it has the sha256 the server's child computed as it wrote it
        (a file swapped meanwhile, say by a script in a weak sandbox, is not cached)."""
        if reply.get("status") != "ok" or not isinstance(reply.get("sha256"), str) \
                or self.cache is None or self._workdir is None:
            return
        path = Path(self._workdir.name) / "load.pickle"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                payload = f.read()
        except OSError:
            return
        if hashlib.sha256(payload).hexdigest() != reply["sha256"]:
            return
        assert self._snapshot is not None
        self.cache.store(self.ledger, payload, self._snapshot.options)

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream:
                    stream.close()
            self._proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _server_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 2000))
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""

    def when_idle(self, work: Callable[[], None]) -> None:
        """Do `work` the first time this process would wait on the server with nothing
        from it to read yet (its load, a script, a check): work needed later, done in a
        wait."""
        self._idle.append(work)

    def _fill(self, deadline: float, timeout: float) -> None:
        """Read what the server sent so far into the buffer (at least one byte)."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while self._idle and not select.select([fd], [], [], 0)[0]:
            self._idle.pop(0)()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise SandboxError(f"sandbox did not answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                break
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            tail = self._server_tail()
            self.close()
            raise SandboxError("sandbox process died" + (f": {tail}" if tail else ""))
        self._buffer += chunk

    def _read_reply(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > REPLY_CAP:
                self.close()
                raise SandboxError("sandbox reply too large")
            self._fill(deadline, timeout)
        line = bytes(self._buffer[:end + 1])
        del self._buffer[:end + 1]
        if len(line) > REPLY_CAP:
            self.close()
            raise SandboxError("sandbox reply too large")
        try:
            reply = loads_strict(line, REPLY_CAP)
        except ProtocolError as exc:
            raise SandboxError(f"sandbox reply unreadable: {exc}") from None
        if not isinstance(reply, dict):
            raise SandboxError("sandbox reply is not an object")
        return reply

    def _read_frame(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buffer) < size:
            self._fill(deadline, timeout)
        frame = bytes(self._buffer[:size])
        self._buffer = bytearray(self._buffer[size:])  # not the frame's room kept for good
        return frame

    def _ensure_body(self) -> None:
        """The ready line and the snapshot's body, decoded (while the server validates)."""
        if self._proc is None:
            self.start()
        if self._body is not None or self._ready:
            return
        reply = self._read_reply(START_TIMEOUT)
        if not reply.get("ready"):
            raise SandboxError(f"sandbox could not load the ledger: {reply.get('error')}")
        size = reply.get("snapshot")
        if not isinstance(size, int) or not 0 < size <= SNAPSHOT_CAP:
            raise SandboxError("sandbox sent no ledger snapshot")
        data = self._read_frame(size, START_TIMEOUT)
        try:
            with paused_gc(freeze=True):  # half a million tuples, held for the whole run
                self._body = Snapshot.decode(data)
        except (ValueError, EOFError, TypeError, KeyError) as exc:
            raise SandboxError(f"the sandbox's ledger snapshot is unreadable: {exc}") from None
        del data
        layers = reply.get("layers")
        self.layers = layers if isinstance(layers, dict) else {}
        missing = reply.get("missing")
        self.missing_layers = [str(m) for m in missing] if isinstance(missing, list) else []
        if self.cache is not None and self.cache.state != "rejected":
            self.cache.state = "hit" if reply.get("cached") is True else "miss"
        seconds = reply.get("seconds")
        # a JSON number: an int or, read with parse_float=Decimal, a Decimal (never a float)
        self.load_seconds = seconds if isinstance(seconds, (int, Decimal)) else None

    def _ensure_ready(self) -> None:
        """The body, then the load's errors (once validated): the snapshot whole."""
        if self._ready:
            return
        self._ensure_body()
        assert self._body is not None
        said = self._read_reply(START_TIMEOUT)
        length = said.get("errors")
        if not isinstance(length, int) or not 0 < length <= SNAPSHOT_CAP:
            raise SandboxError(f"sandbox could not load the ledger: {said.get('error')}")
        try:
            errors = Snapshot.decode_errors(self._read_frame(length, START_TIMEOUT))
        except (ValueError, EOFError, TypeError, KeyError) as exc:
            raise SandboxError(f"the sandbox's ledger snapshot is unreadable: {exc}") from None
        self._snapshot = dataclasses.replace(self._body, errors=errors[0],
                                             error_kinds=errors[1])
        self._ready = True

    def snapshot_body(self) -> Snapshot:
        """The server's load as plain data, without its errors (`errors` empty): what the
        host can work on while the server validates. `snapshot` has them."""
        self._ensure_body()
        assert self._body is not None
        return self._body

    def snapshot(self) -> Snapshot:
        """The ledger as the server's full load found it, as plain data; waits for the
        load. Scripts need every mandatory layer; reading the ledger does not."""
        self._ensure_ready()
        assert self._snapshot is not None
        return self._snapshot

    def _require_layers(self) -> None:
        self._ensure_ready()
        if self.missing_layers and not self.allow_weak:
            raise SandboxError(
                "this system lacks sandbox layers agent scripts need: "
                + "; ".join(self.missing_layers)
                + ". Nothing was run. Pass --allow-weak-sandbox to run scripts in a weaker "
                "sandbox (each script is shown before it runs)")

    @property
    def weak(self) -> bool:
        """True when scripts run without every mandatory layer (the user allowed it)."""
        self._require_layers()
        return bool(self.missing_layers)

    def _send(self, request: dict[str, Any]) -> None:
        self._require_layers()
        request["strict"] = not self.missing_layers
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise SandboxError("sandbox process died: " + self._server_tail()) from None

    def _request(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._send(request)
        return self._read_reply(timeout + self.reply_margin)

    def run(self, script: str, statements: list[Statement],
            engine: dict[str, Any] | None = None, *, timeout: float | None = None,
            staged: Sequence[Any] = ()) -> StepResult:
        """Run one script in a fresh child. Failures of the script come back as a
        StepResult with `error` set; only a broken sandbox raises SandboxError.
        `timeout`: this step's own limit when it is shorter than `step_timeout` (the time
        an agent has left); `staged`: the raw proposals of the run's earlier steps, which
        the script sees as `propose.staged` (data the host holds: it goes in as JSON)."""
        limit = self.step_timeout if timeout is None else max(0.1, min(self.step_timeout,
                                                                         timeout))
        reply = self._request({"op": "run", "script": script, "timeout": limit,
                               "statements": [s.to_json() for s in statements],
                               "engine": engine or {}, "staged": _plain(staged)}, limit)
        output = str(reply.get("output") or "")
        truncated = bool(reply.get("output_truncated"))
        seconds = reply.get("seconds")
        secs = Decimal(str(seconds)) if isinstance(seconds, (int, Decimal)) else Decimal(0)
        status = reply.get("status")
        problem = {
            "timeout": f"the script ran longer than {limit:g} s and was stopped"
                       + ("" if limit >= self.step_timeout else
                          " (the agent's time left)"),
            "output_limit": "the script printed too much and was stopped",
            "disk_limit": "the script wrote too much to its temp dir and was stopped",
            "result_limit": "the script's result was too large and was discarded",
            "killed": f"the script was killed by signal {reply.get('signal')}",
        }.get(str(status))
        if problem is not None:
            return StepResult(False, output, truncated, problem, [], _secs(secs))
        if status != "ok" or not isinstance(reply.get("result"), str) or not reply["result"]:
            return StepResult(False, output, truncated,
                              "the script ended without returning a result "
                              "(did it call os._exit or close its pipes?)", [], _secs(secs))
        try:
            result = loads_strict(reply["result"], RESULT_CAP)
        except ProtocolError as exc:
            return StepResult(False, output, truncated, f"invalid result: {exc}", [], _secs(secs))
        if isinstance(result, dict) and isinstance(result.get("sandbox_error"), str):
            raise SandboxError(f"sandbox: {result['sandbox_error']}")
        if not isinstance(result, dict) or not isinstance(result.get("proposals"), list):
            return StepResult(False, output, truncated, "invalid result: no proposal list", [],
                              _secs(secs))
        error = result.get("error")
        return StepResult(result.get("ok") is True and error is None, output, truncated,
                          error if isinstance(error, str) else None, result["proposals"],
                          _secs(secs), check=result.get("check") is True)

    def bean_check(self, main_file: Path, read: tuple[Path, ...] = ()) -> list[LedgerError]:
        """bean-check (beancount's full loader, no cache) on a staged ledger, in a caged
        child that may read `read` (the staged tree, the ledger's folders) and write nothing."""
        self.begin_check(main_file, read)
        return self.end_check()

    def begin_check(self, main_file: Path, read: tuple[Path, ...] = (),
                    incremental: dict[str, Any] | None = None) -> None:
        """Start the check and return at once, so the host can work while it runs.
        `incremental` (original file -> sha256, staged path, line map) lets the server
        reuse its own parse and booking of the files the proposals didn't change."""
        self._send({"op": "check", "path": str(main_file), "timeout": self.check_timeout,
                    "read": [str(p) for p in (main_file.parent, *read)],
                    "incremental": incremental})
        self._checking = True

    def end_check(self) -> list[LedgerError]:
        reply = self._read_reply(self.check_timeout + 30)
        self._checking = False
        if reply.get("status") != "ok" or not isinstance(reply.get("result"), str):
            raise SandboxError(f"the check of the staged ledger failed to run "
                               f"({reply.get('status')}): {str(reply.get('output'))[-300:]}")
        try:
            result = loads_strict(reply["result"], RESULT_CAP)
            if isinstance(result, dict) and isinstance(result.get("sandbox_error"), str):
                raise SandboxError(f"sandbox: {result['sandbox_error']}")
            ran = result.get("seconds")
            self.last_check = {"seconds": _secs(ran) if isinstance(ran, Decimal) else None,
                               "incremental": result.get("incremental") is True,
                               "failure": result.get("incremental_failure")}
            return [LedgerError(str(e["file"]), int(e["line"]), str(e["message"]))
                    for e in result["errors"]]
        except (ProtocolError, KeyError, TypeError, ValueError) as exc:
            raise SandboxError(f"the check's result is unreadable: {exc}") from None


def _plain(raws: Sequence[Any]) -> list[Any]:
    """Earlier steps' proposals as JSON values again (they came back from children, read
    with Decimal numbers): only objects, each one that can't be written left out."""
    out = []
    for raw in raws:
        if not isinstance(raw, dict):
            continue
        try:
            out.append(json.loads(json.dumps(raw, default=str)))
        except (TypeError, ValueError, RecursionError):
            continue
    return out


def _secs(value: Decimal) -> float:
    return int(value * 1000) / 1000
