"""Which statement files were reconciled before (issue 14): a statement whose lines were all
matched or committed is recorded by its sha256 in the audit record of the run
(`"reconciled": [sha256, ...]`), so a bare `reconcile` skips it next time. A changed file
has a new sha256: it is new.

Writing: `reconciled_files` decides, from a run's result, which statement files it
reconciled; the audit Trail records their sha256. Reading: `reconciled_before`.

The audit log lives in `.beanagent/` beside the ledger by default, a folder that may come
with a shared books repository: its records are the attacker's to forge. A forged record
can at most make a file look reconciled (the inbox skips it, the listing says "reconciled
before", `--all` takes it anyway); nothing read here ever chooses what is written. So the
reading is defensive: only the log's last READ_CAP bytes, lines that are not records
ignored, only 64-hex-digit hashes taken, the "when" text rebuilt from a parsed time and a
well-formed run id (never the record's own text).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beanagent.model import RunResult
    from beanagent.settings import Settings

READ_CAP = 64 * 2**20  # the log's tail that is read: older records are forgotten
_SHA = re.compile(r"[0-9a-f]{64}")
_RUN = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


def reconciled_files(result: RunResult) -> list[str]:
    """The statement files (`Statement.file`) this run reconciled: every line of every
    statement the file holds is matched to a ledger entry (exactly: a match with a
    discrepancy or on a placeholder leg is not), or, when the run committed, booked by an
    accepted proposal (cited as its evidence, or claimed by it as a transfer's other side:
    the proof of the accepted set). A dry run, a decline or a failed run reconciles only
    the files whose lines were all matched already."""
    committed = result.committed and result.accepted is not None
    accepted = set(result.accepted or ())
    cited = {ref for p in result.proposals if committed and p.id in accepted
             for ref in p.spec.evidence}
    proven = result.proof.statements if committed and result.proof is not None else ()
    done: dict[str, bool] = {}
    for i, st in enumerate(result.statements):
        if i >= len(result.matches):
            done[st.file] = False
            continue
        m = result.matches[i]
        ok = not any(x.discrepancy or x.placeholder for x in m.matches)
        unbooked = set(proven[i].unbooked) if i < len(proven) else None
        for line in m.missing:
            if line.ref in cited:
                continue
            if unbooked is not None and line.ref not in unbooked:
                continue
            ok = False
        done[st.file] = done.get(st.file, True) and ok
    return [f for f, ok in done.items() if ok]


def reconciled_before(ledger_path: Path, settings: Settings) -> dict[str, str]:
    """sha256 (hex) of each statement file reconciled before -> when and in which run
    (e.g. "2025-12-03, run 20251203-101500-3f2a9c"), for the inbox listing. Empty when the
    audit log is off, absent or unreadable (then every file is new)."""
    from beanagent.errors import BeanagentError
    from beanagent.runlog.location import log_path

    try:
        path = log_path(ledger_path, settings.audit_log)
    except BeanagentError:  # a planted link where the log's folder belongs: nothing known
        return {}
    if path is None:
        return {}
    try:
        data = read_tail(path, READ_CAP)
    except OSError:
        return {}
    ledger = ledger_path.resolve()
    here = settings.audit_log == "ledger"
    out: dict[str, str] = {}
    for record in _records(data.splitlines()):
        logged = record.get("ledger")
        if not isinstance(logged, str):
            continue
        with contextlib.suppress(ValueError):
            if not (Path(logged) == ledger or (here and Path(logged).name == ledger.name)):
                continue
            when = _when(record)
            for sha in _hashes(record.get("reconciled")):
                out[sha] = when  # the latest run that reconciled it
    return out


def _records(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for raw in lines:
        if b'"reconciled"' not in raw:  # cheap: most lines are not worth parsing
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict):
            yield record


def _hashes(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and _SHA.fullmatch(v)]


def _when(record: dict[str, Any]) -> str:
    """Rebuilt from parsed values, so nothing a record says reaches the listing as text."""
    day = "an earlier run"
    stamp = record.get("time")
    if isinstance(stamp, str) and len(stamp) <= 40:
        with contextlib.suppress(ValueError):
            moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            day = moment.astimezone().date().isoformat()
    run = record.get("run")
    if isinstance(run, str) and _RUN.fullmatch(run):
        return f"{day}, run {run}"
    return day


def read_tail(path: Path, limit: int) -> bytes:
    """The last `limit` bytes of a regular file that is not a symlink, from the first
    whole line in them."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        start = max(0, st.st_size - limit)
        chunks = []
        offset = start
        while offset < st.st_size:
            chunk = os.pread(fd, min(2**20, st.st_size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if start:  # began mid-line: that line is not whole
        data = data.partition(b"\n")[2]
    return data
