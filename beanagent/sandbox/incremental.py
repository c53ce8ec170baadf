"""The gate's check without re-doing what the server already did.

A full check of the staged copy parses every file and books every transaction again,
although the proposals only added entries. The sandbox server already holds the ledger
parsed and booked (before plugins ran). So the check child takes the server's booked
entries of every file as they are, parses only the blocks the stage inserted (numbered as
in the staged file, so errors point at the proposal), books only those, then runs the
plugins and the validations on the whole, exactly as beancount's loader does.

This equals a full load of the staged copy because the stage only inserts whole entries,
rendered by beancount's printer, between entries of files that parse cleanly (a ledger
with a syntax error is refused at load), the blocks are parsed with the ledger's own
parser options (its root account names, `Aktiva:` for `Assets:`), and where beancount's
order of entries turns on line numbers (entries of two files, or a new one, on the same
day) the reused entries carry the staged file's name and lines, as a full load gives them
(which of two duplicates is reported follows that order). The differential benchmark
(benchmarks/bench_gate_differential.py) compares the two on thousands of generated
shapes. Where the meaning of an inserted entry could depend on its surroundings, or the
server's copy could be stale or changed, the shortcut is not taken and the caller runs
the full check:

- a file changed since the server read it, or a changed file that uses pushtag/pushmeta;
- a plugin not known to leave its input alone (`KNOWN_PURE`): the server's booked entries
  went through the plugins, and one that changes entries in place (check_closing removes
  its `closing:` metadata) leaves them unlike a fresh booking;
- a new posting held at cost, or on an account that holds lots at cost anywhere in the
  ledger: booking reduces lots in date order, so a posting inserted before a later sale or
  purchase changes how that one books (the server booked it without the new posting);
- a `pythonpath` option.

And after a commit the real files are checked again in full (commit.py), so the written
bytes are always parsed whole.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from beanagent.files.placement import uses_context
from beanagent.ledger.load import Balanced, paused_gc, validate
from beanagent.model import LineMap, sha256_bytes

# Imported here, not in the check: its child reads no module after Landlock.
from beanagent.sandbox.local import local_errors

# Plugins (beancount 3's own) that return new entries and never change the ones they are
# given, read from their source: with only these, the server's booked entries are still
# what booking made. The loader's own passes (ops.documents, ops.pad, ops.balance) are
# pure too. check_closing and currency_accounts change entries in place.
KNOWN_PURE = frozenset(f"beancount.plugins.{name}" for name in (
    "auto", "auto_accounts", "check_average_cost", "check_commodity", "check_drained",
    "close_tree", "coherent_cost", "commodity_attr", "implicit_prices", "leafonly",
    "noduplicates", "nounused", "onecommodity", "pedantic", "sellgains", "unique_prices"))

# The options the parser itself reads (grammar.Builder): the blocks are parsed with the
# ledger's values, as the full load parses them.
PARSER_OPTIONS = ("name_assets", "name_liabilities", "name_equity", "name_income",
                  "name_expenses", "long_string_maxlines", "allow_pipe_separator",
                  "booking_method")


class Booked:
    """What the server keeps for incremental checks: booked entries by file, whether the
    plugins leave them as booking made them, and the accounts that hold lots at cost."""

    def __init__(self, booked: list[Any], options: dict[str, Any],
                 entries: list[Any] | None = None, balanced: Balanced | None = None,
                 sha256: Mapping[str, str] | None = None):
        from beancount.core import data

        self.options = options
        # The load's final entries, held so that the ids in `balanced` (each transaction's
        # balance check, ledger/load.validate) name these very objects while we live.
        self.entries = entries
        self.balanced = balanced if entries is not None else None
        self.has_pad = any(type(e) is data.Pad for e in entries or booked)
        self.by_file: dict[str, list[Any]] = {}
        self.at_cost: set[str] = set()
        self.shared: set[tuple[Any, int]] = set()  # (day, kind) found in two files or more
        # For the local check (local.py): transactions by posting account, `balance`
        # directives by account, every open and close.
        self.txns_by_account: dict[str, list[Any]] = {}
        self.balances: dict[str, list[Any]] = {}
        self.opens_closes: list[Any] = []
        # One pass, written for speed.
        files_of: dict[tuple[Any, int], str] = {}
        order, txn, bal = data.SORT_ORDER, data.Transaction, data.Balance
        open_close = (data.Open, data.Close)
        by_file, shared, at_cost = self.by_file, self.shared, self.at_cost
        by_account, balances = self.txns_by_account, self.balances
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for entry in booked:
                meta = entry.meta
                name = meta.get("filename") if meta else None
                if type(name) is str:
                    entries = by_file.get(name)
                    if entries is None:
                        entries = by_file[name] = []
                    entries.append(entry)
                    key = (entry.date, order.get(type(entry), 0))
                    if files_of.setdefault(key, name) != name:
                        shared.add(key)
                kind = type(entry)
                if kind is txn:
                    for account in {p.account for p in entry.postings}:
                        by_account.setdefault(account, []).append(entry)
                    for posting in entry.postings:
                        if posting.cost is not None:
                            at_cost.add(posting.account)
                elif kind is bal:
                    balances.setdefault(entry.account, []).append(entry)
                elif kind in open_close:
                    self.opens_closes.append(entry)
        finally:
            if was_enabled:
                gc.enable()
        self.pure = all(name in KNOWN_PURE for name, _ in options.get("plugin") or ())
        self.last_path = ""  # how the last check went: "local" or "incremental" (tests)
        # The local check's history of the accounts it names (with lots at cost, the
        # entries sorting among it), rebuilt from flat columns (history.py), or None:
        # use the load's own transactions.
        self.history: Callable[[set[str], set[str], list[Any]], list[Any] | None] | None = \
            None
        self.sha256 = dict(sha256) if sha256 is not None else file_digests(options)


def file_digests(options: Mapping[str, Any]) -> dict[str, str]:
    """The sha256 of each file the load read (its `include` option), as they are now."""
    out: dict[str, str] = {}
    for name in options.get("include") or ():
        try:
            out[name] = sha256_bytes(Path(name).read_bytes())
        except OSError:
            continue
    return out


def sort_key(entry: Any) -> tuple[Any, int]:
    """The part of beancount's sort key before the line number: (day, kind)."""
    from beancount.core import data

    return entry.date, data.SORT_ORDER.get(type(entry), 0)


def _renumbered(entry: Any, staged: str, line_map: LineMap) -> Any:
    """The entry (and its postings) named and numbered as in the staged file."""
    def meta_of(meta: Any) -> Any:
        if not meta or not isinstance(meta.get("lineno"), int):
            return meta
        return {**meta, "filename": staged, "lineno": line_map.staged_line(meta["lineno"])}

    postings = getattr(entry, "postings", None)
    if postings is not None:
        return entry._replace(meta=meta_of(entry.meta), postings=[
            p._replace(meta=meta_of(p.meta)) for p in postings])
    return entry._replace(meta=meta_of(entry.meta))


def _in_staged_order(entries: list[Any], staged: str, line_map: LineMap,
                     ties: set[tuple[Any, int]]) -> list[Any]:
    """A changed file's booked entries, where beancount's order could turn on their line
    numbers (the same day and kind as an entry of another file, or a new entry) named and
    numbered as in the staged file, as a full load of it numbers them: which of two
    duplicates is reported, for one, follows that order. Others stay as they are (their
    order against the rest doesn't depend on a line number), so a one-file ledger
    renumbers only the entries on the new entries' days."""
    days = {day for day, _ in ties}
    return [_renumbered(entry, staged, line_map)
            if entry.date in days and sort_key(entry) in ties else entry
            for entry in entries]


CHUNK = 1 << 20  # the staged file is read this much at a time


def _blocks(path: str, runs: list[tuple[int, int]]) -> tuple[list[tuple[int, str]], int] | None:
    """The text of each run [first, last) of the file's lines (split at "\n" as the file
    is numbered), ending with a newline, and how many newlines the file has; None when
    the file uses pushtag or pushmeta, or ends before a run does. Read a chunk at a time,
    keeping only the runs: the check's child would otherwise hold a copy of a large
    ledger in its own memory."""
    out: list[tuple[int, str]] = []
    todo = list(runs)
    line = newlines = 0
    pending: list[bytes] = []  # the current run's lines so far
    carry = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)  # whole lines, but the last
            part, carry = data[:cut], data[cut:]
            if uses_context(part):
                return None
            newlines += part.count(b"\n")
            count = part.count(b"\n") + (0 if not part or part.endswith(b"\n") else 1)
            if todo and todo[0][0] < line + count:  # a run reaches into these lines
                for i, text in enumerate(part.split(b"\n")[:count], start=line):
                    if todo and todo[0][0] <= i < todo[0][1]:
                        pending.append(text + b"\n")
                        if i + 1 == todo[0][1]:
                            out.append((todo[0][0], b"".join(pending).decode("utf-8")))
                            pending, todo = [], todo[1:]
            line += count
            if not chunk:
                return None if todo else (out, newlines)


def _parse_block(block: str, filename: str, firstline: int,
                 options: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """parser.parse_string with the ledger's own parser options (root names ...)."""
    import io

    from beancount.parser import _parser, grammar  # type: ignore[attr-defined]

    builder = grammar.Builder()  # type: ignore[no-untyped-call]
    builder.options.update({k: options[k] for k in PARSER_OPTIONS if k in options})
    builder.account_regexp = grammar.valid_account_regexp(builder.options)  # type: ignore[no-untyped-call]
    _parser.Parser(builder).parse(io.BytesIO(block.encode("utf-8")), filename=filename,
                                  lineno=firstline)
    entries, errors, _ = builder.finalize()  # type: ignore[no-untyped-call]
    return entries, errors


def check(state: Booked, files: Mapping[str, Mapping[str, Any]]) -> list[Any] | None:
    """The errors a full load of the staged copy would give, or None: do the full load.
    `files`: original path -> {"sha256", "staged": path | None, "line_map": [...] | None}."""
    from beancount import loader
    from beancount.core import data
    from beancount.parser import booking

    if set(files) != set(state.sha256) or set(state.by_file) - set(files):
        return None
    if state.options.get("pythonpath"):  # plugins from the user's path: the loader's way
        return None
    if not state.pure:  # a plugin may have changed the booked entries in place
        return None
    entries: list[Any] = []
    new: list[Any] = []
    errors: list[Any] = []
    changed: list[tuple[str, str, LineMap]] = []  # (file, staged copy, line map)
    for name, info in files.items():
        if state.sha256[name] != info.get("sha256"):
            return None
        staged = info.get("staged")
        if staged is None:
            entries.extend(state.by_file.get(name, ()))
            continue
        line_map = LineMap.from_json(info.get("line_map") or {"length": 0, "runs": []})
        found = _blocks(staged, [(first, stop) for first, stop, _ in line_map.runs])
        if found is None or found[1] + 1 < len(line_map):
            return None
        # Each run of inserted lines is parsed on its own, numbered as in the staged file;
        # the original entries are the server's own (same bytes, same parse).
        for first, block in found[0]:
            parsed, parse_errors = _parse_block(block, staged, first + 1, state.options)
            errors.extend(parse_errors)
            new.extend(parsed)
        changed.append((name, staged, line_map))
    local = local_errors(state, new)
    state.last_path = "incremental" if local is None else "local"
    if local is not None:  # what the new entries can change, and only that
        return errors + local
    ties = state.shared | {sort_key(entry) for entry in new}
    for name, staged, line_map in changed:
        entries.extend(_in_staged_order(state.by_file.get(name, []), staged, line_map, ties))
    for entry in new:  # lots: booking them depends on the entries around them
        if isinstance(entry, data.Transaction) and any(
                p.cost is not None or p.account in state.at_cost for p in entry.postings):
            return None
    with paused_gc():
        new.sort(key=data.entry_sortkey)
        booked_new, booking_errors = booking.book(new, state.options)
        errors.extend(booking_errors)
        entries.extend(booked_new)
        entries.sort(key=data.entry_sortkey)
        # The rest is beancount's own loader pipeline (loader._load after booking), with
        # the transactions' own balance checks of the server's load reused (by identity:
        # only these objects, still held by `state`).
        entries, errors = loader.run_transformations(entries, errors,
                                                     _without_pad(state, new), None)
        errors.extend(validate(entries, state.options, state.balanced)[0])
    return errors


def _without_pad(state: Booked, new: list[Any]) -> dict[str, Any]:
    """The options the plugins run with: the ledger's own; when neither the ledger nor the
    new entries have a `pad`, the same plugins in the same order without `ops.pad`, whose
    result is then its input (it inserts entries after pads only), unchanged."""
    from beancount import loader
    from beancount.core import data

    options = state.options
    if state.has_pad or any(type(e) is data.Pad for e in new) \
            or options.get("plugin_processing_mode") != "default":
        return options
    pad = "beancount.ops.pad"
    plugins = [*loader.PLUGINS_PRE, *options["plugin"], *loader.PLUGINS_AUTO,
               *[p for p in loader.PLUGINS_POST if p[0] != pad]]
    return {**options, "plugin_processing_mode": "raw", "plugin": plugins}
