"""The write journal beside the main ledger file: the commit lock and the undo history.

Layout (format version 1), inside the `.beanagent/` folder next to the main file::

    .beanagent/lock                 flock'ed while a commit, an undo or a recovery writes
    .beanagent/undo/000007/         one folder per write (a commit or an undo), numbered
        record.json                 the journal of that write, then its history entry
        0.old, 1.old, ...           the bytes each file had before (absent: it did not exist)

A record lists every file of the write: its path (relative to the folder holding
`.beanagent/`, so the books can be moved as a whole), its sha256 before and after, the
backup of its old bytes, and the temp file next to it that holds the new bytes until it is
renamed over; and, for a commit, the errors the ledger already had (`baseline`: the written
ledger must pass bean-check but for these). `state` is `pending` from before the first temp
file until the write is known good, `rollback` once putting the old bytes back has begun,
`done` when finished. A record that is not `done` is an interrupted write; `commit.recover`
finishes it (only if every new file is ready and, for a commit, the written ledger passes
the check) or reverts it.

Hand-written on `fcntl.flock` and `json` (both stdlib): the lock libraries on PyPI
(filelock, portalocker) wrap the same call, and the journal is specific to this layout.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import errno
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from beanagent.errors import BadInputError, LedgerBusyError, WriteFailedError
from beanagent.model import sha256_bytes

STATE_DIR = ".beanagent"
FORMAT = 1
RECORD = "record.json"
Kind = Literal["commit", "undo"]
State = Literal["pending", "rollback", "done"]


def state_dir(main: Path) -> Path:
    return main.parent / STATE_DIR


def undo_dir(main: Path) -> Path:
    return state_dir(main) / "undo"


def file_sha256(path: Path, *, quiet: bool = False) -> str | None:
    """The sha256 of a file's bytes, or None when it does not exist (or, `quiet`, when it
    can't be read: the audit log must never fail a run)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        if quiet:
            return None
        raise
    return sha256_bytes(data)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (os.write may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_durably(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write a whole file and fsync it (the caller renames it into place). Created 0600:
    backups of the books are nobody else's business; `mode` sets the final mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        if mode is not None:
            os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _load_renameat2() -> Callable[..., int] | None:
    """Linux's renameat2(2) from libc, which Python's os module does not offer."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_RENAMEAT2 = _load_renameat2()


def rename_flags(src: Path, dst: Path, flags: int) -> bool:
    """rename with RENAME_EXCHANGE (swap the two names atomically) or RENAME_NOREPLACE
    (fail with FileExistsError if dst exists); False where the system or the filesystem
    can't, and the caller falls back to a check and a plain rename."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


@dataclasses.dataclass(frozen=True)
class FileChange:
    path: str  # relative to the folder holding .beanagent/
    old_sha256: str | None  # None: the file did not exist before
    new_sha256: str | None  # None: the write removes it
    backup: str | None  # name of the old bytes inside the record's folder
    temp: str | None  # name of the new bytes' temp file, next to the file


@dataclasses.dataclass(frozen=True)
class Record:
    seq: int
    kind: Kind
    state: State
    time: str  # ISO 8601, UTC
    ledger: str  # the main file, relative like the paths
    files: tuple[FileChange, ...]
    undoes: tuple[int, ...] = ()  # for an undo: the commits it reverted, latest first
    # The written ledger must pass bean-check, these (file, message) errors excepted (the
    # ledger had them before); None: no check (an undo restores what was there).
    baseline: tuple[tuple[str, str], ...] | None = None

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["format"] = FORMAT
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def _sha_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and len(value) == 64):
        return value
    raise ValueError("not a sha256")


def _name_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value and "/" not in value
                         and value not in (".", "..")):
        return value
    raise ValueError("not a plain file name")


def _parse(raw: bytes, where: Path) -> Record:
    def bad(why: str) -> BadInputError:
        return BadInputError(f"unreadable undo record ({why}); move the folder "
                             f"{where.parent} aside to continue", file=str(where))

    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad("not JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise bad(f"not format version {FORMAT}")
    try:
        files = tuple(FileChange(str(f["path"]), _sha_or_none(f["old_sha256"]),
                                 _sha_or_none(f["new_sha256"]), _name_or_none(f["backup"]),
                                 _name_or_none(f["temp"])) for f in body["files"])
        baseline = body["baseline"]
        record = Record(int(body["seq"]), body["kind"], body["state"], str(body["time"]),
                        str(body["ledger"]), files, tuple(int(s) for s in body["undoes"]),
                        None if baseline is None else
                        tuple((str(f), str(m)) for f, m in baseline))
    except (KeyError, TypeError, ValueError):
        raise bad("missing or wrong fields") from None
    if record.kind not in ("commit", "undo") or record.state not in ("pending", "rollback",
                                                                       "done"):
        raise bad("unknown kind or state")
    return record


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True)
class Journal:
    """The write journal and undo history of one ledger (main file, absolute)."""

    main: Path

    @property
    def root(self) -> Path:
        return self.main.parent

    @property
    def folder(self) -> Path:
        return undo_dir(self.main)

    def record_dir(self, seq: int) -> Path:
        return self.folder / f"{seq:06d}"

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def absolute(self, rel: str) -> Path:
        return Path(os.path.normpath(self.root / rel))

    def temp_path(self, change: FileChange) -> Path | None:
        if change.temp is None:
            return None
        return self.absolute(change.path).parent / change.temp

    def write(self, record: Record) -> None:
        """Atomically replace the record's journal (the commit point of each state)."""
        folder = self.record_dir(record.seq)
        tmp = folder / (RECORD + ".tmp")
        write_durably(tmp, record.to_json())
        os.replace(tmp, folder / RECORD)
        fsync_dir(folder)

    def records(self) -> list[Record]:
        """Every record with a journal, oldest first."""
        out = []
        for folder in self._folders():
            path = folder / RECORD
            with contextlib.suppress(FileNotFoundError):
                out.append(_parse(path.read_bytes(), path))
        return sorted(out, key=lambda r: r.seq)

    def orphans(self) -> list[Path]:
        """Folders without a journal: a write that died before its journal existed (so
        before any temp file or rename), or a rollback that died while removing it."""
        return [f for f in self._folders() if not (f / RECORD).exists()]

    def _folders(self) -> list[Path]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(self.folder / n for n in names if n.isdigit() and len(n) == 6)

    def next_seq(self) -> int:
        folders = self._folders()
        return int(folders[-1].name) + 1 if folders else 1

    def has_unfinished(self) -> bool:
        """Cheap: is there anything for a recovery to do? Creates nothing."""
        return bool(self.orphans()) or any(r.state != "done" for r in self.records())

    def remove(self, seq: int) -> None:
        """Drop a record: the journal first (the rest is then an orphan, safe to delete)."""
        folder = self.record_dir(seq)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / RECORD)
            fsync_dir(folder)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def hold_lock(main: Path) -> Iterator[None]:
    """Exclusive, per ledger, never waits: two beanagent runs never write the same ledger
    at once. The lock dies with its process (flock), so a crash never leaves it stuck."""
    folder = state_dir(main)
    try:
        created = not folder.is_dir()
        folder.mkdir(exist_ok=True)
        if created:
            fsync_dir(folder.parent)
        fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WriteFailedError(f"cannot create the lock file: {exc.strerror}; nothing was "
                               "written", file=str(folder / "lock")) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise LedgerBusyError("another beanagent run is writing this ledger; nothing was "
                                  "written (try again when it has finished)",
                                  file=str(main)) from None
        yield
    finally:
        os.close(fd)  # releases the lock
