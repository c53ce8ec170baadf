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
import hashlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from beanagent.errors import BadInputError, LedgerBusyError, WriteFailedError

STATE_DIR = ".beanagent"
FORMAT = 1
RECORD = "record.json"
Kind = Literal["commit", "undo"]
State = Literal["pending", "rollback", "done"]


RECORD_CAP = 64 * 2**20  # a record.json larger than this is not one beanagent wrote
# What file_sha256 says of a folder, a FIFO, a device or a socket: never read (a FIFO would
# block, /dev/zero never ends), and never equal to a file's sha256.
NOT_REGULAR = "not a regular file"


def state_dir(main: Path) -> Path:
    return main.parent / STATE_DIR


def undo_dir(main: Path) -> Path:
    return state_dir(main) / "undo"


def file_sha256(path: Path, *, quiet: bool = False) -> str | None:
    """The sha256 of a file's bytes, or None when it does not exist (or, `quiet`, when it
    can't be read or is not a regular file: the audit log must never fail a run, nor
    hang on a statement given as a FIFO). Anything but a regular file is NOT_REGULAR."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        if quiet:
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None if quiet else NOT_REGULAR
        digest = hashlib.sha256()
        while chunk := os.read(fd, 2**20):
            digest.update(chunk)
    except OSError:
        if quiet:
            return None
        raise
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file that is not a symlink (`.beanagent/` is the shared
    folder's: a record or backup planted as a link to /dev/zero or a secret is refused,
    OSError), at most `limit` of them (OSError EFBIG beyond)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if limit is not None and st.st_size > limit:
            raise OSError(errno.EFBIG, "file too large", str(path))
        chunks = []
        while chunk := os.read(fd, 2**20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def writable(path: Path) -> bool:
    """Can beanagent write this file (or, a folder, create and rename in it)? A file or
    folder with no write permission bit at all is read-only even to root: the user said
    so with chmod, and beanagent does not override it."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    folder = stat.S_ISDIR(st.st_mode)
    return os.access(path, os.W_OK | (os.X_OK if folder else 0))


def require_real_dir(path: Path) -> bool:
    """True when `path` is a folder, False when absent. A symlink (or a file) where one
    of beanagent's state folders belongs is refused: `.beanagent/` comes with a shared
    books folder, and a link there would send the lock, the journal or the log (and what
    they write) anywhere."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise BadInputError("is a symbolic link; beanagent keeps its state (lock, undo "
                            "history, audit log) only in a real folder: remove the link "
                            "and run again", file=str(path))
    if not stat.S_ISDIR(st.st_mode):
        raise BadInputError("is not a folder; beanagent keeps its state (lock, undo history, "
                            "audit log) in this folder: move the file away and run again",
                            file=str(path))
    return True


def make_private_dir(path: Path) -> bool:
    """Create one folder 0700 whatever the umask (mkdir, then chmod); False when it was
    there already (a real folder: require_real_dir). Never inside a read-only folder."""
    if require_real_dir(path):
        return False
    if not writable(path.parent):
        raise OSError(errno.EACCES, "the folder is read-only", str(path.parent))
    os.mkdir(path, 0o700)
    os.chmod(path, 0o700)
    return True


def make_private_dirs(path: Path) -> list[Path]:
    """`path` and its missing parents, each created 0700; the ones created, outermost
    first (their parents need an fsync for them to survive a power cut). Folders that
    exist are taken as they are (links included: above the books they are the user's;
    the callers refuse links in beanagent's own state folders first)."""
    missing = []
    for folder in (path, *path.parents):
        if os.path.isdir(folder):
            break
        missing.append(folder)
    for folder in reversed(missing):
        make_private_dir(folder)
    return list(reversed(missing))


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


def _create_new(path: Path) -> int:
    """A new, empty file 0600. Whatever had the name is removed first, never followed:
    a temp name beside a ledger file planted as a symlink to ~/.bashrc must not be
    written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileExistsError:
        os.unlink(path)  # a stale temp from an interrupted run, or a planted link
        return os.open(path, flags, 0o600)


def write_durably(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write a whole new file and fsync it (the caller renames it into place). Created
    0600: backups of the books are nobody else's business; `mode` sets the final mode."""
    fd = _create_new(path)
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
    return fn


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
            try:
                raw = read_regular(path, RECORD_CAP)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BadInputError(f"unreadable undo record ({exc.strerror}); move the "
                                    f"folder {folder} aside to continue",
                                    file=str(path)) from None
            out.append(_parse(raw, path))
        return sorted(out, key=lambda r: r.seq)

    def orphans(self) -> list[Path]:
        """Folders without a journal: a write that died before its journal existed (so
        before any temp file or rename), or a rollback that died while removing it."""
        return [f for f in self._folders() if not os.path.lexists(f / RECORD)]

    def _folders(self) -> list[Path]:
        """The numbered folders; none of the folders on the way may be a symlink."""
        if not (require_real_dir(state_dir(self.main)) and require_real_dir(self.folder)):
            return []
        names = sorted(n for n in os.listdir(self.folder) if n.isdigit() and len(n) == 6)
        for name in names:
            require_real_dir(self.folder / name)
        return [self.folder / n for n in names]

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
    lock = folder / "lock"
    try:
        if make_private_dir(folder):
            fsync_dir(folder.parent)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise BadInputError("is a symbolic link; remove it and run again",
                                file=str(lock)) from None
        raise WriteFailedError(f"cannot create the lock file: {exc.strerror}; nothing was "
                               "written", file=str(lock)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadInputError("is not a regular file; remove it and run again",
                                file=str(lock))
        if st.st_mode & 0o777 != 0o600:  # made by an older beanagent, or another umask
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o600)
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
