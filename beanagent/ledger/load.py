"""Load the user's ledger: entries, the errors it already has, and the bytes of every file.

The bytes and their sha256 are kept so that staging copies exactly what was loaded and the
commit can refuse when a file moved underneath us.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import glob
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beanagent.errors import BadInputError
from beanagent.model import Ledger, LedgerError, LedgerFile, sha256_bytes

if TYPE_CHECKING:
    from beanagent.ledger.snapshot import Snapshot

# Set before beancount's loader module is imported anywhere in this process: the loader
# reads it at import time, and a planted `.picklecache` must never be unpickled.
os.environ["BEANCOUNT_DISABLE_LOAD_CACHE"] = "1"


@contextlib.contextmanager
def paused_gc(freeze: bool = False) -> Iterator[None]:
    """A load allocates millions of objects and frees few cycles; the collector's passes
    over them are ~25% of a load's time for nothing. Paused for the load only. `freeze`:
    what was allocated meanwhile is kept for good (gc.freeze) before the collector runs
    again, else its first passes walk all of it once per generation (0.1 s each on a
    13k-transaction load)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if freeze:
                gc.freeze()
            gc.enable()


def load_entries(path: Path) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """Run beancount's full loader (parse, book, plugins, validate) without any cache.

    `loader.load_file` either unpickles a cache file next to the ledger (unsafe: a planted
    cache runs code) or, with the cache disabled, deletes that file (a write in the user's
    folder). `_load` is the uncached pipeline both wrap, so we call it directly.
    """
    from beancount import loader

    with paused_gc():
        return loader._load([(str(path), True)], None, None, None)


def error_location(err: Any) -> tuple[str, int]:
    source = getattr(err, "source", None) or {}
    return str(source.get("filename") or "?"), int(source.get("lineno") or 0)


def to_ledger_errors(errors: Iterable[Any]) -> list[LedgerError]:
    out = []
    for err in errors:
        file, line = error_location(err)
        lines = [ln.strip() for ln in str(err.message).strip().splitlines() if ln.strip()]
        # Plugin errors carry a whole traceback: keep its first and last lines.
        message = lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"
        out.append(LedgerError(file, line, message))
    return out



def _require_readable(path: Path, display: str) -> None:
    if not path.exists():
        raise BadInputError("ledger file not found", file=display)
    if not path.is_file():
        raise BadInputError("ledger path is not a file", file=display)
    try:
        with path.open("rb") as f:
            head = f.read(65536)
            cut = bool(f.read(1))
    except OSError as exc:
        raise BadInputError(f"cannot read ledger: {exc.strerror}", file=display) from None
    if b"\x00" in head:
        raise BadInputError("this is not a Beancount ledger (binary data)", file=display)
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not (cut and exc.start >= len(head) - 4):  # not a character cut at 64 KiB
            line = head[: exc.start].count(b"\n") + 1
            raise BadInputError(
                "ledger is not valid UTF-8 (Beancount files must be UTF-8)",
                file=display,
                line=line,
            ) from None


def _read_files(names: list[str], main: Path, loaded: Mapping[str, str] | None = None,
                ahead: Mapping[Path, LedgerFile] | None = None) -> dict[Path, LedgerFile]:
    """Every file's bytes; one read ahead (`read_ahead`) is taken when it holds the bytes a
    load read (`loaded`: path -> sha256)."""
    files: dict[Path, LedgerFile] = {}
    for name in names or [str(main)]:
        fpath = Path(name)
        early = (ahead or {}).get(fpath)
        if early is not None and loaded is not None and loaded.get(name) == early.sha256:
            files[fpath] = early
            continue
        try:
            raw = fpath.read_bytes()
        except OSError as exc:
            raise BadInputError(f"cannot read included file: {exc.strerror}", file=name) from None
        files[fpath] = LedgerFile(fpath, raw, sha256_bytes(raw))
    return files


def read_ahead(path: Path, display: str | None = None) -> dict[Path, LedgerFile]:
    """check_before_load, keeping the ledger's files as it read them (the main file and
    what it includes; one read each), while the sandbox server loads them:
    `from_snapshot` takes each one whose bytes are the ones the server loaded."""
    display = display or str(path)
    _require_readable(path, display)
    contents: dict[Path, bytes] = {}
    require_plain_includes(path.resolve(), display, contents)
    return {name: LedgerFile(name, raw, sha256_bytes(raw)) for name, raw in contents.items()}


def _require_entries(count: int, errors: list[LedgerError], display: str) -> None:
    if not count:
        first = f"; first error: {errors[0]}" if errors else ""
        raise BadInputError(f"no Beancount directives found{first}", file=display)


# Errors that mean part of a file was not read: entries after them may be lost or
# swallowed, and text inserted after them may be too. Other errors (a failing balance,
# an unknown option) leave the file's structure intact and only warn.
_UNPARSABLE = ("LexerError", "ParserSyntaxError")


def _refuse_unparsable(raw: list[Any], errors: list[LedgerError], main: Path,
                       display: str) -> None:
    for err, located in zip(raw, errors, strict=True):
        if type(err).__name__ in _UNPARSABLE:
            _refuse_unparsable_one(located, main, display)


def _refuse_unparsable_one(located: LedgerError, main: Path, display: str) -> None:
    where = display if Path(located.file) == main else located.file
    with contextlib.suppress(ValueError):
        where = os.path.relpath(located.file) if where != display else where
    raise BadInputError(f"the ledger does not parse here: {located.message}; fix it "
                        "(bean-check lists every error) and run again",
                        file=where, line=located.line or None)


# An include directive, at the start of a line as beancount requires.
_INCLUDE = re.compile(rb'^include[ \t]+"((?:[^"\\\n]|\\.)*)"', re.MULTILINE)


def _includes(data: bytes) -> Iterator[re.Match[bytes]]:
    """_INCLUDE's matches: each `include` found with bytes.find (a regex anchored at line
    starts tries every position of a large ledger: 0.03 s on 4 MiB, this 1 ms)."""
    at = data.find(b"include")
    while at >= 0:
        if at == 0 or data[at - 1] == 0x0A:
            found = _INCLUDE.match(data, at)
            if found is not None:
                yield found
        at = data.find(b"include", at + 7)


def _shown(file: Path, main: Path, display: str) -> str:
    if file == main:
        return display
    with contextlib.suppress(ValueError):
        return os.path.relpath(file)
    return str(file)


def require_plain_includes(main: Path, display: str | None = None,
                           contents: dict[Path, bytes] | None = None) -> list[Path]:
    """Every file the ledger includes (globs expanded as beancount does) is a regular
    file: beancount's parser crashes on a folder (`include "somedir"`) and blocks for ever
    on a FIFO or /dev/zero (a symlink in a shared folder matched by a glob). Refused with
    one line naming the include (file and line). Reads the directives only: cheap.
    Returns the files found (the main one first), as the load cache's key names them;
    `contents` receives each one's bytes as read."""
    display = display or str(main)
    seen: dict[Path, None] = {}
    todo = [main]
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen[file] = None
        try:
            if not stat.S_ISREG(os.stat(file).st_mode):
                continue  # the main file: _require_readable says it
            data = file.read_bytes()
        except OSError:
            continue  # beancount reports what it can't read
        if contents is not None:
            contents[file] = data
        for found in _includes(data):
            name = found.group(1).decode("utf-8", "replace")
            pattern = name if os.path.isabs(name) else os.path.join(file.parent, name)
            for match in sorted(glob.glob(pattern, recursive=True)):
                try:
                    mode = os.stat(match).st_mode
                except OSError:
                    continue  # a dangling link: beancount says it does not exist
                if stat.S_ISREG(mode):
                    todo.append(Path(os.path.normpath(match)))
                    continue
                what = "a folder" if stat.S_ISDIR(mode) else \
                    "not a regular file (a FIFO, device or socket)"
                shown = "" if os.path.normpath(match) == os.path.normpath(pattern) \
                    else f" ({match})"
                hint = f"; include the files in it, like \"{name.rstrip('/')}/*.beancount\"" \
                    if stat.S_ISDIR(mode) else ""
                raise BadInputError(f"include \"{name}\" names {what}{shown}, which can't be "
                                    f"read as a ledger file{hint}",
                                    file=_shown(file, main, display),
                                    line=data.count(b"\n", 0, found.start()) + 1)
    return list(seen)


def _parse_files(path: Path, display: str) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """beancount's parse of the whole ledger (includes followed), after
    require_plain_includes; an include that still can't be read (it changed meanwhile) is
    one line, never a traceback."""
    from beancount import loader

    require_plain_includes(path, display)
    try:
        with paused_gc():
            return loader._parse_recursive([(str(path), True)], None, None)
    except OSError as exc:
        raise BadInputError(f"cannot read an included file: {exc.strerror}",
                            file=str(exc.filename or path)) from None


def ledger_file_names(main: Path) -> list[Path]:
    """The files the ledger reads (the main file and every include), as beancount names
    them, by parsing only: no plugin runs, nothing is booked. What an undo record may
    name (files/confine.py)."""
    _, _, options = _parse_files(main, str(main))
    return [Path(name) for name in options.get("include") or [str(main)]]


def parse_ledger(path: Path, display: str | None = None) -> Ledger:
    """Parse only (no booking, plugins or validation): enough to know the accounts, the
    files and where entries sit, in a fraction of a full load. `complete()` finishes it."""
    from beancount.core import data

    display = display or str(path)
    path = path.resolve()
    _require_readable(path, display)
    entries, errors, options = _parse_files(path, display)
    with paused_gc():
        entries.sort(key=data.entry_sortkey)
    parse_errors = to_ledger_errors(errors)
    _require_entries(len(entries), parse_errors, display)
    _refuse_unparsable(errors, parse_errors, path, display)
    return Ledger(path, entries, parse_errors, options,
                  _read_files(options.get("include") or [], path), complete=False)


def _require_loaded(files: dict[Path, LedgerFile], loaded: Mapping[str, str]) -> None:
    """Every file's bytes as read now are the ones a load read (`loaded`: path -> sha256)."""
    from beanagent.errors import LedgerChangedError

    for path, info in files.items():
        if loaded.get(str(path)) != info.sha256:
            raise LedgerChangedError("file changed on disk while it was being loaded; run "
                                     "again", file=str(path))


def complete(ledger: Ledger) -> Ledger:
    """The full load (what bean-check does) of a parsed ledger: booked entries and every
    error. Refuses when a file changed since it was parsed. (A run does not use this: its
    one full load is the sandbox server's, ledger/snapshot.py.)"""
    entries, errors, options = load_entries(ledger.path)
    _require_loaded(_read_files(options.get("include") or [], ledger.path),
                    {str(p): f.sha256 for p, f in ledger.files.items()})
    return Ledger(ledger.path, entries, to_ledger_errors(errors), options, ledger.files,
                  complete=True)


def load_ledger(path: Path, display: str | None = None) -> Ledger:
    """The full load in one step. Raises BadInputError when it can't be a ledger at all;
    a ledger that merely has bean-check errors loads, with `errors` set."""
    display = display or str(path)
    path = path.resolve()
    _require_readable(path, display)
    require_plain_includes(path, display)
    entries, errors, options = load_entries(path)
    ledger_errors = to_ledger_errors(errors)
    _require_entries(len(entries), ledger_errors, display)
    return Ledger(path, entries, ledger_errors, options,
                  _read_files(options.get("include") or [], path), complete=True)



def check_before_load(path: Path, display: str | None = None) -> None:
    """What is refused before any load starts, in a few milliseconds: a main file that
    can't be a ledger, an include that is not a regular file (a FIFO would hang the load)."""
    display = display or str(path)
    _require_readable(path, display)
    require_plain_includes(path.resolve(), display)


def from_snapshot(path: Path, snapshot: Snapshot, display: str | None = None,
                  ahead: Mapping[Path, LedgerFile] | None = None) -> Ledger:
    """The ledger the sandbox server loaded, as the host holds it: the errors and options
    of that load, and every file's bytes as the host read them (`ahead`, while the server
    loaded) or reads them now, refused when they are not the bytes the server loaded (a
    file changed meanwhile)."""
    display = display or str(path)
    path = path.resolve()
    _require_readable(path, display)
    files = _read_files(list(snapshot.options.get("include") or []), path, snapshot.sha256,
                        ahead)
    _require_loaded(files, snapshot.sha256)
    errors = list(snapshot.errors)
    _require_entries(snapshot.entries, errors, display)
    for kind, located in zip(snapshot.error_kinds, errors, strict=True):
        if kind in _UNPARSABLE:
            _refuse_unparsable_one(located, path, display)
    return Ledger(path, [], errors, dict(snapshot.options), files, complete=True,
                  plain=snapshot)


# A transaction's own balance check (residual within tolerance) depends on nothing but the
# transaction and the options: its result is kept per transaction object, by identity.
Balanced = dict[int, list[Any]]


def validate(entries: list[Any], options: dict[str, Any],
             known: Balanced | None = None) -> tuple[list[Any], Balanced]:
    """beancount's `validation.validate` (the same functions, in order, the same errors in
    the same order), and each transaction's result of the balance check, by `id`. The
    check (a third of validating) runs only on transactions `known` lacks: the sandbox's
    gate check reuses the server's load's results for the very objects it still holds."""
    from beancount.core import data
    from beancount.ops import validation

    known = known or {}
    results: Balanced = {}
    errors: list[Any] = []
    for function in validation.VALIDATIONS:
        if function is not validation.validate_check_transaction_balances:
            errors.extend(function(entries, options))  # type: ignore[no-untyped-call]
            continue
        for entry in entries:
            if isinstance(entry, data.Transaction):
                found = known.get(id(entry))
                if found is None:
                    found = function([entry], options)  # type: ignore[no-untyped-call]
                results[id(entry)] = found
                errors.extend(found)
    return errors, results


@dataclasses.dataclass
class FullLoad:
    """beancount's full load, with what the gate's incremental check reuses of it: the
    entries as booked before the plugins ran, and each transaction's balance check."""

    booked: list[Any]
    entries: list[Any]
    errors: list[Any]
    options: dict[str, Any]
    balanced: Balanced


def load_booked(path: Path) -> FullLoad:
    """`load_in_full` up to, not including, validation: `errors` are those of parsing,
    booking and the plugins, `balanced` is empty. `validated` finishes it."""
    import sys

    from beancount import loader
    from beancount.core import data
    from beancount.parser import booking

    with paused_gc():
        entries, errors, options = loader._parse_recursive([(str(path), True)], None, None)
        entries.sort(key=data.entry_sortkey)
        booked, booking_errors = booking.book(entries, options)
        errors.extend(booking_errors)
        saved = list(sys.path)
        try:
            if "pythonpath" in options:
                sys.path[0:0] = options["pythonpath"]
            final, errors = loader.run_transformations(list(booked), errors, options, None)
        finally:
            sys.path[:] = saved
    return FullLoad(booked, final, errors, options, {})


def validated(load: FullLoad) -> FullLoad:
    """The load with beancount's validation done: its errors added, `balanced` set."""
    with paused_gc():
        found, balanced = validate(load.entries, load.options)
    return dataclasses.replace(load, errors=load.errors + found, balanced=balanced)


def load_in_full(path: Path) -> FullLoad:
    """beancount's full load (`loader._load`: parse, sort, book, plugins with the ledger's
    `pythonpath`, validate), keeping the booked entries as they were before the plugins
    ran and each transaction's balance check (sandbox/incremental.py reuses both). The one
    full load of a run: the sandbox server's (ledger/snapshot.py gives the host its plain
    data)."""
    return validated(load_booked(path))
