"""Write approved changes: only if every file still has the bytes we loaded, atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from beanagent.errors import LedgerChangedError
from beanagent.load import Ledger, sha256_bytes


def check_unchanged(ledger: Ledger, paths: list[Path]) -> None:
    for path in paths:
        try:
            current = path.read_bytes()
        except OSError:
            raise LedgerChangedError("file disappeared since it was loaded; nothing was "
                                     "written", file=str(path)) from None
        if sha256_bytes(current) != ledger.files[path].sha256:
            raise LedgerChangedError("file changed on disk since it was loaded; nothing was "
                                     "written (run again to reconcile the new version)",
                                     file=str(path))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, rename over, fsync the directory: a crash
    leaves either the old bytes or the new ones, never a mix."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".beanagent")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def commit_files(ledger: Ledger, new_bytes: dict[Path, bytes]) -> list[Path]:
    """Write each changed file; refuses (LedgerChangedError, exit 4) before writing
    anything if any of them moved since load. Returns the files written."""
    paths = sorted(new_bytes)
    check_unchanged(ledger, paths)
    for path in paths:
        _write_atomic(path, new_bytes[path])
    return paths
