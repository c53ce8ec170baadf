"""The sandbox server: loads the ledger once, then forks one fresh child per request.

Started by `runner.Sandbox` as `python -I -m beanagent.sandbox.server LEDGER` with a
scrubbed environment, no tty and its own session. It holds no secrets. Requests arrive
as JSON lines on stdin (from the trusted host); each is served by a forked child whose
stdout/stderr go to a capped pipe and whose result comes back on its own pipe, relayed
to the host as raw text for the host to parse strictly. Nothing survives between steps.

Its load is the run's only one (serverload.py): the first line on stdin says whether to
read the cached load the host authenticated or to load in full; the ready line is followed
by the snapshot's body, the load as plain data for the host (ledger/snapshot.py), and once
the load is validated (here, while the host decodes the body) by its errors.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import difflib
import functools
import gc
import json
import linecache
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beanagent.sandbox import serverload
from beanagent.sandbox.incremental import Booked, file_digests
from beanagent.sandbox.incremental import check as incremental_check
from beanagent.sandbox.layers import (
    LayerError,
    Layers,
    Plan,
    python_read_paths,
    set_death_signal,
)
from beanagent.sandbox.protocol import OUTPUT_HEAD, OUTPUT_KEEP, RESULT_CAP, cut_marker

OUTPUT_KILL = 4 * 1024 * 1024  # a flood beyond this kills the step
TEMP_BYTES = 256 * 1024 * 1024  # a step's temp dir, all files together
TEMP_FILES = 10_000
RESULT_FD = 3
SCRIPT_NAME = "<script>"


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _limit(kind: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(kind)
        for bound in (soft, hard):  # only ever tighten
            if bound != resource.RLIM_INFINITY:
                value = min(value, bound)
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):
        pass


def _child_setup(out_w: int, res_w: int, workdir: str) -> None:
    """New session, death signal, stdout/stderr to the capped pipe, every other fd closed."""
    os.setsid()
    set_death_signal()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(res_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, 65536)
    os.chdir(workdir)
    os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir


def _rlimits(cpu_seconds: int, extra_mem: int) -> None:
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_CPU, cpu_seconds)
    _limit(resource.RLIMIT_FSIZE, 64 * 1024 * 1024)
    _limit(resource.RLIMIT_NOFILE, 64)
    # A runaway recursion should hit a fault fast, not grow an unlimited stack for minutes.
    _limit(resource.RLIMIT_STACK, 64 * 1024 * 1024)
    if extra_mem:
        _limit(resource.RLIMIT_AS, _vm_bytes() + extra_mem)


def _script_traceback(exc: BaseException) -> str:
    """The traceback as the script's author needs it: only the script's own frames, and
    for a name the script API's objects lack, the names they have."""
    te = traceback.TracebackException.from_exception(exc)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if f.filename == SCRIPT_NAME] or te.stack[-1:])
    text = "".join(te.format()).rstrip()
    hint = attribute_hint(exc)
    if hint is not None:
        head, _, last = text.rpartition("\n")
        if last.startswith("AttributeError"):
            text = (head + "\n" if head else "") + f"AttributeError: {hint}"
    return text


def attribute_hint(exc: BaseException) -> str | None:
    """"Suggestion has no attribute 'counter_account' (did you mean 'account'?; fields:
    account, payee, ...)" for an attribute the script API's objects lack; else None."""
    if not isinstance(exc, AttributeError) or not isinstance(exc.name, str):
        return None
    obj = exc.obj
    kind = type(obj)
    if isinstance(obj, type) or not kind.__module__.startswith("beanagent."):
        return None
    public = [n for n in dir(obj) if not n.startswith("_") and n not in dir(tuple)]
    if dataclasses.is_dataclass(obj):
        fields = [f.name for f in dataclasses.fields(obj) if f.repr]
    else:
        fields = list(getattr(kind, "_fields", ()))
    methods = []
    for name in public:
        attr = getattr(kind, name, None)  # from the class: never runs a property
        if name in fields:
            continue
        if callable(attr) and not isinstance(attr, type):
            methods.append(f"{name}()")
        else:  # a property, or an attribute set on the instance
            fields.append(name)
    close = difflib.get_close_matches(exc.name, public, n=2, cutoff=0.6) or [
        n for n in public if len(n) > 2 and (n in exc.name or exc.name in n)][:2]
    parts = [f"did you mean {' or '.join(repr(n) for n in close)}?"] if close else []
    if fields:
        parts.append("fields: " + ", ".join(fields))
    if methods:
        parts.append("methods: " + ", ".join(methods))
    return (f"{kind.__name__} has no attribute {exc.name!r}"
            + (f" ({'; '.join(parts)})" if parts else ""))


def _run_script(view: Any, request: dict[str, Any]) -> dict[str, Any]:
    from beanagent.sandbox.script_api import check_requested, make_globals
    from beanagent.statements.model import Statement

    statements = [Statement.from_json(s) for s in request["statements"]]
    env = make_globals(view, statements, request.get("engine") or {},
                       request.get("staged") or ())
    source = request["script"]
    linecache.cache[SCRIPT_NAME] = (len(source), None, source.splitlines(True), SCRIPT_NAME)
    error = None
    try:
        exec(compile(source, SCRIPT_NAME, "exec"), env)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = f"SystemExit: {exc.code}"
    except BaseException as exc:
        error = _script_traceback(exc)
    sys.stdout.flush()
    sys.stderr.flush()
    propose = env["propose"]
    return {"ok": error is None, "error": error, "proposals": propose.to_json(),
            "check": check_requested(propose)}


def _run_check(request: dict[str, Any], state: Booked | None) -> dict[str, Any]:
    from beanagent.ledger.load import load_entries, to_ledger_errors

    start = time.monotonic()
    files = request.get("incremental")
    errors, failure = None, None
    if state is not None and files:
        try:
            errors = incremental_check(state, files)
        except Exception as exc:  # the shortcut is an optimisation: the full load decides
            failure = f"{type(exc).__name__}: {exc}"[:300]
    shortcut = errors is not None
    if errors is None:
        _, errors, _ = load_entries(Path(request["path"]))
    return {"errors": [e.__dict__ for e in to_ledger_errors(errors)],
            "seconds": round(time.monotonic() - start, 3), "incremental": shortcut,
            "incremental_failure": failure}


def _over_quota(workdir: str) -> bool:
    """Rlimits cap one file's size; this caps the whole temp dir (many medium files).
    Polled while the step runs, since a sized tmpfs needs privileges we may not have."""
    total = files = 0
    stack = [workdir]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            files += 1
            if files > TEMP_FILES:
                return True
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
                if total > TEMP_BYTES:
                    return True
    return False


class _Output:
    """The head and the tail of everything a step prints (decoded as it comes), and how
    many characters lie between them."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.head = ""
        self.tail: deque[str] = deque()
        self.tail_chars = 0
        self.chars = 0
        self.bytes = 0

    def add(self, chunk: bytes, final: bool = False) -> None:
        self.bytes += len(chunk)
        text = self.decoder.decode(chunk, final)
        self.chars += len(text)
        if len(self.head) < OUTPUT_HEAD:
            room = OUTPUT_HEAD - len(self.head)
            self.head += text[:room]
            text = text[room:]
        if text:
            self.tail.append(text)
            self.tail_chars += len(text)
        keep = OUTPUT_KEEP - OUTPUT_HEAD - 64  # the marker fits in OUTPUT_KEEP
        while self.tail and self.tail_chars - len(self.tail[0]) >= keep:
            self.tail_chars -= len(self.tail.popleft())
        if self.tail and self.tail_chars > keep:  # trim the oldest piece
            extra = self.tail_chars - keep
            self.tail[0] = self.tail[0][extra:]
            self.tail_chars -= extra

    def text(self) -> tuple[str, int]:
        """The output as kept, and how many characters were cut from its middle."""
        self.add(b"", final=True)
        tail = "".join(self.tail)
        cut = self.chars - len(self.head) - len(tail)
        return (self.head + cut_marker(cut) + tail if cut else self.head + tail), cut


def _collect(pid: int, out_r: int, res_r: int, deadline: float,
             workdir: str) -> dict[str, Any]:
    out = _Output()
    res = bytearray()
    status = "ok"
    open_fds = {out_r, res_r}
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    exited = False
    wstatus: int | None = None
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = "timeout"
            break
        watch = list(open_fds) + ([pidfd] if pidfd is not None and not exited else [])
        wait = 0.05 if exited else 0.25
        ready, _, _ = select.select(watch, [], [], min(remaining, wait))
        if pidfd is not None and pidfd in ready:
            exited = True
        for fd in ready:
            if fd == pidfd:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
            elif fd == out_r:
                out.add(chunk)
            else:
                res += chunk
        if out.bytes > OUTPUT_KILL:
            status = "output_limit"
            break
        if not exited and _over_quota(workdir):
            status = "disk_limit"
            break
        if len(res) > RESULT_CAP:
            status = "result_limit"
            break
        if exited and not ready:
            break  # the child is gone; a grandchild holding the pipes open gets no wait
        if pidfd is None and not exited:
            done, status_now = os.waitpid(pid, os.WNOHANG)
            if done:
                exited, wstatus = True, status_now
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # whatever is left of the step's process group
    if wstatus is None:
        _, wstatus = os.waitpid(pid, 0)
    if pidfd is not None:
        os.close(pidfd)
    sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else None
    if status == "ok" and sig is not None and not res:
        status = "killed"
    output, cut = out.text()
    return {
        "status": status,
        "signal": sig,
        "output": output,
        "output_truncated": cut > 0,
        "output_cut": cut,
        "result": res.decode("utf-8", "replace") if status == "ok" else None,
    }


def _write_result(result: dict[str, Any]) -> None:
    data = json.dumps(result, ensure_ascii=False, allow_nan=False).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(RESULT_FD, view):]


def serve_one(work: Callable[[], dict[str, Any]], timeout: float, extra_mem: int,
              layers: Layers | None = None, read: tuple[str, ...] = (),
              strict: bool = True) -> dict[str, Any]:
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    workdir = tempfile.mkdtemp(prefix="beanagent-step-")
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            _child_setup(out_w, res_w, workdir)
            try:
                # In order: namespaces, rlimits, Landlock, seccomp (last: it would
                # refuse the calls the others make).
                if layers is not None:
                    layers.enter_namespaces()
                _rlimits(int(timeout) + 1, extra_mem)
                if layers is not None:
                    layers.apply_filters(Plan(read, (workdir,)), strict)
            except LayerError as exc:
                _write_result({"sandbox_error": str(exc)})
                os._exit(0)
            _write_result(work())
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(res_w)
    try:
        reply = _collect(pid, out_r, res_r, start + timeout, workdir)
    finally:
        os.close(out_r)
        os.close(res_r)
        # Never read what the child left behind; remove it without following links.
        shutil.rmtree(workdir, ignore_errors=True)
    reply["seconds"] = round(time.monotonic() - start, 4)
    return reply


def _failed(exc: BaseException) -> str:
    """Why the load failed, for the host; beancount lets a plugin's exit through: say
    whose it was."""
    why = " (a plugin of the ledger ended the load)" if isinstance(exc, SystemExit) else ""
    return f"{type(exc).__name__}: {exc}{why}"


def main() -> None:
    req = os.fdopen(os.dup(0), "rb")
    resp = os.fdopen(os.dup(1), "wb")
    # Stray prints from plugins must not corrupt the protocol: point 0/1 elsewhere.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    def send(obj: dict[str, Any], frame: bytes = b"") -> None:
        resp.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
        if frame:
            resp.write(frame)
        resp.flush()

    from beanagent.ledger.load import load_booked, paused_gc, validated
    from beanagent.ledger.snapshot import encode_body, encode_errors

    set_death_signal()
    start = time.monotonic()
    # Bindings imported and libseccomp located before any child exists.
    layers = Layers(frozenset(filter(None, (sys.argv[2] if len(sys.argv) > 2 else "").split(","))))
    try:
        if not Path(sys.argv[1]).is_file():
            raise FileNotFoundError(sys.argv[1])
        # The run's one full load (or the load cache's copy of it, which the host found
        # and authenticated): the host gets it as plain data (ledger/snapshot.py).
        # What the load runs, imported while the host may still be busy with its own
        # imports and settings (it spawns us early: sandbox/early.py).
        import beancount.loader
        import beancount.ops.validation
        import beancount.parser.booking  # noqa: F401

        first = json.loads(req.readline() or b"{}")
        loaded = serverload.cached(first.get("load"))
        cached = loaded is not None
        if loaded is None:
            kept: list[Any] | None = []
            with paused_gc(freeze=True):  # held until the end: never walked by the gc
                full = load_booked(Path(sys.argv[1]))
                sha256 = file_digests(full.options)
                body = encode_body(full.entries, full.options, sha256, kept)
            entries, options = full.entries, full.options
        else:
            entries, options, (body, error_frame) = loaded.entries, loaded.options, \
                loaded.snapshot
            kept = None
    except (Exception, SystemExit) as exc:  # the host reports it; a half-loaded server
        send({"ready": False, "error": _failed(exc)})  # must not serve
        return
    # The snapshot's body follows the ready line as exactly `snapshot` bytes: the host
    # decodes it while this process validates the load (in this process: a child doing
    # either would copy most of the load's pages), then the errors follow as a frame of
    # their own, and this process readies itself for the scripts (their view, the check's
    # state) while the host works on the snapshot.
    send({"ready": True, "seconds": round(time.monotonic() - start, 3),
          "layers": layers.status(), "missing": layers.missing(), "snapshot": len(body),
          "cached": cached}, body)
    if loaded is not None:  # the cached load's errors are known: out at once
        send({"errors": len(error_frame)}, error_frame)
    view = serverload.serving_view(entries, options, body, kept)
    del kept
    # What scripts and the check read, readied while the host decodes the body: then a
    # script forks as soon as the errors are out. The accounts the host named get their
    # records now (sandbox/early.py).
    view.warm(a for a in first.get("warm") or () if isinstance(a, str))
    history = serverload.history_of(view)
    if loaded is None:
        try:
            with paused_gc(freeze=True):
                full = validated(full)
                error_frame = encode_errors(full.errors)
                state = Booked(full.booked, full.options, full.entries, full.balanced, sha256)
        except (Exception, SystemExit) as exc:
            send({"errors": None, "error": _failed(exc)})
            return
        send({"errors": len(error_frame)}, error_frame)
        keep = (full.booked, full.entries, full.options) if first.get("keep") else None
        del full
    else:
        # Made before any child forks, like everything the children may read: made while
        # a child lives, it would touch the load's objects and so copy their pages
        # (measured on a 13k-transaction ledger: +25 MiB at the run's peak).
        state = serverload.booked_state(loaded)
        serverload.import_check_modules(options)
        keep = None
    serverload.use_history(state, history)
    snapshot = (body, error_frame)
    del body, error_frame, loaded, history
    import beanagent.sandbox.script_api  # noqa: F401  (children find it loaded: no reads after Landlock)
    # Children inherit this heap copy-on-write; freezing it keeps their garbage collector
    # from walking (and so copying) every page of the loaded ledger.
    gc.freeze()
    ledger_files = tuple(options.get("include") or [sys.argv[1]])
    python_paths = tuple(python_read_paths())
    # A load the cache lacks is pickled for it by a child, while the run goes on.
    keeper = serverload.keep(state.sha256, *keep, serverload.unbalanced(state), snapshot) \
        if keep is not None else None
    del keep, snapshot
    for line in req:
        request = json.loads(line)
        strict = bool(request.get("strict", True))
        if request["op"] == "run":
            view.warm(serverload.statement_accounts(request))
            gc.freeze()
            reply = serve_one(functools.partial(_run_script, view, request),
                              request["timeout"], 2 * 1024**3, layers,
                              python_paths + ledger_files, strict)
        elif request["op"] == "check":
            reply = serve_one(functools.partial(_run_check, request, state),
                              request["timeout"], 0, layers,
                              python_paths + tuple(request.get("read") or ()), strict)
        elif request["op"] == "kept":
            reply, keeper = serverload.kept(keeper), None
        else:
            reply = {"status": "error", "error": f"unknown op {request['op']!r}"}
        send(reply)


if __name__ == "__main__":
    main()
