"""The gate's check without re-doing what the server already did.

A full check of the staged copy parses every file and books every transaction again,
although the proposals only added entries to one or two files. The sandbox server already
holds the ledger parsed and booked (before plugins ran). So the check child:

- takes the booked entries of every file the proposals didn't touch, as they are;
- parses each changed file for real (the bytes that would be written are what is checked)
  and, through the stage's line map, swaps every entry that came from an original line for
  the booked entry the server made from that very line;
- books only the new entries, then runs the plugins and the validations on the whole,
  exactly as beancount's loader does.

Whenever that shortcut could differ from a full load, it is not taken and the caller runs
the full check: a file changed since the server read it, a changed file that uses
pushtag/pushmeta (the new entries' meaning would depend on where they sit), a new posting
held at cost (booking it needs the lots before it), or an entry that can't be paired.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_CONTEXT = re.compile(rb"^[ \t]*(pushtag|poptag|pushmeta|popmeta)\b", re.MULTILINE)


class Booked:
    """What the server keeps for incremental checks: booked entries by file and line."""

    def __init__(self, booked: list[Any], options: dict[str, Any]):
        self.options = options
        self.by_file: dict[str, list[Any]] = {}
        self.by_line: dict[tuple[str, int], Any] = {}
        for entry in booked:
            meta = entry.meta or {}
            name, line = meta.get("filename"), meta.get("lineno")
            if not isinstance(name, str) or not isinstance(line, int):
                continue
            self.by_file.setdefault(name, []).append(entry)
            # Two entries from one line can't be told apart by the line map: no shortcut.
            self.by_line[(name, line)] = None if (name, line) in self.by_line else entry
        self.sha256: dict[str, str] = {}
        for name in options.get("include") or ():
            try:
                self.sha256[name] = hashlib.sha256(Path(name).read_bytes()).hexdigest()
            except OSError:
                continue


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
        if _CONTEXT.search(Path(staged).read_bytes()):
            return None
        parsed, parse_errors, _ = parser.parse_file(staged)
        errors.extend(parse_errors)
        reused = 0
        for entry in parsed:
            lineno = entry.meta.get("lineno", 0)
            where = line_map[lineno - 1] if 0 < lineno <= len(line_map) else None
            if isinstance(where, str):
                new.append(entry)
                continue
            booked = state.by_line.get((name, where)) if isinstance(where, int) else None
            if booked is None or type(booked) is not type(entry):
                return None
            entries.append(booked)
            reused += 1
        if reused != len(state.by_file.get(name, ())):
            return None
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
