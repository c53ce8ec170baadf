"""A child process that does a beanagent write, counts its own file-system steps under a
folder (writes, fsyncs, renames, unlinks, mkdirs, creations; reads are not steps) and dies
on cue: SIGKILL or SIGSTOP just before step k. Its parent learns how far it got from a
shared counter. Used by `benchmarks.stress_commit` and `tests/test_faults.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import beanagent.files.commit
from beanagent.errors import BeanagentError


@dataclasses.dataclass
class Cue:
    kill_at: int | None = None  # SIGKILL itself just before this step (0-based)
    pause_at: int | None = None  # SIGSTOP itself just before this step
    record: bool = False  # keep the steps' labels


class _Steps:
    def __init__(self, root: Path, cue: Cue, counter: Any):
        self.root = str(root)
        self.cue = cue
        self.counter = counter  # shared with the parent: steps done so far
        self.labels: list[str] = []
        self.active = True
        self.first: float | None = None  # when the first step came

    def _where(self, target: Any, dir_fd: int | None = None) -> str | None:
        try:
            if isinstance(target, int):
                path = os.readlink(f"/proc/self/fd/{target}")
            elif dir_fd is not None:
                path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), os.fsdecode(target))
            else:
                path = os.path.abspath(os.fsdecode(target))
        except OSError:
            return None
        return path if path.startswith(self.root + os.sep) or path == self.root else None

    def step(self, op: str, target: Any, dir_fd: int | None = None, to: Any = None) -> None:
        where = self._where(target, dir_fd)
        if not self.active or where is None:
            return
        n = self.counter.value
        if self.first is None:
            self.first = time.monotonic()
        if n == self.cue.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if n == self.cue.pause_at:
            os.kill(os.getpid(), signal.SIGSTOP)
        if self.cue.record:
            self.labels.append(f"{op} {_role(where, self.root)}"
                               + (f" -> {_role(os.path.abspath(to), self.root)}" if to else ""))
        self.counter.value = n + 1


def _role(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    name = os.path.basename(rel)
    if "/undo/" in f"/{rel}":
        return "journal" if name.startswith("record.json") and not name.endswith("tmp") \
            else "journal.tmp" if name.endswith("tmp") else f"undo/{name}"
    if ".beanagent-" in name:
        target = name[1:name.index(".beanagent-")]
        return f"temp({target}, {'new' if name.endswith('.new') else 'old'})"
    return rel


def _instrument(steps: _Steps) -> None:
    """Wrap the os calls a write goes through; reads are not steps."""
    real = {name: getattr(os, name) for name in
            ("write", "fsync", "fchmod", "replace", "rename", "unlink", "rmdir", "mkdir",
             "open")}

    def write(fd: int, data: Any) -> int:
        steps.step("write", fd)
        return int(real["write"](fd, data))

    def fsync(fd: Any) -> None:
        steps.step("fsync", fd)
        real["fsync"](fd)

    def fchmod(fd: int, mode: int) -> None:
        steps.step("chmod", fd)
        real["fchmod"](fd, mode)

    def replace(src: Any, dst: Any, **kw: Any) -> None:
        steps.step("rename", src, to=dst)
        real["replace"](src, dst, **kw)

    def rename(src: Any, dst: Any, **kw: Any) -> None:
        steps.step("rename", src, to=dst)
        real["rename"](src, dst, **kw)

    def unlink(path: Any, *, dir_fd: int | None = None) -> None:
        steps.step("unlink", path, dir_fd)
        real["unlink"](path, dir_fd=dir_fd)

    def rmdir(path: Any, *, dir_fd: int | None = None) -> None:
        steps.step("rmdir", path, dir_fd)
        real["rmdir"](path, dir_fd=dir_fd)

    def mkdir(path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        steps.step("mkdir", path, dir_fd)
        real["mkdir"](path, mode, dir_fd=dir_fd)

    def open_(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            steps.step("create", path, dir_fd)
        return int(real["open"](path, flags, mode, dir_fd=dir_fd))

    for name, fn in (("write", write), ("fsync", fsync), ("fchmod", fchmod),
                     ("replace", replace), ("rename", rename), ("unlink", unlink),
                     ("rmdir", rmdir), ("mkdir", mkdir), ("open", open_)):
        setattr(os, name, fn)
    real_flags = beanagent.files.commit.rename_flags

    def rename_flags(src: Path, dst: Path, flags: int) -> bool:  # renameat2: swap, no-replace
        steps.step("rename", src, to=dst)
        return real_flags(src, dst, flags)

    beanagent.files.commit.rename_flags = rename_flags  # type: ignore[attr-defined]


def child_main(target: Callable[[], None], root: str, cue: Cue, counter: Any, out: str,
               fsize: int | None = None) -> None:
    """Runs in the child process; never returns. Exit status: 0 done, the BeanagentError's
    exit code, or 70 for anything else (with the traceback in `out`)."""
    code = 70
    message = ""
    steps = _Steps(Path(root), cue, counter)
    try:
        if fsize is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        _instrument(steps)
        target()
        code = 0
    except BeanagentError as exc:
        code, message = int(exc.exit_code), str(exc)
    except BaseException:
        message = traceback.format_exc()
    steps.active = False
    seconds = time.monotonic() - steps.first if steps.first is not None else 0.0
    if cue.kill_at is not None and cue.kill_at >= counter.value:
        os.kill(os.getpid(), signal.SIGKILL)  # "after it returned": the last kill point
    with contextlib.suppress(OSError):
        Path(out).write_text(json.dumps({"message": message, "labels": steps.labels,
                                              "seconds": seconds}))
    os._exit(code)


@dataclasses.dataclass
class ChildResult:
    status: int | None  # exit status, or None when killed
    steps: int  # file-system steps it had done
    message: str
    labels: list[str]
    seconds: float  # from its first step to its end (0 when killed)


def run_child(target: Callable[[], None], root: Path, cue: Cue, *, method: str = "fork",
              kill_after: float | None = None, fsize: int | None = None,
              while_paused: Callable[[], None] | None = None) -> ChildResult:
    """One real child process running `target` (picklable for `spawn`), its steps counted
    under `root`. `kill_after`: SIGKILL it that many seconds after its first step.
    `while_paused`: called while it is stopped at `cue.pause_at`."""
    ctx = multiprocessing.get_context(method)
    counter = ctx.Value("i", 0, lock=False)
    out = root.parent / f".{root.name}-child.json"
    with contextlib.suppress(FileNotFoundError):
        out.unlink()
    proc = ctx.Process(target=child_main, args=(target, str(root), cue, counter, str(out),
                                                fsize))
    proc.start()
    assert proc.pid is not None
    if kill_after is not None:
        deadline = time.monotonic() + 120
        while counter.value == 0 and proc.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.0001)
        time.sleep(kill_after)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    paused = cue.pause_at is not None and while_paused is not None
    if paused and while_paused is not None and _wait_stopped(proc.pid, proc):
        while_paused()
        os.kill(proc.pid, signal.SIGCONT)
    proc.join(120)
    if proc.exitcode is None:
        proc.kill()
        raise RuntimeError(f"{target} child hung")
    info: dict[str, Any] = {"message": "", "labels": [], "seconds": 0.0}
    with contextlib.suppress(FileNotFoundError, ValueError):
        info = json.loads(out.read_text())
    status = None if proc.exitcode == -signal.SIGKILL else proc.exitcode
    return ChildResult(status, int(counter.value), info["message"], info["labels"],
                       float(info["seconds"]))


def _wait_stopped(pid: int, proc: Any) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.exitcode is None:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] == "T":
                return True
        time.sleep(0.001)
    return False
