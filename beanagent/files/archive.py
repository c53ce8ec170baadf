"""Archiving committed statements (issue 14): with `archive = "documents"` in beanagent.toml,
each statement file of a run is filed beangulp's way, one folder per account and named by
the statement's last date (`documents/Assets/US/BofA/Checking/2025-11-30.bofa-checking-
2025-11.csv`), and a `document` directive pointing at it is proposed with the entries, so
Fava shows it beside them.

bean-check verifies that a document's file exists, so the copy is made before the staged
ledger is checked: a new file only (never over another), removed again when the run ends
without committing the directive (declined, rejected, a failed check, an error). The
statement in the inbox is deleted only after the commit succeeded, only when the user
accepted its directive and every line of it is booked (`runlog.reconciled`), and only if
it still holds the bytes that were copied. A dry run copies and proposes nothing.

The directive is the host's, never an agent's: `document` is not a kind the agents'
rulebook (`core.proposals.validate`) accepts, so no script can point one at a file.
beanagent.toml may come with a shared folder, so the archive folder must stay inside the
ledger's folder (relative, no `..`, no hidden folder such as `.git`, symlinks on the way
resolved) or the run is refused (exit 2) before anything is copied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import os
import re
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from beanagent.errors import BadInputError
from beanagent.files.journal import file_sha256, fsync_dir, read_regular, write_all
from beanagent.files.placement import Placement
from beanagent.model import Ledger, Proposal, RunResult, Spec, sha256_bytes
from beanagent.statements.model import Statement

DOCUMENT = "document"
_UNSAFE = re.compile(r"[^\w.\-+,@() ]")  # what a file name in a directive may not hold


def archive_root(ledger_path: Path, setting: str) -> Path:
    """The archive folder for `setting` (beanagent.toml's `archive`), confined to the
    ledger's folder; BadInputError (exit 2) when it would lead anywhere else."""
    root = Path(os.path.realpath(ledger_path.parent))

    def refuse(why: str) -> BadInputError:
        return BadInputError(f"archive {setting!r} {why}; it must name a folder inside the "
                             "ledger's folder, like \"documents\"",
                             file=str(root / "beanagent.toml"))

    text = setting.replace("\\", "/")
    if not text.strip() or text.startswith(("/", "~")) or os.path.isabs(setting):
        raise refuse("is not relative to the ledger's folder")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise refuse("leads out of the ledger's folder")
    if any(p.startswith(".") for p in parts):
        raise refuse("is a hidden folder (beanagent's state, .git)")
    path = root.joinpath(*parts)
    if not Path(os.path.realpath(path)).is_relative_to(root) or \
            Path(os.path.realpath(path)) == root:
        raise refuse("leads out of the ledger's folder (through a symbolic link)")
    return path


def archive_name(statement: Statement, source: Path) -> str:
    """beangulp's: the statement's last date, a dot, the original name (characters a
    directive's string or a file system might mistake replaced by `_`)."""
    day = statement.end or statement.closing_date or datetime.date.today()
    return f"{day.isoformat()}.{_UNSAFE.sub('_', source.name)}"


@dataclasses.dataclass
class Copy:
    """One statement file on its way to the archive."""

    proposal: str  # the id of its document proposal
    file: str  # the statement's file, as the run names it (Statement.file)
    source: Path  # the file as read
    target: Path  # its place in the archive
    sha256: str  # of the bytes copied
    made: bool  # this run created `target` (removed again unless committed)
    kept: bool = False  # its directive was committed: the copy stays


class Archiver:
    """A run's archive: `propose` copies and proposes (before the stage), `finish` removes
    the inbox originals (after the commit); leaving the `with` removes every copy whose
    directive was not committed."""

    def __init__(self, ledger_path: Path, setting: str | None, dry_run: bool,
                 warn: Callable[[str], None]):
        self.ledger_path = ledger_path
        self.setting = None if dry_run else setting
        self.warn = warn
        self.copies: list[Copy] = []
        self.folders: list[Path] = []  # the folders this run created, outermost first

    def __enter__(self) -> Archiver:
        if self.setting is not None:  # a hostile setting is refused before anything runs
            archive_root(self.ledger_path, self.setting)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()

    def propose(self, ledger: Ledger, statements: Sequence[Statement],
                proposals: Sequence[Proposal]) -> list[Proposal]:
        """A document proposal for each statement file of the run (one account per file),
        its file copied into the archive first so that the staged ledger's check finds it.
        Numbered after `proposals`."""
        if self.setting is None or not statements:
            return []
        root = archive_root(self.ledger_path, self.setting)
        by_file: dict[str, list[Statement]] = {}
        for st in statements:
            by_file.setdefault(st.file, []).append(st)
        first = 1 + max((int(p.id[1:]) for p in proposals if p.id[1:].isdigit()), default=0)
        documented = {os.path.realpath(str(getattr(e, "filename", "")))
                      for e in ledger.entries if type(e).__name__ == "Document"}
        if ledger.plain is not None:
            documented |= {os.path.realpath(name) for name in ledger.plain.documents}
        placement = Placement(ledger)
        out: list[Proposal] = []
        for name, group in by_file.items():
            source = Path(name)
            if len(group) > 1:
                self.warn(f"{name} holds {len(group)} statements (accounts): not archived")
                continue
            st = group[0]
            try:
                data = _read_statement(source)
            except OSError as exc:
                self.warn(f"{name} is not archived: {exc.strerror or exc}")
                continue
            if Path(os.path.realpath(source)).is_relative_to(os.path.realpath(root)):
                continue  # already in the archive
            target = root.joinpath(*st.account.split(":")) / archive_name(st, source)
            made = self._place(target, data)
            if made is None or (not made and os.path.realpath(target) in documented):
                continue  # refused, or filed and in the ledger already (an earlier run)
            pid = f"P{first + len(out)}"
            self.copies.append(Copy(pid, name, source, target, sha256_bytes(data), made))
            spec = Spec(kind=DOCUMENT, date=st.end or st.closing_date or datetime.date.today(),
                        account=st.account, reason=f"archive {source.name} beside its "
                        "entries (moved there once committed)")
            where = ledger.target or placement.file_for(spec)
            spec = dataclasses.replace(spec, narration=os.path.relpath(target, where.parent))
            from beanagent.core.proposals import format_directive

            out.append(Proposal(pid, spec, format_directive(spec)))
        return out

    def _place(self, target: Path, data: bytes) -> bool | None:
        """Copy `data` to `target`: True when made, False when it holds these bytes
        already, None (with a warning) when another file has its name."""
        existing = file_sha256(target, quiet=True) if os.path.lexists(target) else None
        if os.path.lexists(target):
            if existing == sha256_bytes(data) and not os.path.islink(target):
                return False
            self.warn(f"{target} exists with other contents: the statement is not archived "
                      "(rename one of them)")
            return None
        try:
            self.folders += _make_dirs(target.parent,
                                       Path(os.path.realpath(self.ledger_path.parent)))
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                self.warn(f"{target} appeared meanwhile: the statement is not archived")
                return None
            self.warn(f"cannot file the statement as {target}: {exc.strerror or exc}; it is "
                      "not archived")
            return None
        try:
            write_all(fd, data)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(target)
            self.warn(f"cannot file the statement as {target}: {exc.strerror or exc}; it is "
                      "not archived")
            return None
        os.close(fd)
        fsync_dir(target.parent)
        return True

    def finish(self, result: RunResult) -> RunResult:
        """After the commit: each copy whose directive was committed stays; its original
        is deleted when the statement is reconciled and the file still holds what was
        copied (else it stays, with a note)."""
        from beanagent.runlog.reconciled import reconciled_files

        if not result.committed:
            return result
        accepted = set(result.accepted or ())
        done = set(reconciled_files(result))
        for copy in self.copies:
            if copy.proposal not in accepted:
                continue
            copy.kept = True
            if copy.file not in done:
                self.warn(f"{copy.source} is filed as {copy.target}, but not every line of "
                          "it is booked: the original stays where it is")
                continue
            if file_sha256(copy.source, quiet=True) != copy.sha256 or \
                    os.path.islink(copy.source):
                self.warn(f"{copy.source} changed since it was read: it stays where it is "
                          f"(a copy is filed as {copy.target})")
                continue
            try:
                os.unlink(copy.source)
                fsync_dir(copy.source.parent)
            except OSError as exc:
                self.warn(f"could not remove {copy.source} after filing it as "
                          f"{copy.target}: {exc.strerror or exc}")
        return result

    def discard(self) -> None:
        """Remove the copies this run made whose directive was not committed."""
        for copy in self.copies:
            if copy.made and not copy.kept:
                with contextlib.suppress(OSError):
                    if file_sha256(copy.target, quiet=True) == copy.sha256 and \
                            not os.path.islink(copy.target):
                        os.unlink(copy.target)
        self.copies = [c for c in self.copies if c.kept]
        for folder in reversed(self.folders):  # the ones left empty, innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.folders = []


def _read_statement(source: Path) -> bytes:
    """A statement's bytes to file away: a regular file, never through a symlink (moving
    it would delete the link, not the file)."""
    st = os.lstat(source)
    if stat.S_ISLNK(st.st_mode):
        raise OSError(errno.ELOOP, "it is a symbolic link")
    return read_regular(source)


def _make_dirs(folder: Path, root: Path) -> list[Path]:
    """Create the archive's folders, refusing any on the way that is a symlink (a link
    planted in a shared folder must not send the copy elsewhere); the ones created."""
    missing = []
    for path in (folder, *folder.parents):
        if os.path.islink(path):
            raise OSError(errno.ELOOP, f"{path} is a symbolic link")
        if path == root or os.path.isdir(path):
            if not Path(os.path.realpath(path)).is_relative_to(root):
                raise OSError(errno.EXDEV, f"{path} leads out of the ledger's folder")
            break
        missing.append(path)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
    return list(reversed(missing))
