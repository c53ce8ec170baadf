"""When a bean-check error of a changed ledger is one the ledger already had.

The gate (core/gate.py) and the check after writing (files/commit.py) excuse the errors
the ledger had before. Inserting entries shifts the lines below them, so an error is
matched by the entry it concerns, not by its text: the same file, the same line of the
original file (a changed file's line mapped back through the stage's line map), and the
same message once the line numbers it quotes are taken out (`Duplicate entry` and
`No position matches` print whole entries, `'lineno': 812` included).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
Key = tuple[str, int, str]  # (file, line in the original file, message without line numbers)

_LINENO = re.compile(r"""(['"]lineno['"]\s*:\s*)\d+""")


def message_key(message: str, files: Iterable[str] = ()) -> str:
    """The message without the line numbers it quotes: `'lineno': N` of a printed entry,
    and `FILE:N` for any of the ledger's `files`."""
    out = _LINENO.sub(r"\1_", message)
    for name in files:
        if name and name in out:
            out = re.sub(re.escape(name) + r":\d+", name.replace("\\", "\\\\") + ":_", out)
    return out


# Errors about two directives that beancount reports at whichever of them sorts second:
# entries of two files on the same day sort by line number, so an entry written above one
# of them can move the error from one to the other. The message names what they concern
# (the account, the commodity, both entries), so it alone says which error it is.
_PAIR_ERRORS = ("Duplicate entry: ", "Duplicate open directive for ",
                "Duplicate close directive for ", "Duplicate commodity directives for ")


def error_key(file: str, line: int, message: str, files: Iterable[str] = ()) -> Key:
    """What makes two errors the same: the file, the line (in the original file) and the
    message without line numbers; for an error about a pair of directives, the message
    alone, with the two entries of a `Duplicate entry` in a fixed order."""
    text = message_key(message, files)
    if not text.startswith(_PAIR_ERRORS):
        return file, line, text
    head = _PAIR_ERRORS[0]
    if text.startswith(head) and " == " in text:
        text = head + " == ".join(sorted(text[len(head):].split(" == ", 1)))
    return "", 0, text


def original_line(line_map: Sequence[int | str] | None, line: int) -> int | str:
    """A changed file's line (1-based) as the original file numbers it, or the proposal
    id its inserted block belongs to; a line the map doesn't cover stays as it is."""
    if line_map is None or not 1 <= line <= len(line_map):
        return line
    return line_map[line - 1]


def unexcused(baseline: Iterable[Key], found: Iterable[tuple[Key | None, T]]) -> list[T]:
    """The items whose key is not in the baseline; each baseline key excuses one item
    (the ledger had that error once). A None key (an error inside a new entry) is never
    excused."""
    left = Counter(baseline)
    out = []
    for key, item in found:
        if key is not None and left[key] > 0:
            left[key] -= 1
        else:
            out.append(item)
    return out
