"""Where beanagent may write: the ledger's own files, inside its folder, and only when the
write can succeed. The books folder is often a shared git repository: its `.beanagent/`
(undo records), its symlinks and its `beanagent.toml` come from whoever pushed them, so
nothing found there may choose a file to write. What the user chose is trusted: the
ledger's text (its includes) and the command line.

Three rules, used by the commit, the recovery at the start of a run and `undo`:

- **A record names files of the ledger** (`require_record`). A path in an undo record must
  be one of the files the ledger reads, and the record must be this ledger's (its
  `ledger` names the main file). The recovery runs before the ledger is loaded, so it
  learns the file set by parsing only (`ledger.load.ledger_file_names`: beancount's parser
  follows the includes and globs; no plugin runs, nothing is booked), and only when a
  record has something to do. A folder-tree rule alone would not do: "inside the folder"
  still lets a forged record rewrite `.git/config` (a command runs on the next `git
  status`) or `.envrc`; the ledger's own file set is the only list beanagent may touch.
- **A symlink never leads a write out of the folder** (`targets`). A file the ledger
  reaches through a symlink is written where the link points (the link stays a link), if
  that is inside the ledger's folder tree; a link leading elsewhere is refused, unless
  the user named it with --output. A file the ledger names outside its folder with no
  link on the way (`include "../common/prices.beancount"`) is the user's own choice.
- **Every write is possible before anyone is asked** (`require_writable`): each target
  file and its folder writable, the state folder and lock creatable. A file or folder
  with no write permission bit is read-only even to root (see `journal.writable`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from beanagent.errors import BadInputError, WriteFailedError
from beanagent.files.journal import (
    RECORD,
    Journal,
    Record,
    require_real_dir,
    state_dir,
    writable,
)
from beanagent.model import Ledger


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _plain(path: Path) -> Path:
    return Path(os.path.normpath(path))


def allowed_files(root: Path, names: Iterable[Path]) -> frozenset[Path]:
    """The files a write to this ledger may touch, as real paths: each file the ledger
    reads (`names`, as beancount names them), where it really is; a file reached through
    a symlink only when that leads to somewhere inside `root` (the main file's folder,
    resolved)."""
    out = set()
    for name in names:
        real = _real(name)
        if real == _plain(name) or real.is_relative_to(root):
            out.add(real)
    return frozenset(out)


def require_record(journal: Journal, record: Record, allowed: frozenset[Path]) -> None:
    """Refuse (BadInputError naming the record file, nothing touched) a record that is not
    this ledger's or names a path that is not one of its files (`allowed_files`)."""
    where = journal.record_dir(record.seq) / RECORD

    def refuse(why: str) -> BadInputError:
        return BadInputError(f"{why}; beanagent writes only the files of the ledger, inside "
                             "its folder. Nothing was changed: if you did not make this "
                             f"record, move the folder {where.parent} aside",
                             file=str(where))

    main = journal.relative(journal.main)
    if record.ledger != main:
        raise refuse(f"this undo record belongs to another ledger ({record.ledger!r}, "
                     f"not {main!r})")
    for change in record.files:
        path = journal.absolute(change.path)
        if os.path.isabs(change.path) or path not in allowed:
            raise refuse(f"this undo record names {change.path!r}, which is not a file of "
                         f"the ledger {main}")


def targets(root: Path, paths: Iterable[Path], output: Path | None = None) -> dict[Path, Path]:
    """Where each file (as the ledger names it) is really written: a symlink's target.
    A link whose target leaves `root` is refused (WriteFailedError naming the link),
    unless it is `output` (the user's --output). Two names for one file are refused."""
    out: dict[Path, Path] = {}
    seen: dict[Path, Path] = {}
    for path in sorted(paths):
        real = _real(path)
        if real != _plain(path) and not real.is_relative_to(root) and \
                (output is None or _plain(output.absolute()) != _plain(path)):
            raise WriteFailedError(
                f"is a symbolic link to {real}, outside the ledger's folder {root}: "
                "beanagent writes only inside it (a link in a shared folder must not send "
                "your entries elsewhere); nothing was written", file=str(path))
        if real in seen:
            raise WriteFailedError(f"names the same file as {seen[real]} ({real}); include "
                                   "it once. Nothing was written", file=str(path))
        seen[real] = path
        out[path] = real
    return out


def _read_only(path: Path, what: str, named: Path) -> WriteFailedError:
    try:
        mode = f" (mode {os.stat(path).st_mode & 0o7777:04o})"
    except OSError:
        mode = ""
    return WriteFailedError(f"cannot write: {what} is read-only{mode}; nothing was written",
                            file=str(named))


def require_files_writable(written: dict[Path, Path]) -> None:
    """Each target (`targets`: name -> real path) can be replaced: a regular file (or
    none yet) that is writable, in a folder where a temp file can be made and renamed."""
    for name, real in written.items():
        try:
            st = os.stat(real)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise WriteFailedError("cannot write: not a regular file; nothing was written",
                                   file=str(name))
        if st is not None and not writable(real):
            raise _read_only(real, "the file", name)
        if not writable(real.parent):
            raise _read_only(real.parent, f"the folder {real.parent}", name)


def require_state_writable(main: Path) -> None:
    """The lock and the journal can be made beside `main`: `.beanagent/` (and its undo/
    folder and lock) real and writable, or creatable in the ledger's folder."""
    folder = state_dir(main)
    undo = folder / "undo"
    lock = folder / "lock"
    if not require_real_dir(folder):
        if not writable(main.parent):
            raise _read_only(main.parent, f"the folder {main.parent} (where beanagent keeps "
                             "its lock and undo history)", main)
        return
    for path, is_dir in ((undo, True), (lock, False)):
        if is_dir and require_real_dir(path) and not writable(path):
            raise _read_only(path, "beanagent's undo folder", path)
        if not is_dir and os.path.lexists(path):
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise BadInputError("is not a regular file (a symbolic link?); remove it and "
                                    "run again", file=str(path))
            if not writable(path):
                raise _read_only(path, "the lock file", path)
    if not writable(folder):
        raise _read_only(folder, "beanagent's state folder", folder)


def require_writable(ledger: Ledger, paths: Iterable[Path],
                     output: Path | None = None) -> dict[Path, Path]:
    """Before the review: every write a commit of `paths` (files of `ledger`) will do is
    possible, and none leaves the folder through a symlink. Raises WriteFailedError (exit
    6) or BadInputError (exit 2, a planted link), naming the file; creates nothing.
    Returns where each path is really written."""
    main = ledger.path
    written = targets(_real(main.parent), paths, output)
    require_files_writable(written)
    require_state_writable(main)
    return written
