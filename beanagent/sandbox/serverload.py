"""The sandbox server's one load of the ledger (issue 16): from the load cache, where the
host found and authenticated it, or in full; and the copy a forked child pickles for the
cache on a miss. Trusted code in
the server's own process (and its non-script children), before any script runs."""

from __future__ import annotations

import array
import contextlib
import hashlib
import io
import json
import os
import pickle
import sys
from typing import Any, NamedTuple

from beanagent.sandbox.incremental import Booked, file_digests

PAYLOAD_FORMAT = 8  # what the load cache's payload holds (ledger/cache.py)
KEPT = "load.pickle"  # in the server's folder (the host's own temp folder)


class Cached(NamedTuple):
    """A load from the cache, as the server unpickled it (`booked_state`: its check's
    state)."""
    sha256: dict[str, str]
    booked: list[Any]
    entries: list[Any]
    options: dict[str, Any]
    unbalanced: list[tuple[Any, list[Any]]]
    snapshot: tuple[bytes, bytes]


def cached(hit: Any) -> Cached | None:
    """The load the host found in its cache and authenticated, read where it says and
    unpickled only when its bytes have the sha256 the host gave and it was made from the
    files as they are now (with the host's plain data of it, encoded as it was); None:
    load in full."""
    from beanagent.ledger.load import paused_gc

    if not isinstance(hit, dict):
        return None
    try:
        fd = os.open(str(hit["path"]), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            f.seek(int(hit["offset"]))
            data = f.read(int(hit["length"]))
    except (OSError, KeyError, ValueError, TypeError):
        return None
    if hashlib.sha256(data).hexdigest() != hit.get("sha256"):
        return None
    with paused_gc(freeze=True):  # the load, held until the end: never walked by the gc
        load = _unpickled(data)
    del data
    if load is None:
        return None  # an older beanagent's: loaded in full, and kept in its place
    if not (isinstance(load.snapshot, tuple) and len(load.snapshot) == 2
            and all(isinstance(part, bytes) for part in load.snapshot)):
        return None
    if file_digests(load.options) != load.sha256:  # a file changed since the host found it
        return None
    return load


def booked_state(load: Cached) -> Booked:
    """The incremental check's state of a cached load, each transaction's balance check
    by the ids of these objects: none failed but those the payload names (by their place
    among the directives, so the very same objects)."""
    from beancount.core import data as bc

    balanced: dict[int, list[Any]] = {id(e): [] for e in load.entries
                                      if isinstance(e, bc.Transaction)}
    for txn, failed in load.unbalanced:
        balanced[id(txn)] = failed
    return Booked(load.booked, load.options, load.entries, balanced, load.sha256)


def statement_accounts(request: dict[str, Any]) -> set[str]:
    """The accounts of a run request's statements (their records are made before the
    script's child forks)."""
    found = request.get("statements")
    return {s["account"] for s in found if isinstance(s, dict)
            and isinstance(s.get("account"), str)} if isinstance(found, list) else set()


def serving_view(entries: list[Any], options: dict[str, Any], body: bytes,
                 txns: list[Any] | None = None) -> Any:
    """The view scripts get (ledger/view.ServerLedgerView: records from the snapshot's
    plain tuples, BQL on the entries), every account's transactions indexed. `txns`: the
    body's transactions as encode_body kept them (else decoded). `use_history` then
    points the local check at the same tuples."""
    from beanagent.ledger.load import paused_gc
    from beanagent.ledger.snapshot import Snapshot
    from beanagent.ledger.view import ServerLedgerView

    with paused_gc(freeze=True):
        view = ServerLedgerView(Snapshot.decode(body, txns=txns), entries, options)
        view.index_accounts()
    return view


def history_of(view: Any) -> Any:
    """Flat per-account columns of the view's plain tuples (sandbox/history.py), made
    before any child exists."""
    from beanagent.ledger.load import paused_gc
    from beanagent.sandbox import history

    with paused_gc(freeze=True):
        return history.History(view.transactions_raw_all())


def use_history(state: Booked, columns: Any) -> None:
    """The local check rebuilds the history it needs from `columns` (history_of)."""
    import functools

    from beanagent.sandbox import history

    state.history = functools.partial(history.merged_history, columns)


def import_check_modules(options: dict[str, Any]) -> None:
    """What a full load imports and the gate's check runs (the loader, booking, the ops,
    the ledger's plugins), imported here when the load came from the cache: else every
    check child would import them itself, after fork, each time."""
    import importlib

    from beancount import loader
    from beancount.ops import balance, documents, pad, validation  # noqa: F401
    from beancount.parser import booking, grammar  # noqa: F401

    saved = list(sys.path)
    try:
        sys.path[0:0] = options.get("pythonpath") or []
        for name, _ in [*loader.PLUGINS_PRE, *(options.get("plugin") or []),
                        *loader.PLUGINS_AUTO, *loader.PLUGINS_POST]:
            with contextlib.suppress(Exception):  # the check reports what can't load
                importlib.import_module(name)
    finally:
        sys.path[:] = saved


def unbalanced(state: Booked) -> list[tuple[Any, list[Any]]]:
    """The transactions whose own balance check failed, with its errors."""
    if state.entries is None or state.balanced is None:
        return []
    return [(e, state.balanced[id(e)]) for e in state.entries
            if state.balanced.get(id(e))]


class _Pickler(pickle.Pickler):
    """beancount's directives are named tuples, which pickle rebuilds by calling their
    class's `__new__`, written in Python: a third of unpickling a ledger. Pickled here as
    `tuple.__new__(cls, fields)` (the same object, made in C) when the tuple has no state
    of its own."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if isinstance(obj, tuple) and kind is not tuple and hasattr(kind, "_fields") \
                and not hasattr(obj, "__dict__"):
            return tuple.__new__, (kind, tuple(obj))
        return NotImplemented


# Directives per pickle in the payload. One pickle of the whole load holds, in its memo,
# every temporary it made (a fields tuple per directive, posting and amount: +68 MiB for a
# 13k-transaction ledger, in the child that keeps it); a pickle per thousand directives
# holds a thousand's (+7 MiB) and unpickles as fast. Objects shared across pickles (an
# account's name, a file's) come back as equal copies; what must stay one object (a
# directive that is both booked and final, a transaction whose balance check failed) is
# named by its place in the list of directives.
CHUNK = 1000


class _Hashing:
    """The file the payload is pickled into, and its sha256 and size as it is written."""

    def __init__(self, f: Any) -> None:
        self.f, self.sha256, self.size = f, hashlib.sha256(), 0

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return int(self.f.write(data))


def _pickle(out: Any, sha256: dict[str, str], booked: list[Any], entries: list[Any],
            options: dict[str, Any], unbalanced: list[tuple[Any, list[Any]]],
            snapshot: tuple[bytes, bytes]) -> None:
    """The payload: a head, then the directives (the final ones, then those only booking
    has) CHUNK at a time, each pickle with a memo of its own."""
    place = {id(entry): i for i, entry in enumerate(entries)}
    directives = list(entries)
    booked_at = array.array("q")
    for entry in booked:
        at = place.get(id(entry))
        if at is None:
            at = place[id(entry)] = len(directives)
            directives.append(entry)
        booked_at.append(at)
    failed = [(place[id(txn)], errors) for txn, errors in unbalanced]
    pickler = _Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dump((PAYLOAD_FORMAT, dict(sha256), options, snapshot, len(entries),
                  len(directives), booked_at, failed))
    for start in range(0, len(directives), CHUNK):
        pickler.clear_memo()
        pickler.dump(directives[start:start + CHUNK])


def _unpickled(data: bytes) -> Cached | None:
    """The payload _pickle wrote; None: another format's."""
    stream = io.BytesIO(data)
    head = pickle.Unpickler(stream).load()
    if not isinstance(head, tuple) or len(head) != 8 or head[0] != PAYLOAD_FORMAT:
        return None
    _, sha256, options, snapshot, final, count, booked_at, failed = head
    directives: list[Any] = []
    while len(directives) < count:  # each pickle with a memo of its own: a fresh reader
        directives.extend(pickle.Unpickler(stream).load())
    return Cached(sha256, [directives[i] for i in booked_at], directives[:final], options,
                  [(directives[i], errors) for i, errors in failed], snapshot)


def keep(sha256: dict[str, str], booked: list[Any], entries: list[Any],
         options: dict[str, Any], unbalanced: list[tuple[Any, list[Any]]],
         snapshot: tuple[bytes, bytes]) -> tuple[int, int]:
    """Fork a child that pickles the load into KEPT and says its sha256 and size on a
    pipe (the host checks the file against them before it authenticates it)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            fd = os.open(KEPT, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as f:
                out = _Hashing(f)
                _pickle(out, sha256, booked, entries, options, unbalanced, snapshot)
            os.write(write, json.dumps({"sha256": out.sha256.hexdigest(),
                                        "bytes": out.size}).encode())
            code = 0
        except BaseException:  # a load that can't be pickled is not cached
            pass
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


def kept(keeper: tuple[int, int] | None) -> dict[str, Any]:
    """What the keeper made: its file, sha256 and size, once it is done."""
    if keeper is None:
        return {"status": "none"}
    pid, read = keeper
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    try:
        said = json.loads(b"".join(chunks))
    except ValueError:
        return {"status": "none"}
    return {"status": "ok", "path": os.path.abspath(KEPT), **said}
