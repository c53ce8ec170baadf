"""Write approved changes to the user's files, and take them back.

A write (a commit, or an undo) runs under the ledger's lock and goes:
guard (every file still has the sha256 it had at load) → back up the old bytes → journal
(`pending`, fsynced) → new bytes to a temp file beside each file (fsynced) → guard again →
rename each temp over its file → fsync the folders → check the real ledger → `done`.
A crash at any point leaves each file holding exactly its old or its new bytes; the next
run (`recover`) then renames the rest forward when every new file is ready and the written
ledger passes the check, or else puts the old bytes back: the files are all old, or all new
and checked. A failed check puts the old bytes back.
The journal and the backups live in `.beanagent/undo/` (see `beanagent.journal`) and are
what `beanagent.undo` steps back through.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from beanagent.core.same_error import Key, error_key, original_line, unexcused
from beanagent.errors import (
    BeanagentError,
    CheckFailedError,
    LedgerBusyError,
    LedgerChangedError,
    WriteFailedError,
)
from beanagent.files.confine import (
    allowed_files,
    require_files_writable,
    require_record,
)
from beanagent.files.confine import require_writable as require_writable  # the workflow's
from beanagent.files.journal import (
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    FileChange,
    Journal,
    Kind,
    Record,
    file_sha256,
    fsync_dir,
    hold_lock,
    make_private_dir,
    now,
    read_regular,
    rename_flags,
    write_durably,
)
from beanagent.files.written import prove_written
from beanagent.ledger.load import ledger_file_names, load_entries, to_ledger_errors
from beanagent.model import Ledger, LedgerError, Staged, sha256_bytes

# bean-check of the written ledger: all its errors. Those the ledger had at load (the
# baseline) don't count; any other, or an exception, and the old bytes go back.
Check = Callable[[], Sequence[LedgerError]]
Baseline = tuple[tuple[str, str], ...]  # (file, message) of the errors that don't count
# What a written file's lines were: per line (1-based index - 1), its line in the file as
# loaded, or the id of the proposal whose block it belongs to (the stage's line map).
LineMaps = Mapping[str, Sequence[int | str]]
# The proof of a write: what the written files hold that they shouldn't (or lack).
Prove = Callable[[], Sequence[LedgerError]]
DEFAULT_MODE = 0o644


def new_errors(baseline: Iterable[tuple[str, str]],
               errors: Iterable[LedgerError]) -> list[LedgerError]:
    """The errors not in the baseline; each baseline error excuses one error with the same
    file and message, line numbers quoted in the message aside (what an interrupted
    commit's recovery has: the journal keeps file and message)."""
    errors = list(errors)
    files = {e.file for e in errors}
    return unexcused((error_key(f, 0, m, files) for f, m in baseline),
                     ((error_key(e.file, 0, e.message, files), e) for e in errors))


def new_errors_by_entry(baseline: Sequence[LedgerError], errors: Iterable[LedgerError],
                        line_maps: LineMaps) -> list[LedgerError]:
    """The errors not in the baseline, matched by the entry they concern, as the gate
    does (core/gate.gate_result): a written file's lines mapped back through its line map
    to the file as loaded, line numbers quoted in messages aside. An error inside an
    inserted entry is always new."""
    errors = list(errors)
    files = {e.file for e in (*baseline, *errors)}
    found: list[tuple[Key | None, LedgerError]] = []
    for err in errors:
        line = original_line(line_maps.get(err.file), err.line)
        key = None if isinstance(line, str) else error_key(err.file, line, err.message, files)
        found.append((key, err))
    return unexcused((error_key(e.file, e.line, e.message, files) for e in baseline), found)


def bean_check_here(main: Path) -> list[LedgerError]:
    """bean-check in this process: what a recovery runs (the sandbox is not up yet)."""
    return to_ledger_errors(load_entries(main)[1])



def _changed(path: Path, expected: str | None, current: str | None) -> LedgerChangedError:
    if expected is not None and current is None:
        return LedgerChangedError("file disappeared since it was loaded; nothing was "
                                  "written", file=str(path))
    return LedgerChangedError("file changed on disk since it was loaded; nothing was "
                              "written (run again to reconcile the new version)",
                              file=str(path))


def _guard(expected: dict[Path, str | None]) -> None:
    for path, sha in expected.items():
        current = file_sha256(path)
        if current != sha:
            raise _changed(path, sha, current)


def put(temp: Path, path: Path, expected: str | None) -> None:
    """Rename `temp` over `path` only if `path` still holds the bytes with sha256
    `expected` (None: absent); otherwise LedgerChangedError, and whatever another program
    put there stays. Where the kernel can swap two names at once there is no window: swap,
    look at what came out, and swap back if it was not what we expected."""
    if expected is None:
        try:
            if rename_flags(temp, path, RENAME_NOREPLACE):
                return
        except FileExistsError:
            raise _changed(path, None, file_sha256(path)) from None
    elif rename_flags(temp, path, RENAME_EXCHANGE):
        if file_sha256(temp) != expected:
            rename_flags(temp, path, RENAME_EXCHANGE)
            raise _changed(path, expected, file_sha256(path))
        temp.unlink()
        return
    current = file_sha256(path)
    if current != expected:
        raise _changed(path, expected, current)
    temp.replace(path)


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return DEFAULT_MODE


def _rollback_temp(path: Path, seq: int) -> Path:
    return path.parent / f".{path.name}.beanagent-{seq:06d}.old"


def _new_temp_name(path: Path, seq: int) -> str:
    # Hidden and not ending in .beanagent/.bean, so an `include "*.beancount"` never sees it.
    return f".{path.name}.beanagent-{seq:06d}.new"


def _remove_temps(journal: Journal, record: Record) -> None:
    folders = set()
    for change in record.files:
        path = journal.absolute(change.path)
        for temp in (journal.temp_path(change), _rollback_temp(path, record.seq)):
            if temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
                    folders.add(temp.parent)
    for folder in sorted(folders):
        fsync_dir(folder)


def _stuck(journal: Journal, record: Record, change: FileChange) -> LedgerChangedError:
    folder = journal.record_dir(record.seq)
    kept = f"; its bytes from before are in {folder / change.backup}" if change.backup else ""
    return LedgerChangedError(
        f"an interrupted beanagent {record.kind} (#{record.seq}) can be neither finished nor "
        f"undone: this file holds neither its old nor its new bytes{kept}. Put the file as "
        f"you want it, then delete {folder} and run again",
        file=str(journal.absolute(change.path)))


def _roll_back(journal: Journal, record: Record) -> None:
    """Put every file's old bytes back (each by temp file and rename), then drop the
    record. Refuses, touching nothing, when a file holds neither its old nor new bytes."""
    paths = [journal.absolute(c.path) for c in record.files]
    current = [file_sha256(p) for p in paths]
    for change, sha in zip(record.files, current, strict=True):
        if sha not in (change.old_sha256, change.new_sha256):
            raise _stuck(journal, record, change)
    if record.state != "rollback":
        record = dataclasses.replace(record, state="rollback")
        journal.write(record)
    folder = journal.record_dir(record.seq)
    touched = set()
    for change, path, sha in zip(record.files, paths, current, strict=True):
        if sha == change.old_sha256:
            continue
        touched.add(path.parent)
        if change.old_sha256 is None:
            path.unlink()  # it did not exist before: the write created it
            continue
        data = read_regular(folder / str(change.backup))
        if sha256_bytes(data) != change.old_sha256:
            raise _stuck(journal, record, change)
        temp = _rollback_temp(path, record.seq)
        write_durably(temp, data, _mode(path))
        try:
            put(temp, path, sha)
        except LedgerChangedError:
            raise _stuck(journal, record, change) from None
    for parent in sorted(touched):
        fsync_dir(parent)
    _remove_temps(journal, record)
    journal.remove(record.seq)


def _roll_forward(journal: Journal, record: Record) -> str | None:
    """Finish the renames when every file not yet renamed has its new bytes ready, then
    check the written ledger as the interrupted commit would have. Returns None when done,
    else why not (and the caller rolls back)."""
    plan: list[tuple[Path, Path | None, str | None]] = []
    for change in record.files:
        path = journal.absolute(change.path)
        sha = file_sha256(path)
        if sha == change.new_sha256:
            continue
        if sha != change.old_sha256:
            return "a file holds neither its old nor its new bytes"
        temp = journal.temp_path(change)
        if change.new_sha256 is not None and (temp is None or temp.is_symlink()
                                              or file_sha256(temp) != change.new_sha256):
            return "it died before every new file was ready"
        plan.append((path, temp, change.old_sha256))
    for path, temp, old in plan:
        if temp is None:
            path.unlink()
            continue
        try:
            put(temp, path, old)
        except LedgerChangedError:
            return "another program wrote a file"  # the rollback names it
    for parent in sorted({p.parent for p, _, _ in plan}):
        fsync_dir(parent)
    if record.baseline is not None:
        try:
            errors = new_errors(record.baseline, bean_check_here(journal.main))
        except Exception as exc:  # a plugin that crashes: as good as an error
            return f"the check of the written ledger failed to run: {exc}"
        if errors:
            return f"the written ledger fails bean-check: {errors[0]}"
    _remove_temps(journal, record)
    journal.write(dataclasses.replace(record, state="done"))
    return None


def _names(record: Record) -> str:
    return ", ".join(c.path for c in record.files)


def recover_held(journal: Journal, allowed: frozenset[Path]) -> list[str]:
    """Under the lock: finish or revert every interrupted write; say what was done. Every
    record is checked first (`confine.require_record`: only the files in `allowed`, the
    ledger's), so a forged one is refused before anything is touched."""
    unfinished = [r for r in journal.records() if r.state != "done"]
    for record in unfinished:
        require_record(journal, record, allowed)
    notes = []
    for orphan in journal.orphans():
        journal.remove(int(orphan.name))
    for record in unfinished:
        why = _roll_forward(journal, record) if record.state == "pending" else None
        if record.state == "pending" and why is None:
            notes.append(f"an interrupted beanagent {record.kind} (#{record.seq}) was "
                         f"finished: {_names(record)} hold its new version")
        else:
            _roll_back(journal, record)
            because = f" ({why})" if why else ""
            notes.append(f"an interrupted beanagent {record.kind} (#{record.seq}) was "
                         f"undone{because}: {_names(record)} hold their previous version")
    return notes


def ledger_allowed(main: Path) -> frozenset[Path]:
    """The files a record of this ledger may name (confine.allowed_files), learnt by
    parsing it: the recovery runs before the ledger is loaded."""
    return allowed_files(main.parent, ledger_file_names(main))


def recover(main: Path) -> list[str]:
    """At the start of a run (a dry run too): make an interrupted write whole again.
    Creates nothing when there is nothing to do; leaves a write in progress in another
    run to that run. A record that names anything but the ledger's files is refused
    (BadInputError) before the lock is taken: nothing is touched, not even the lock."""
    journal = Journal(main.resolve())
    if not journal.has_unfinished():
        return []
    allowed = ledger_allowed(journal.main)
    for record in journal.records():
        if record.state != "done":
            require_record(journal, record, allowed)
    try:
        with hold_lock(journal.main):
            return recover_held(journal, allowed)
    except LedgerBusyError:
        return []


def _write_failed(exc: OSError, path: Path | None, rest: str) -> WriteFailedError:
    """Named after the user's file being written (the temp or backup name means little)."""
    where = path if path is not None else exc.filename
    return WriteFailedError(f"cannot write: {exc.strerror or exc}; {rest}",
                            file=str(where) if where else None)


def _prepare(journal: Journal, kind: Kind, new: dict[Path, bytes | None],
             old: dict[Path, bytes | None], undoes: tuple[int, ...],
             baseline: Baseline | None) -> Record:
    """Back up the old bytes and write the journal; nothing of the user's is touched."""
    seq = journal.next_seq()
    folder = journal.record_dir(seq)
    changes = []
    path: Path | None = None
    try:
        if make_private_dir(journal.folder):
            fsync_dir(journal.folder.parent)  # so the journal survives a power cut
        make_private_dir(folder)
        for k, path in enumerate(sorted(new)):
            before, after = old[path], new[path]
            backup = None
            if before is not None:
                backup = f"{k}.old"
                write_durably(folder / backup, before)
            changes.append(FileChange(
                journal.relative(path), None if before is None else sha256_bytes(before),
                None if after is None else sha256_bytes(after), backup,
                None if after is None else _new_temp_name(path, seq)))
        fsync_dir(folder)
        fsync_dir(journal.folder)
        record = Record(seq, kind, "pending", now(), journal.relative(journal.main),
                        tuple(changes), undoes, baseline)
        journal.write(record)
    except OSError as exc:
        journal.remove(seq)
        raise _write_failed(exc, path, "nothing was written") from None
    return record


def journaled_write(journal: Journal, kind: Kind, new: dict[Path, bytes | None],
           expected: dict[Path, str | None], check: Check | None = None,
           baseline: Sequence[LedgerError] = (), undoes: tuple[int, ...] = (), *,
           prove: Prove | None = None, line_maps: LineMaps | None = None) -> Record:
    """One journaled write of several files, under the lock (see the module docstring).
    `new`'s paths are the files' real paths (confine.targets). Once renamed, `prove`
    (when given) shows the files hold what was approved, then `check` bean-checks them;
    `line_maps` (the stage's, by file as the ledger names it) match the check's errors
    to the baseline by entry (new_errors_by_entry), else by file and message."""
    require_files_writable({p: p for p in new})
    old: dict[Path, bytes | None] = {}
    for path in sorted(new):  # read once: these bytes are both the guard and the backup
        try:
            old[path] = path.read_bytes()
        except FileNotFoundError:
            old[path] = None
        except OSError as exc:
            raise _write_failed(exc, path, "nothing was written") from None
        sha = None if old[path] is None else sha256_bytes(old[path] or b"")
        if sha != expected[path]:
            raise _changed(path, expected[path], sha)
    excused = tuple((e.file, e.message) for e in baseline) if check is not None else None
    record = _prepare(journal, kind, new, old, undoes, excused)
    current: Path | None = None
    try:
        for change in record.files:
            current = journal.absolute(change.path)
            temp = journal.temp_path(change)
            data = new[current]
            if temp is not None and data is not None:
                write_durably(temp, data, _mode(current))
        _guard(expected)  # a last look: another program may have written meanwhile
    except (OSError, LedgerChangedError) as exc:
        _remove_temps(journal, record)
        journal.remove(record.seq)
        if isinstance(exc, OSError):
            raise _write_failed(exc, current, "nothing was written") from None
        raise
    try:
        for i, change in enumerate(record.files):
            try:
                _swap_in(journal, change)
            except LedgerChangedError:
                # That file was left as the other program wrote it; take the others back.
                left = file_sha256(journal.absolute(change.path))
                files = list(record.files)
                files[i] = dataclasses.replace(change, old_sha256=left, new_sha256=left,
                                               backup=None)
                record = dataclasses.replace(record, files=tuple(files), state="rollback")
                journal.write(record)
                raise
        for parent in sorted({journal.absolute(c.path).parent for c in record.files}):
            fsync_dir(parent)
        wrong = list(prove()) if prove is not None else []
        errors: list[LedgerError] = []
        if not wrong and check is not None:
            errors = new_errors(excused or (), check()) if line_maps is None else \
                new_errors_by_entry(baseline, check(), line_maps)
    except BaseException as exc:
        _undo_or_keep_journal(journal, record, exc)
        raise
    if wrong or errors:
        _undo_or_keep_journal(journal, record, None)
        first = (wrong or errors)[0]
        more = f" (and {len(wrong or errors) - 1} more)" if len(wrong or errors) > 1 else ""
        what = ("the written files do not hold exactly the approved entries" if wrong else
                "the ledger fails bean-check once written")
        raise CheckFailedError(f"{what}: {first.message}{more}; every file was put back "
                               "as it was", file=first.file, line=first.line or None)
    done = dataclasses.replace(record, state="done")
    with contextlib.suppress(OSError):  # if not, the files are whole and new anyway:
        journal.write(done)  # the next run's recovery finds them so and marks it done
    return done


def _swap_in(journal: Journal, change: FileChange) -> None:
    path = journal.absolute(change.path)
    temp = journal.temp_path(change)
    if temp is not None:
        put(temp, path, change.old_sha256)
        return
    current = file_sha256(path)
    if current != change.old_sha256:
        raise _changed(path, change.old_sha256, current)
    path.unlink()


def _undo_or_keep_journal(journal: Journal, record: Record, cause: BaseException | None
                          ) -> None:
    try:
        _roll_back(journal, record)
    except (OSError, BeanagentError) as exc:
        folder = journal.record_dir(record.seq)
        raise WriteFailedError(
            f"the write failed and putting the old bytes back failed too ({exc}); the next "
            f"beanagent run will finish or undo it from {folder}", file=str(journal.main)
        ) from cause


def commit_files(ledger: Ledger, new_bytes: dict[Path, bytes], check: Check | None = None,
                 baseline: Sequence[LedgerError] = (), *,
                 output: Path | None = None, expected: Sequence[str] | None = None,
                 stage: Staged | None = None) -> list[Path]:
    """Write each changed file as one journaled, locked write (module docstring). A file
    the ledger reaches through a symlink is written where the link points, inside the
    ledger's folder (or anywhere if it is `output`, the user's --output; confine.targets).
    Refuses before writing anything (LedgerChangedError, exit 4, naming the file) if any
    of them moved since load; LedgerBusyError (exit 4) if another run is writing;
    CheckFailedError (exit 3, files put back) if `check` finds errors not in `baseline`
    (the errors the ledger had at load); WriteFailedError (exit 6) when a file, its
    folder or the state folder is read-only (require_writable) or the disk refuses
    (nothing changed). Returns the files written, as the ledger names them.

    `expected`, the approved entries' texts: once renamed, the written files are read
    back and must hold exactly the directives they held plus these (prove_written), or
    CheckFailedError (exit 3, files put back). `stage`, the staged copy these bytes come
    from: its line maps match the check's errors to `baseline` by entry
    (new_errors_by_entry), since the inserted entries shift the lines below them."""
    paths = sorted(new_bytes)
    journal = Journal(ledger.path)
    shas = {p: (ledger.files[p].sha256 if p in ledger.files else None) for p in paths}
    _guard(shas)  # before the lock too: a refused commit leaves the folder as it was
    real = require_writable(ledger, paths, output)
    prove = None
    if expected is not None:
        def prove() -> list[LedgerError]:
            return prove_written(ledger, {p: real[p] for p in paths}, expected)
    line_maps = None
    if stage is not None:
        line_maps = {str(p): stage.line_maps[stage.staged[p]] for p in paths
                     if p in stage.staged and stage.staged[p] in stage.line_maps}
    with hold_lock(ledger.path):
        recover_held(journal, allowed_files(ledger.path.parent, ledger.files) | {
            real[p] for p in paths})
        journaled_write(journal, "commit", {real[p]: new_bytes[p] for p in paths},
                        {real[p]: shas[p] for p in paths}, check, baseline,
                        prove=prove, line_maps=line_maps)
    return paths
