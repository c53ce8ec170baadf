"""Take back beanagent's commits: `beanagent undo LEDGER [--steps N]`.

The files of the last commit get their previous bytes back, byte-identical, as one
journaled write like a commit (crash-safe the same way), recorded so that the next undo
steps further back. Refused, naming the file and changing nothing, when a file changed
since the commit wrote it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from beanagent.errors import BadInputError, LedgerChangedError
from beanagent.files.commit import journaled_write, ledger_allowed, recover_held
from beanagent.files.confine import require_record
from beanagent.files.journal import (
    FileChange,
    Journal,
    Record,
    file_sha256,
    hold_lock,
    read_regular,
    require_real_dir,
    state_dir,
)
from beanagent.model import sha256_bytes


@dataclasses.dataclass(frozen=True)
class Undone:
    commits: tuple[Record, ...]  # the commits taken back, latest first
    files: tuple[Path, ...]  # the files restored
    notes: tuple[str, ...] = ()  # what the recovery of an interrupted write did first


def _undoable(records: list[Record]) -> list[Record]:
    undone = {seq for r in records if r.kind == "undo" for seq in r.undoes}
    return [r for r in reversed(records) if r.kind == "commit" and r.seq not in undone]


def undo_commits(main: Path, steps: int = 1) -> Undone:
    """Restore the files of the last `steps` commits byte-identical, as one journaled
    write that is itself recorded (so the next undo steps further back). Refuses, naming
    the file and changing nothing, when a file changed since the commit wrote it."""
    if steps < 1:
        raise BadInputError("--steps must be 1 or more")
    if not main.is_file():
        raise BadInputError("ledger file not found", file=str(main))
    journal = Journal(main.resolve())
    if not (require_real_dir(state_dir(journal.main)) and require_real_dir(journal.folder)):
        raise BadInputError("nothing to undo: no beanagent commit is recorded beside this "
                            "ledger", file=str(main))
    # The history is the shared folder's: every record acted on must name only the
    # ledger's files (confine.require_record), learnt by parsing the ledger.
    # Checked before the lock too, so that a refusal leaves even the lock file uncreated.
    allowed = ledger_allowed(journal.main)
    records = journal.records()
    for record in [r for r in records if r.state != "done"] + _undoable(records)[:steps]:
        require_record(journal, record, allowed)
    with hold_lock(journal.main):
        notes = recover_held(journal, allowed)
        todo = _undoable(journal.records())
        if not todo:
            raise BadInputError("nothing to undo: every recorded beanagent commit has been "
                                "undone already", file=str(main))
        if steps > len(todo):
            raise BadInputError(f"only {len(todo)} beanagent commit(s) left to undo; pass "
                                f"--steps {len(todo)} or fewer", file=str(main))
        chosen = todo[:steps]
        for record in chosen:
            require_record(journal, record, allowed)
        expected: dict[Path, str | None] = {}  # what each file must hold now
        state: dict[Path, str | None] = {}  # what it holds once the later commits are undone
        target: dict[Path, bytes | None] = {}
        for record in chosen:
            for change in record.files:
                path = journal.absolute(change.path)
                if path not in state:
                    state[path] = expected[path] = file_sha256(path)
                if state[path] != change.new_sha256:
                    later = "" if path not in target else " (edited between two commits)"
                    raise LedgerChangedError(
                        f"changed since beanagent commit #{record.seq} ({record.time}) "
                        f"wrote it{later}; nothing was undone", file=str(path))
                state[path] = change.old_sha256
                target[path] = _backup_bytes(journal, record, change)
        journaled_write(journal, "undo", target, expected,
               undoes=tuple(r.seq for r in chosen))
    return Undone(tuple(chosen), tuple(sorted(target)), tuple(notes))


def _backup_bytes(journal: Journal, record: Record, change: FileChange) -> bytes | None:
    if change.backup is None:
        return None
    where = journal.record_dir(record.seq) / change.backup
    try:
        data = read_regular(where)
    except OSError as exc:
        raise BadInputError(f"the undo history is damaged: {exc.strerror}; nothing was "
                            "undone", file=str(where)) from None
    if sha256_bytes(data) != change.old_sha256:
        raise BadInputError("the undo history is damaged (a backup's sha256 does not match); "
                            "nothing was undone", file=str(where))
    return data


def format_undone(undone: Undone) -> str:
    lines = list(undone.notes)
    for record in undone.commits:
        names = ", ".join(c.path for c in record.files)
        lines.append(f"undid beanagent commit #{record.seq} of {record.time}: {names}")
    lines.append(f"{len(undone.files)} file(s) restored byte-identical")
    return "\n".join(lines) + "\n"
