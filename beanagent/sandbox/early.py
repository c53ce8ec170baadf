"""Start the sandbox server for a run before the command line's own imports.

The server's load of the ledger is the run's critical path; the host's imports (typer,
rich, the workflow) and settings take a quarter of a second first. So the `beanagent`
command (beanagent/entry.py) spawns the server as soon as its arguments say a run of a
ledger file is coming, and `Sandbox.start` adopts it when it is for the same ledger (else
it is stopped and a server started as usual: a guess never changes what runs).

Only `reconcile LEDGER ...` and `run LEDGER ...` with the ledger right after the command
are guessed; never with --help or --list, and never when an interrupted write awaits
recovery (that must finish before anything reads the ledger). What it loads from (the
load cache, or in full) is its first line on stdin, written here too: the cache is on
unless --no-cache or beanagent.toml's `cache = false` says otherwise, as settings.py
decides it; `Sandbox.start` adopts the server only when its own cache setting agrees.
Light on purpose: nothing here imports beancount.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from beanagent.ledger.cache import LoadCache

# Nothing from the user's environment reaches the server: no keys, no tokens, no HOME.
SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC",
            "BEANCOUNT_DISABLE_LOAD_CACHE": "1"}


class Spawned(NamedTuple):
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    # How it was told to load, when that was decided here (prespawn): the load cache used
    # (None: off) and whether its first line asked to keep the load. None: not told yet.
    told: tuple[LoadCache | None, bool] | None = None


def spawn(ledger: Path) -> Spawned:
    """The server process for `ledger` (absolute), loading as soon as it hears how."""
    workdir = tempfile.TemporaryDirectory(prefix="beanagent-sandbox-")
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
    # A test hook that only ever weakens: the strict check still refuses to run scripts
    # without Landlock and seccomp unless the user allows a weak sandbox.
    without = os.environ.get("BEANAGENT_SANDBOX_WITHOUT", "")
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "beanagent.sandbox.server", str(ledger), without],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        env=SAFE_ENV, cwd=workdir.name, close_fds=True, start_new_session=True,
    )
    return Spawned(proc, stderr, workdir)


_EARLY: dict[Path, Spawned] = {}


def prespawn(args: list[str]) -> None:
    """Spawn the server now when `args` (the command line's) are a run of a ledger file."""
    if len(args) < 2 or args[0] not in ("reconcile", "run") or args[1].startswith("-"):
        return
    if any(a in ("--help", "-h", "--list") for a in args):
        return
    ledger = Path(args[1])
    try:
        if not ledger.is_file():
            return
        main = ledger.resolve()
    except (OSError, ValueError):
        return
    # Spawned first, told what to load only once no interrupted write awaits recovery:
    # until its first line the server imports modules and reads nothing of the books,
    # and importing the journal's module here would hold it back ~25 ms.
    spawned = spawn(main)
    try:
        from beanagent.files.journal import Journal

        unfinished = Journal(main).has_unfinished()
    except (OSError, ValueError):
        unfinished = True
    except BaseException:  # the command line says what it is; no server outlives it
        discard(spawned)
        raise
    if unfinished:
        discard(spawned)
        return
    cache = None
    if _cache_wanted(args, main):
        from beanagent.ledger.cache import LoadCache

        cache = LoadCache()
    _EARLY[main] = spawned._replace(told=(cache, tell(spawned, main, cache,
                                                      _accounts(args))))


def _accounts(args: list[str]) -> list[str]:
    """The accounts named with --account/-a: the server makes their records early (a hint
    only; the run's settings decide what is reconciled)."""
    found = []
    for i, arg in enumerate(args):
        if arg in ("--account", "-a") and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith("--account="):
            found.append(arg.partition("=")[2])
    return found


def _cache_wanted(args: list[str], main: Path) -> bool:
    """Whether the run will use the load cache, as settings.py decides it: on unless
    --no-cache or `cache = false` in beanagent.toml (which can only turn it off; a file
    that can't be read here leaves it on, and the command line reports it)."""
    if "--no-cache" in args:
        return False
    import tomllib

    from beanagent.settings import config_path

    try:
        data = tomllib.loads(config_path(main).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return data.get("cache") is not False


def tell(spawned: Spawned, ledger: Path, cache: LoadCache | None,
         accounts: Sequence[str] = ()) -> bool:
    """The server's first line: the cached load the host authenticated (where its payload
    lies and its sha256), or load in full, pickling the load for the cache when it lacks
    it (`cache` None: off). The server loads in full and keeps that load also when it
    refuses the payload (another version's, or a file changed since the host looked).
    `accounts`: the statements' accounts, when already known (their records are made
    while the host reads the snapshot). Returns whether a load may be kept."""
    hit = cache.fetch(ledger) if cache is not None else None
    keeping = cache is not None and cache.digest is not None
    first = {"load": None if hit is None else {"path": hit.path, "offset": hit.offset,
                                                "length": hit.length, "sha256": hit.sha256},
             "keep": keeping, "warm": list(accounts)}
    assert spawned.proc.stdin is not None
    try:
        spawned.proc.stdin.write(json.dumps(first).encode() + b"\n")
        spawned.proc.stdin.flush()
    except BrokenPipeError:
        pass  # the server died: reading its ready line says so
    return keeping


def adopt(ledger: Path, no_cache: bool) -> Spawned | None:
    """The server spawned early for `ledger`, if any, when it was told to load as the run
    would tell it (`no_cache`: the run's settings turn the load cache off); any other is
    stopped."""
    found = _EARLY.pop(ledger, None)
    for other in list(_EARLY):
        discard(_EARLY.pop(other))
    if found is not None and found.told is not None and (found.told[0] is None) != no_cache:
        discard(found)
        return None
    return found


def stop_unadopted() -> None:
    """At the command's end: a server spawned for a run that never started (a usage
    error, say) is stopped and its folder removed (its death signal would stop it, but
    the folder would stay)."""
    for ledger in list(_EARLY):
        discard(_EARLY.pop(ledger))


def discard(spawned: Spawned) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spawned.proc.pid, signal.SIGKILL)
    spawned.proc.wait()
    spawned.stderr.close()
    spawned.workdir.cleanup()
