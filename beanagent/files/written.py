"""Proof of a write: the files as written hold exactly what they held plus what was
approved.

After a commit renames the new bytes into place (files/commit.py), the written files are
read back and parsed as beancount parses them, and compared directive by directive with
the files as loaded and the approved entries' texts: each directive as beancount's printer
writes it (no file, no line), as a multiset, and the directives that were there in their
order. An entry written inside a string, one that swallowed a neighbour's posting, one
that picked up a pushed tag, a lost or doubled line: each shows up here, and the commit
puts every file back (exit 3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from beanagent.model import Ledger, LedgerError


def _directives(data: bytes) -> list[str]:
    """What a file's text means, directive by directive, in the order it holds them:
    beancount's parse of it, each entry as the printer writes it (no file, no line)."""
    from beancount.parser import parser, printer

    entries, _, _ = parser.parse_string(data)
    entries.sort(key=lambda e: e.meta.get("lineno") or 0)
    return [printer.format_entry(e) for e in entries]


def _in_order(part: Sequence[str], whole: Sequence[str]) -> bool:
    """`part` is a subsequence of `whole`."""
    rest = iter(whole)
    return all(any(item == other for other in rest) for item in part)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def prove_written(ledger: Ledger, written: Mapping[Path, Path],
                  expected: Sequence[str]) -> list[LedgerError]:
    """The written files, read back and parsed, hold exactly the directives they held
    plus the `expected` ones (the approved entries' texts): none lost, none changed, none
    added that nobody approved, and the ones already there in their order. `written`:
    each changed file as the ledger names it -> the file written on disk. Returns what
    differs (empty: proven)."""
    want: Counter[str] = Counter()
    for text in expected:
        want.update(_directives(text.encode("utf-8")))
    added: Counter[str] = Counter()
    problems = []
    for name, real in sorted(written.items()):
        before = _directives(ledger.files[name].data) if name in ledger.files else []
        after = _directives(real.read_bytes())
        lost = Counter(before) - Counter(after)
        if lost:
            problems.append(LedgerError(str(name), 0, "an entry that was there is gone or "
                                        f"changed: {_first_line(next(iter(lost)))}"))
        elif not _in_order(before, after):
            problems.append(LedgerError(str(name), 0, "the entries that were there are no "
                                        "longer in their order"))
        added.update(Counter(after) - Counter(before))
    if not problems and added != want:
        extra, missing = added - want, want - added
        what = (f"an entry nobody approved: {_first_line(next(iter(extra)))}" if extra else
                f"an approved entry is not there: {_first_line(next(iter(missing)))}")
        problems.append(LedgerError(str(ledger.path), 0, what))
    return problems
