"""Text for people: paths as the user would type them, and untrusted text made safe to show.

Statements, ledgers and models are hostile: a description can carry terminal escape
sequences (erase a line, set the window title), C1 controls (U+009B is a CSI on some
terminals), bidirectional overrides that make text read differently from what it holds,
zero-width characters that make two payees look alike, and line separators that some
programs split lines at. `visible` is the one sanitiser for display; `one_line` is what
statement parsers keep of a text field; `line_breaker` is the proposal rules' test.
"""

from __future__ import annotations

import difflib
import os
import re
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Every character of Unicode categories Cc (C0, DEL, C1), Cf (format: bidi controls,
# zero-width characters, soft hyphen, tag characters...), Zl and Zp (U+2028, U+2029),
# plus lone surrogates (Cs: from undecodable file names; they can't even be encoded).
# Written out rather than computed from unicodedata at import (that takes a tenth of a
# second); tests/test_hardening_text.py checks it against unicodedata.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")

# What a proposal's text may not hold, because one printed line could not show it as it
# is: C0 and C1 controls and DEL (escape sequences, newlines; U+0085 is NEL), the line and
# paragraph separators, and the bidirectional controls (marks, embeddings, overrides,
# isolates), which reorder what is shown. Zero-width characters stay allowed (Persian
# needs U+200C, emoji U+200D); the display escapes them.
_LINE_BREAKERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def display_path(path: Path | str) -> str:
    """Paths as the user would type them: relative to the working directory when inside it."""
    text = str(path)
    if text.startswith("<"):
        return text
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def split_lines(text: str) -> list[str]:
    """Lines as beancount counts them: split at \n only (str.splitlines would also break
    at U+2028, form feeds and lone \r, shifting every line number after them)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


_NEWLINE = re.compile(b"\n")


class Lines(Sequence[str]):
    """A file's lines as `split_lines` gives them (split at "\n" only), by index, each
    decoded when asked for: the file's bytes and where each line starts, never a string
    per line (a ledger of 80,000 lines: 0.6 MiB of offsets instead of 8 MiB of strings,
    and no decoded copy of the file)."""

    def __init__(self, data: bytes):
        self.data = data
        starts = array("q", [0])
        starts.extend(m.end() for m in _NEWLINE.finditer(data))
        if starts[-1] != len(data):  # a last line without a newline
            starts.append(len(data))
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError("line index out of range")
        return self.data[self.starts[i]:self.starts[i + 1]].decode("utf-8")

    def span(self, first: int, stop: int) -> bytes:
        """Lines [first, stop) as they are in the file."""
        return self.data[self.starts[first]:self.starts[stop]]


def escape_char(ch: str) -> str:
    """A character as Python writes it in a string literal: \\x1b, \\u202e, \\U000e0041."""
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def visible(text: str, *, keep: str = "") -> str:
    """`text` safe to show on a terminal: every control, format (bidi, zero-width) and
    separator character written as its escape (ESC as `\\x1b`, RLO as `\\u202e`), so that
    it can neither drive the terminal nor hide or reorder what is shown. `keep`: the
    characters to leave as they are ("\\n\\t" for a block of script output or code).
    Backslashes are not doubled: `\\x1b` in the data and an escaped ESC look the same.
    Markup is a separate matter: show the result as `rich.text.Text`, never as markup."""
    if not keep:
        return _INVISIBLE.sub(lambda m: escape_char(m.group()), text)
    return _INVISIBLE.sub(lambda m: m.group() if m.group() in keep
                          else escape_char(m.group()), text)


def line_breaker(text: str) -> str | None:
    """The first character of `text` that one printed line can't show as it is (a control,
    a line separator, a bidi control), or None."""
    found = _LINE_BREAKERS.search(text)
    return None if found is None else found.group()


def one_line(text: str) -> str:
    """What statement parsers keep of a text field (a description, a payee, a bank id):
    whitespace collapsed to single spaces (tabs, line breaks, U+0085, U+2028 and U+2029
    are whitespace to `str.split`), and every other character `line_breaker` objects to
    written as its visible escape (`\\x1b`, `\\u202e`): the text passes the proposal rules,
    and shows that the bank file held something odd."""
    text = " ".join(text.split())
    return _LINE_BREAKERS.sub(lambda m: escape_char(m.group()), text)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean Assets:Bank:Checking?)' for a mistyped name, or ''.

    difflib's ratio on the whole name, then on its last component (a typo in the leaf of a
    long account name barely moves the whole-name ratio); at most two suggestions."""
    pool = sorted(set(choices))
    found = difflib.get_close_matches(name, pool, n=2, cutoff=0.75)
    if not found:
        leaf = name.rsplit(":", 1)[-1].casefold()
        by_leaf = {c.rsplit(":", 1)[-1].casefold(): c for c in pool}
        found = [by_leaf[m] for m in difflib.get_close_matches(leaf, list(by_leaf), n=2,
                                                               cutoff=0.8)]
    if not found:
        return ""
    return " (did you mean " + " or ".join(found) + "?)"
