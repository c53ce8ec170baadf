"""Small helpers shared by the statement formats that are not CSV or OFX (MT940, CAMT, QIF):
reading the file's text, cleaning a bank's free text, and keeping only bank ids that can
identify one line."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from beanagent.errors import BadInputError
from beanagent.statements.model import StatementLine
from beanagent.text import line_breaker, one_line

# Ids banks write when there is none: matching on them would tie unrelated lines together.
_NO_ID = frozenset({"", "NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE", "N/A", "NA", "0"})


def read_bytes(path: pathlib.Path, display: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise BadInputError(f"cannot read file: {err.strerror or err}", file=display) from err


def decode_text(raw: bytes) -> str:
    """Strict UTF-8 first (non-ASCII cp1252 text is practically never valid UTF-8), then
    cp1252, then latin-1, which never fails. Line ends become `\\n`, a lone `\\r` included,
    so that counting `\\n` gives the line an editor shows."""
    for codec in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean(value: str | None) -> str:
    """A bank's free text on one line: whitespace collapsed, control characters shown."""
    text = " ".join((value or "").split())
    return one_line(text) if line_breaker(text) is not None else text


def bank_id(value: str | None) -> str | None:
    """A bank reference usable as a line's id, or None for the placeholders banks write."""
    text = clean(value)
    return None if text.upper() in _NO_ID else text


def unique_ids(lines: Sequence[StatementLine]) -> tuple[StatementLine, ...]:
    """The lines with ids that repeat inside one statement dropped: matching takes a bank
    id as naming one transaction, and some banks reuse a batch or statement reference."""
    import dataclasses

    seen: dict[str, int] = {}
    for ln in lines:
        if ln.ref.id:
            seen[ln.ref.id] = seen.get(ln.ref.id, 0) + 1
    return tuple(
        dataclasses.replace(ln, ref=dataclasses.replace(ln.ref, id=None))
        if ln.ref.id and seen[ln.ref.id] > 1 else ln
        for ln in lines
    )
