"""Proof of a write: the files as written hold exactly what they held plus what was
approved.

After a commit renames the new bytes into place (files/commit.py), the written files are
read back and parsed as beancount parses them, and compared directive by directive with
the files as loaded and the approved entries' texts: the directives that were there must
all be there, unchanged (every field but the file and line) and in their order, and the
rest must be exactly the approved entries (as beancount's printer writes them). An entry
written inside a string, one that swallowed a neighbour's posting, one that picked up a
pushed tag, a lost or doubled line: each shows up here, and the commit puts every file
back (exit 3).
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from beanagent.model import Ledger, LedgerError

_PLACE = ("filename", "lineno")  # where an entry sits, not what it says


def _parsed(data: bytes) -> list[Any]:
    """beancount's parse of a file's text, its directives in the order the file holds
    them."""
    from beancount.parser import parser

    entries, _, _ = parser.parse_string(data)
    entries.sort(key=lambda e: e.meta.get("lineno") or 0)
    return entries


def _before(ledger: Ledger, name: Path) -> list[Any]:
    """The file's directives as loaded: the run's own parse of those bytes when the
    ledger was only parsed (the workflow's), else a parse of the bytes."""
    if name not in ledger.files:
        return []
    if ledger.complete:  # booked entries differ from parsed ones: parse the bytes again
        return _parsed(ledger.files[name].data)
    entries = [e for e in ledger.entries if e.meta and e.meta.get("filename") == str(name)]
    entries.sort(key=lambda e: e.meta.get("lineno") or 0)
    return entries


def _same_meta(a: Any, b: Any) -> bool:
    a, b = a or {}, b or {}
    return len(a) == len(b) and all(k in _PLACE or (k in b and b[k] == v)
                                    for k, v in a.items())


def _same(a: Any, b: Any) -> bool:
    """The same directive wherever it sits: every field equal, file and line aside."""
    if type(a) is not type(b) or not _same_meta(a.meta, b.meta):
        return False
    postings = getattr(a, "postings", None)
    if postings is None:
        return bool(a[1:] == b[1:])
    return bool(a[1:-1] == b[1:-1]) and len(postings) == len(b.postings) and all(
        p[:5] == q[:5] and _same_meta(p.meta, q.meta)
        for p, q in zip(postings, b.postings, strict=True))


def _text(entry: Any) -> str:
    from beancount.parser import printer

    return printer.format_entry(entry)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def prove_written(ledger: Ledger, written: Mapping[Path, Path],
                  expected: Sequence[str]) -> list[LedgerError]:
    """The written files, read back and parsed, hold exactly the directives they held
    plus the `expected` ones (the approved entries' texts): none lost, none changed, none
    added that nobody approved, and the ones already there in their order. `written`:
    each changed file as the ledger names it -> the file written on disk. Returns what
    differs (empty: proven).

    The directives that were there must appear in the written file in their order (one
    walk down both lists, comparing every field but the file and line); what is left
    over is what was added, which must be, as beancount's printer writes them, exactly
    the approved entries."""
    want: Counter[str] = Counter()
    for text in expected:
        want.update(_text(e) for e in _parsed(text.encode("utf-8")))
    added: Counter[str] = Counter()
    problems = []
    was_enabled = gc.isenabled()
    gc.disable()  # a parse allocates much and frees few cycles (as ledger.load does)
    try:
        for name, real in sorted(written.items()):
            before = _before(ledger, name)
            after = _parsed(real.read_bytes())
            kept = 0
            for entry in after:
                if kept < len(before) and _same(entry, before[kept]):
                    kept += 1
                else:
                    added[_text(entry)] += 1
            if kept < len(before):
                problems.append(LedgerError(str(name), 0, "an entry that was there is gone, "
                                            "changed or out of its place: "
                                            f"{_first_line(_text(before[kept]))}"))
    finally:
        if was_enabled:
            gc.enable()
    if not problems and added != want:
        extra, missing = added - want, want - added
        what = (f"an entry nobody approved: {_first_line(next(iter(extra)))}" if extra else
                f"an approved entry is not there: {_first_line(next(iter(missing)))}")
        problems.append(LedgerError(str(ledger.path), 0, what))
    return problems
