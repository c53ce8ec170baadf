"""The gate's check without re-doing what the server already did.

A full check of the staged copy parses every file and books every transaction again,
although the proposals only added entries. The sandbox server already holds the ledger
parsed and booked (before plugins ran). So the check child takes the server's booked
entries of every file as they are, parses only the blocks the stage inserted (numbered as
in the staged file, so errors point at the proposal), books only those, then runs the
plugins and the validations on the whole, exactly as beancount's loader does.

This equals a full load of the staged copy because the stage only inserts whole entries,
rendered by beancount's printer, between entries of files that parse cleanly (a ledger
with a syntax error is refused at load). Where the meaning of an inserted entry could
depend on its surroundings, or the server's copy could be stale, the shortcut is not taken
and the caller runs the full check: a file changed since the server read it, a changed file
that uses pushtag/pushmeta, a new posting held at cost (booking it needs the lots before
it), a `pythonpath` option. And after a commit the real files are checked again in full
(commit.py), so the written bytes are always parsed whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beanagent.model import sha256_bytes

_CONTEXT = re.compile(rb"^[ \t]*(pushtag|poptag|pushmeta|popmeta)\b", re.MULTILINE)


class Booked:
    """What the server keeps for incremental checks: booked entries by file."""

    def __init__(self, booked: list[Any], options: dict[str, Any]):
        self.options = options
        self.by_file: dict[str, list[Any]] = {}
        for entry in booked:
            name = (entry.meta or {}).get("filename")
            if isinstance(name, str):
                self.by_file.setdefault(name, []).append(entry)
        self.sha256: dict[str, str] = {}
        for name in options.get("include") or ():
            try:
                self.sha256[name] = sha256_bytes(Path(name).read_bytes())
            except OSError:
                continue


def _runs(line_map: list[Any]) -> list[tuple[int, int]]:
    """[first, last) line indexes of each run of lines that belong to proposals."""
    out: list[tuple[int, int]] = []
    start = None
    for i, where in enumerate([*line_map, 0]):
        if isinstance(where, str) and start is None:
            start = i
        elif not isinstance(where, str) and start is not None:
            out.append((start, i))
            start = None
    return out


def check(state: Booked, files: Mapping[str, Mapping[str, Any]]) -> list[Any] | None:
    """The errors a full load of the staged copy would give, or None: do the full load.
    `files`: original path -> {"sha256", "staged": path | None, "line_map": [...] | None}."""
    from beancount import loader
    from beancount.core import data
    from beancount.ops import validation
    from beancount.parser import booking, parser

    if set(files) != set(state.sha256) or set(state.by_file) - set(files):
        return None
    if state.options.get("pythonpath"):  # plugins from the user's path: the loader's way
        return None
    entries: list[Any] = []
    new: list[Any] = []
    errors: list[Any] = []
    for name, info in files.items():
        if state.sha256[name] != info.get("sha256"):
            return None
        staged = info.get("staged")
        if staged is None:
            entries.extend(state.by_file.get(name, ()))
            continue
        line_map = info.get("line_map") or []
        raw = Path(staged).read_bytes()
        if _CONTEXT.search(raw):
            return None
        lines = raw.decode("utf-8").split("\n")
        if len(lines) < len(line_map):
            return None
        # Each run of inserted lines is parsed on its own, numbered as in the staged file;
        # the original entries are the server's own (same bytes, same parse).
        for first, last in _runs(line_map):
            block = "\n".join(lines[first:last]) + "\n"
            parsed, parse_errors, _ = parser.parse_string(
                block, report_filename=staged, report_firstline=first + 1)
            errors.extend(parse_errors)
            new.extend(parsed)
        entries.extend(state.by_file.get(name, ()))
    for entry in new:
        if isinstance(entry, data.Transaction) and any(p.cost is not None
                                                        for p in entry.postings):
            return None
    new.sort(key=data.entry_sortkey)
    booked_new, booking_errors = booking.book(new, state.options)
    errors.extend(booking_errors)
    entries.extend(booked_new)
    entries.sort(key=data.entry_sortkey)
    # The rest is beancount's own loader pipeline (loader._load after booking).
    entries, errors = loader.run_transformations(entries, errors, state.options, None)
    errors.extend(validation.validate(entries, state.options, None, None))
    return errors
