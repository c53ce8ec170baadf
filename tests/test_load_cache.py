"""The load cache (ledger/cache.py): a repeat run is served from it, a changed file is a
miss, and a planted, corrupted or linked cache file is ignored with one warning before
anything in it is unpickled. Real ledgers (the bean-example sample, with includes) through
the real CLI; the cache and state folders are the test's own, through the environment."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from beanagent.ledger.cache import _HEAD, FORMAT, MAGIC, LoadCache, load_key
from beanagent.ledger.load import complete, parse_ledger
from beanagent.ledger.snapshot import Snapshot
from tests.helpers import run_cli_in_process

LEDGERS = Path(__file__).resolve().parents[1] / "ledgers"
STATEMENT = "inbox/bofa-checking-2025-11.csv"
WARNING = "load cache not used"


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """The sample ledger split over includes: main.beancount includes the bean-example
    ledger and a file of its own."""
    root = tmp_path / "books"
    root.mkdir()
    shutil.copy(LEDGERS / "sample.beancount", root / "sample.beancount")
    shutil.copy(LEDGERS / "beanagent.toml", root / "beanagent.toml")
    shutil.copytree(LEDGERS / "inbox", root / "inbox")
    (root / "more.beancount").write_text(
        '2025-11-30 * "Corner shop" "Coffee"\n'
        "  Assets:US:BofA:Checking  -3.50 USD\n"
        "  Expenses:Food:Coffee\n")
    (root / "main.beancount").write_text('include "sample.beancount"\n'
                                         'include "more.beancount"\n')
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"BEANAGENT_CACHE_DIR": str(tmp_path / "cache" / "beanagent"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "BEANAGENT_AUDIT_LOG": str(tmp_path / "audit.jsonl")}


def _run(books: Path, env: dict[str, str], *flags: str) -> tuple[dict[str, Any], str]:
    proc = run_cli_in_process("reconcile", "main.beancount", STATEMENT, "--dry-run", "--json",
                              *flags, cwd=books, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def _audit(env: dict[str, str]) -> list[str]:
    lines = Path(env["BEANAGENT_AUDIT_LOG"]).read_text().splitlines()
    return [json.loads(line)["cache"] for line in lines]


def _timeless(report: Any) -> Any:
    """The report without its timings (the only fields a cached run may change)."""
    if isinstance(report, dict):
        return {k: _timeless(v) for k, v in report.items() if not k.endswith("seconds")}
    if isinstance(report, list):
        return [_timeless(v) for v in report]
    return report


def _cache_files(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["BEANAGENT_CACHE_DIR"]).glob("*.load"))


def test_second_run_is_served_from_the_cache_with_the_same_report(books: Path,
                                                                  env: dict[str, str]) -> None:
    cold, _ = _run(books, env, "--no-cache")
    first, _ = _run(books, env)
    second, err = _run(books, env)
    assert _audit(env) == ["off", "miss", "hit"]
    assert WARNING not in err
    assert _timeless(second) == _timeless(first) == _timeless(cold)
    assert second["proposals"]  # the run found something: the comparison means something


def _sandbox_load(path: Path, cache: LoadCache | None) -> tuple[Snapshot, str]:
    """The server's load as the host gets it, and what a script sees of it there."""
    from beanagent.sandbox.runner import Sandbox

    script = ("rows = [(t.date, t.payee, t.narration, [(p.account, p.amount, p.currency) "
              "for p in t.postings]) for t in ledger.transactions()]\n"
              "text = repr(rows)\n"
              "print(len(rows), sum(ord(c) * (i % 9973) for i, c in enumerate(text)))\n"
              "print(rows[0], rows[-1], sorted(ledger.accounts))\n"
              "print(ledger.query('SELECT count(*) AS n'))")
    with Sandbox(path.resolve(), allow_weak=True, cache=cache) as box:
        snapshot = box.snapshot()
        step = box.run(script, [])
        assert step.ok, step.error
    return snapshot, step.output


def test_cached_load_equals_a_fresh_one(books: Path, env: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    main = books / "main.beancount"
    fresh = _sandbox_load(main, None)
    cache = LoadCache()
    assert _sandbox_load(main, cache) == fresh
    assert cache.state == "miss" and len(_cache_files(env)) == 1  # kept as the run ended
    again = LoadCache()
    assert _sandbox_load(main, again) == fresh
    assert again.state == "hit"


def test_the_server_unpickles_only_the_bytes_the_host_vouched_for(
        books: Path, tmp_path: Path) -> None:
    """The server never sees the MAC key: the host tells it where the authenticated
    payload lies and its sha256. Bytes that differ (a file swapped after the host read it)
    are never unpickled: the server loads in full."""
    import hashlib
    import subprocess
    import sys

    from beanagent.sandbox.runner import SAFE_ENV

    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Trap(marker))
    trap = tmp_path / "swapped.load"
    trap.write_bytes(payload)
    vouched = hashlib.sha256(b"the bytes the host authenticated").hexdigest()
    proc = subprocess.Popen([sys.executable, "-I", "-m", "beanagent.sandbox.server",
                             str(books / "main.beancount"), ""], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=SAFE_ENV, cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"load": {"path": str(trap), "offset": 0,
                                          "length": len(payload), "sha256": vouched},
                                 "keep": False}).encode() + b"\n")
    proc.stdin.flush()
    ready = json.loads(proc.stdout.readline())
    proc.kill()
    proc.wait()
    assert ready["ready"] is True and ready["cached"] is False
    assert not marker.exists()


def test_a_kept_load_swapped_before_the_host_reads_it_is_not_cached(
        books: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from beanagent.sandbox.runner import Sandbox

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cache = LoadCache()
    box = Sandbox((books / "main.beancount").resolve(), allow_weak=True, cache=cache)
    with box:
        box.snapshot()
        box._send({"op": "kept"})
        reply = box._read_reply(60)
        assert reply["status"] == "ok"
        kept = Path(str(reply["path"]))
        data = bytearray(kept.read_bytes())
        data[len(data) // 2] ^= 1  # one bit changed
        kept.write_bytes(data)
        box.store_kept(reply)
        assert _cache_files(env) == []
        box._keeping = False
    assert _cache_files(env) == []


def test_a_changed_include_is_a_miss_and_replaces_the_old_file(books: Path,
                                                               env: dict[str, str]) -> None:
    _run(books, env)
    before = _cache_files(env)
    more = books / "more.beancount"
    mtime = more.stat().st_mtime_ns
    more.write_text(more.read_text().replace("-3.50 USD", "-4.50 USD"))
    os.utime(more, ns=(mtime, mtime))  # same mtime: the key is the bytes
    _run(books, env)
    _run(books, env)
    assert _audit(env) == ["miss", "miss", "hit"]
    after = _cache_files(env)
    assert len(before) == len(after) == 1 and before != after
    cached = complete(parse_ledger(books / "main.beancount"))
    assert any(getattr(e, "narration", None) == "Coffee"
               and str(e.postings[0].units) == "-4.50 USD" for e in cached.entries)


def _plant(books: Path, env: dict[str, str], payload: bytes, mac: bytes = b"\0" * 32) -> Path:
    """A file with the layout of a cache file for this ledger, under its name."""
    import hashlib

    from beanagent.ledger.load import require_plain_includes

    main = (books / "main.beancount").resolve()
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in require_plain_includes(main)}
    digest = hashlib.sha256(load_key(main, files)).digest()
    old = dict(os.environ)
    os.environ.update(env)
    try:
        name = LoadCache()._name(main, digest)[0]
    finally:
        os.environ.clear()
        os.environ.update(old)
    folder = Path(env["BEANAGENT_CACHE_DIR"])
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    meta = b"{}"
    path.write_bytes(_HEAD.pack(MAGIC, FORMAT, digest, len(meta), len(payload)) + mac + meta
                     + payload)
    path.chmod(0o600)
    return path


class _Trap:
    """Unpickling this creates a folder: proof that a payload was (or was not) loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_a_planted_cache_file_is_ignored_with_one_warning_and_never_unpickled(
        books: Path, env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Trap(marker))
    pickle.loads(payload)  # the trap works
    assert marker.is_dir()
    marker.rmdir()
    planted = _plant(books, env, payload)
    report, err = _run(books, env)
    assert not marker.exists()
    assert err.count(WARNING) == 1 and "authentication" in err
    assert _audit(env) == ["rejected"]
    assert planted.read_bytes()[-len(payload):] != payload  # replaced by a real load
    _run(books, env)
    assert _audit(env) == ["rejected", "hit"]
    assert report["proposals"]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other version"])
def test_a_damaged_cache_file_is_ignored_with_one_warning(books: Path, env: dict[str, str],
                                                          damage: str) -> None:
    first, _ = _run(books, env)
    [path] = _cache_files(env)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)),
                      "empty": b"",
                      "other version": data[:8] + (FORMAT + 1).to_bytes(4, "big") + data[12:],
                      }[damage])
    report, err = _run(books, env)
    assert err.count(WARNING) == 1
    assert _timeless(report) == _timeless(first)
    _run(books, env)
    assert _audit(env) == ["miss", "rejected", "hit"]


def test_a_symlinked_cache_file_is_refused_and_its_target_untouched(
        books: Path, env: dict[str, str], tmp_path: Path) -> None:
    _run(books, env)
    [path] = _cache_files(env)
    target = tmp_path / "elsewhere.load"
    target.write_bytes(path.read_bytes())
    target.chmod(0o600)
    path.unlink()
    path.symlink_to(target)
    _, err = _run(books, env)
    assert err.count(WARNING) == 1 and "symbolic link" in err
    assert target.read_bytes()[:8] == MAGIC and not path.is_symlink()
    assert _audit(env) == ["miss", "rejected"]


def test_a_symlinked_or_shared_cache_folder_is_refused(books: Path, env: dict[str, str],
                                                       tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    folder = Path(env["BEANAGENT_CACHE_DIR"])
    folder.parent.mkdir(parents=True)
    folder.symlink_to(real)
    _, err = _run(books, env)
    assert err.count(WARNING) == 1 and "symbolic link" in err
    assert list(real.iterdir()) == []
    folder.unlink()
    folder.mkdir()
    folder.chmod(0o755)
    _, err = _run(books, env)
    assert err.count(WARNING) == 1 and "open to other users" in err
    assert list(folder.iterdir()) == []
    assert _audit(env) == ["rejected", "rejected"]


@pytest.mark.parametrize("bad", ["symlink", "mode 0644", "short"])
def test_a_bad_key_file_is_refused(books: Path, env: dict[str, str], tmp_path: Path,
                                   bad: str) -> None:
    _run(books, env)
    key = Path(env["XDG_STATE_HOME"]) / "beanagent" / "cache.key"
    if bad == "symlink":
        other = tmp_path / "other.key"
        other.write_bytes(key.read_bytes())
        other.chmod(0o600)
        key.unlink()
        key.symlink_to(other)
    elif bad == "mode 0644":
        key.chmod(0o644)
    else:
        key.write_bytes(b"short")
    report, err = _run(books, env)
    assert err.count(WARNING) == 1 and "cache key" in err
    assert _audit(env) == ["miss", "rejected"]
    assert report["proposals"]


def test_no_cache_flag_and_config_turn_it_off(books: Path, env: dict[str, str]) -> None:
    _run(books, env, "--no-cache")
    assert not Path(env["BEANAGENT_CACHE_DIR"]).exists()
    assert not (Path(env["XDG_STATE_HOME"]) / "beanagent" / "cache.key").exists()
    toml = books / "beanagent.toml"
    toml.write_text(toml.read_text().replace('review_account', 'cache = false\nreview_account'))
    _run(books, env)
    assert _audit(env) == ["off", "off"]
    assert not Path(env["BEANAGENT_CACHE_DIR"]).exists()


def test_config_can_only_switch_it_off(books: Path, env: dict[str, str]) -> None:
    toml = books / "beanagent.toml"
    toml.write_text(toml.read_text().replace('review_account',
                                             'cache = "/tmp/elsewhere"\nreview_account'))
    proc = run_cli_in_process("reconcile", "main.beancount", STATEMENT, "-n", cwd=books,
                              env=env)
    assert proc.returncode == 2 and re.search(r"cache must be true or false", proc.stderr)


def test_run_takes_no_cache_too(books: Path, env: dict[str, str]) -> None:
    (books / "fix.py").write_text("print('nothing to do')\n")
    for flags in ((), ("--no-cache",), ()):
        proc = run_cli_in_process("run", "main.beancount", "fix.py", STATEMENT, "-n", *flags,
                                  cwd=books, env=env)
        assert proc.returncode == 0, proc.stderr
    assert _audit(env) == ["miss", "off", "hit"]


def test_folders_are_0700_and_files_0600(books: Path, env: dict[str, str]) -> None:
    _run(books, env)
    folder = Path(env["BEANAGENT_CACHE_DIR"])
    key = Path(env["XDG_STATE_HOME"]) / "beanagent" / "cache.key"
    for path, mode in ((folder, 0o700), (folder.parent, 0o700), (key.parent, 0o700),
                       (key, 0o600), *((f, 0o600) for f in _cache_files(env))):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert len(key.read_bytes()) == 32
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".load")] == []
    assert not list(books.rglob("*picklecache*"))  # nothing beside the ledger


def test_the_default_folders_are_the_users(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    from beanagent.ledger.cache import cache_dir, key_path

    for name in ("BEANAGENT_CACHE_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = Path(os.environ["HOME"])
    assert (cache_dir(), key_path()) == (home / ".cache" / "beanagent",
                                         home / ".local" / "state" / "beanagent" / "cache.key")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("BEANAGENT_CACHE_DIR", "relative/ignored")
    assert cache_dir() == tmp_path / "xdg" / "beanagent"


def test_another_versions_cached_load_is_loaded_in_full_and_replaced(
        books: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache file that authenticates but holds a payload of another format (what an
    upgrade leaves behind) is not used: the server loads in full and keeps that load in
    its place, so the next run is a hit again (it used to stay a miss for good)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    _run(books, env)
    main = (books / "main.beancount").resolve()
    cache = LoadCache()
    hit = cache.fetch(main)
    assert hit is not None
    with open(hit.path, "rb") as f:
        f.seek(hit.offset)
        head = pickle.loads(f.read(hit.length))  # the payload's first pickle
    cache.store(main, pickle.dumps((head[0] - 1, *head[1:])), head[2])
    _run(books, env)
    _run(books, env)
    assert _audit(env) == ["miss", "miss", "hit"]


def test_includes_are_found_as_the_line_anchored_pattern_finds_them() -> None:
    """The include walk (the cache's key, the check before a load) finds `include` with
    bytes.find, then the line-anchored pattern at each find (load._includes): on random
    files of include-like lines it finds exactly what the pattern's own search finds."""
    import random

    from beanagent.ledger import load

    rng = random.Random(16)
    shapes = [b'include "a.beancount"', b'xinclude "b"', b'  include "c"', b'include\t"d\\"e"',
              b'include "f', b"", b'; include "g"', b'includes "h"', b'include "i" ; note']
    for _ in range(3000):
        data = rng.choice([b"\n", b"\r\n"]).join(rng.choice(shapes)
                                                  for _ in range(rng.randint(0, 6)))
        assert [m.span() for m in load._includes(data)] == \
            [m.span() for m in load._INCLUDE.finditer(data)], data


CHUNKED = """\
2020-01-01 open Assets:Cash
2020-01-01 open Expenses:Food
2020-02-02 * "Off by a cent"
  Assets:Cash  -2.40 USD
  Expenses:Food  2.41 USD
"""


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_the_payload_keeps_what_must_stay_one_object(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     chunk: int) -> None:
    """The payload is a pickle per CHUNK directives: what comes back equals the load, a
    directive both booked and final is one object, one only booking has (a plugin that
    replaced it) is booked only, and a transaction whose balance check failed is named as
    the final entry it is."""
    import io

    from beanagent.ledger.load import load_in_full
    from beanagent.sandbox import serverload

    monkeypatch.setattr(serverload, "CHUNK", chunk)
    ledger = tmp_path / "main.beancount"
    ledger.write_text(CHUNKED + "".join(
        f'2020-03-{day:02d} * "Shop"\n  Assets:Cash  -{day}.00 USD\n  Expenses:Food\n'
        for day in range(1, 29)))
    full = load_in_full(ledger)
    failed = [(e, full.balanced[id(e)]) for e in full.entries if full.balanced.get(id(e))]
    assert len(failed) == 1
    # As a plugin that replaces what it changes leaves it: booking's own object stays
    # in `booked` only.
    booked = [*full.booked[:4], full.booked[4]._replace(narration="before"),
              *full.booked[5:]]
    out = io.BytesIO()
    serverload._pickle(out, {"f": "0"}, booked, full.entries, full.options, failed,
                       (b"body", b"errors"))
    back = serverload._unpickled(out.getvalue())
    assert back is not None
    assert back.entries == full.entries and back.booked == booked
    assert back.snapshot == (b"body", b"errors")
    assert {k: v for k, v in back.options.items() if k != "dcontext"} == \
        {k: v for k, v in full.options.items() if k != "dcontext"}
    assert str(back.options["dcontext"]) == str(full.options["dcontext"])
    final = {id(e): i for i, e in enumerate(back.entries)}
    assert [final.get(id(b)) for b in back.booked] == [
        next((i for i, e in enumerate(full.entries) if e is b), None) for b in booked]
    assert final.get(id(back.booked[4])) is None
    (txn, errors), = back.unbalanced
    assert txn is back.entries[full.entries.index(failed[0][0])] and errors == failed[0][1]
