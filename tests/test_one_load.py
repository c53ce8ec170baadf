"""Issue 16, one load per run: the sandbox server's full load is the only one, and the host
works from its plain data (ledger/snapshot.py). What the host sees through that data must
be exactly what a view over beancount's own entries shows; the host never parses or loads
the ledger itself; a plugin runs once per run outside the cage; the server spawned before
the command line's imports is the one the run uses."""

from __future__ import annotations

import datetime
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from beanagent.errors import LedgerChangedError
from beanagent.files.placement import Placement
from beanagent.ledger.cache import LoadCache
from beanagent.ledger.load import from_snapshot, load_in_full, parse_ledger
from beanagent.ledger.snapshot import Snapshot, encode
from beanagent.ledger.view import LedgerView
from beanagent.sandbox.incremental import file_digests
from tests.helpers import run_cli_in_process

ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT.parent / "shared" / "realworld"

RICH = """\
option "title" "Everything a snapshot carries"
option "operating_currency" "EUR"
option "name_assets" "Aktiva"
plugin "beancount.plugins.auto_accounts"
include "more.beancount"

2020-01-01 open Aktiva:Bank:Giro EUR
  iban: "DE02120300000000202051"
  opened-with: 12.50 EUR
  since: 2019-12-31
  primary: TRUE
2020-01-01 open Equity:Opening
2020-01-01 open Aktiva:Broker
2020-01-01 commodity VTI
2020-01-02 pad Aktiva:Bank:Giro Equity:Opening
2020-01-03 balance Aktiva:Bank:Giro 1000.00 EUR
2020-01-05 * "Bäckerei" "Brötchen" #food ^receipt-1
  ref: "A-1"
  amount-hint: 2.40
  Aktiva:Bank:Giro  -2.40 EUR
    check: 1234
  Expenses:Food
2020-01-06 ! "Broker" "Buy"
  Aktiva:Broker  2 VTI {100.00 EUR}
  Aktiva:Bank:Giro  -200.00 EUR
2020-01-07 price VTI 101.00 EUR
2020-02-01 close Aktiva:Broker
"""
MORE = """\
2020-01-10 * "Salary"
  Aktiva:Bank:Giro  3000.00 EUR
  Income:Salary
2020-01-12 note Aktiva:Bank:Giro "called the bank"
"""


def _rows(txns: list[Any]) -> list[tuple[Any, ...]]:
    return [(t.date, t.flag, t.payee, t.narration, t.postings, t.tags, t.links, dict(t.meta),
             t.file, t.line) for t in txns]


def _views(main: Path) -> tuple[LedgerView, LedgerView, Snapshot]:
    full = load_in_full(main.resolve())
    snapshot = Snapshot.decode(*encode(full.entries, full.errors, full.options,
                                       file_digests(full.options)))
    return LedgerView(full.entries, full.options), snapshot.view(), snapshot


def _same(main: Path) -> None:
    beancount_view, plain, _ = _views(main)
    assert plain.accounts == beancount_view.accounts
    assert plain.operating_currencies == beancount_view.operating_currencies
    assert plain.balance_assertions == beancount_view.balance_assertions
    assert (plain.start, plain.end) == (beancount_view.start, beancount_view.end)
    assert _rows(plain.transactions()) == _rows(beancount_view.transactions())
    for account in beancount_view.accounts:
        assert _rows(plain.transactions(account)) == \
            _rows(beancount_view.transactions(account))
        currency = beancount_view.currency_of(account)
        assert plain.currency_of(account) == currency
        if currency is not None:
            for day in (None, datetime.date(2020, 1, 8)):
                assert plain.balance(account, day) == beancount_view.balance(account, day)


def _rich(tmp_path: Path) -> Path:
    (tmp_path / "main.beancount").write_text(RICH, encoding="utf-8")
    (tmp_path / "more.beancount").write_text(MORE, encoding="utf-8")
    return tmp_path / "main.beancount"


def test_the_plain_view_is_the_view_of_beancounts_entries(tmp_path: Path) -> None:
    main = _rich(tmp_path)
    _same(main)
    _, plain, snapshot = _views(main)
    giro = plain.accounts["Aktiva:Bank:Giro"]
    assert dict(giro.meta) == {"iban": "DE02120300000000202051",
                               "opened-with": giro.meta["opened-with"],
                               "since": datetime.date(2019, 12, 31), "primary": True}
    assert str(giro.meta["opened-with"]) == "12.50 EUR"
    assert "Expenses:Food" in plain.accounts  # auto_accounts ran: one full load
    assert plain.accounts["Aktiva:Broker"].close == datetime.date(2020, 2, 1)
    assert any(t.flag == "P" for t in plain.transactions())  # the pad's entry
    assert snapshot.options["name_assets"] == "Aktiva"
    assert snapshot.options["currency_places"]["EUR"] == 2


@pytest.mark.parametrize("name", ["sample.beancount"])
def test_the_sample_ledgers_read_alike(name: str) -> None:
    _same(ROOT / "ledgers" / name)


def test_real_ledgers_read_alike() -> None:
    if not REALWORLD.is_dir():
        pytest.skip("../shared/realworld is absent: no real ledgers to compare")
    ledgers = sorted(p for p in REALWORLD.rglob("*.beancount")
                     if p.stat().st_size < 2_000_000)[:25]
    compared = 0
    for path in ledgers:
        try:
            parse_ledger(path)
        except Exception:
            continue
        _same(path)
        compared += 1
    assert compared >= 5


def test_placement_from_the_plain_data_is_the_parsers(tmp_path: Path) -> None:
    main = _rich(tmp_path)
    parsed = parse_ledger(main)
    _, _, snapshot = _views(main)
    plain = from_snapshot(main, snapshot)
    a, b = Placement(parsed), Placement(plain)
    # The file of each account's latest entry (the booked ledger has the pad's entry, on
    # the pad's day and line, for both of its accounts: a later day, the same file).
    assert {k: f for k, (_, f) in b.latest.items()} == {k: f for k, (_, f) in a.latest.items()}
    assert b.first_open == a.first_open
    for path, dated in a.dated.items():  # the load adds the pad's entry at the pad's line
        assert set(dated) <= set(b.dated[path]) and b.dated[path] == sorted(b.dated[path])


def test_bytes_that_are_not_what_the_server_loaded_are_refused(tmp_path: Path) -> None:
    main = _rich(tmp_path)
    _, _, snapshot = _views(main)
    more = tmp_path / "more.beancount"
    more.write_text(MORE.replace("3000.00", "3100.00"), encoding="utf-8")
    with pytest.raises(LedgerChangedError, match="changed on disk"):
        from_snapshot(main, snapshot)


PLUGIN = """\
import os
__plugins__ = ["count"]


def count(entries, options):
    try:  # a write works outside the sandbox's cage only
        with open(os.path.join(os.path.dirname(__file__), "loads.txt"), "a") as f:
            f.write(f"{os.getpid()}\\n")
    except OSError:
        pass
    return entries, []
"""


def test_a_run_loads_the_ledger_once_and_the_host_never_parses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger's own plugin runs once outside the cage per run (the server's load;
    before issue 16 the host's full load ran it too), and beancount's parser never runs
    in the host process (it would raise here)."""
    shutil.copy(ROOT / "ledgers" / "sample.beancount", tmp_path / "sample.beancount")
    shutil.copytree(ROOT / "ledgers" / "inbox", tmp_path / "inbox")
    shutil.copy(ROOT / "ledgers" / "beanagent.toml", tmp_path / "beanagent.toml")
    (tmp_path / "counting.py").write_text(PLUGIN, encoding="utf-8")
    (tmp_path / "main.beancount").write_text(
        'option "insert_pythonpath" "TRUE"\nplugin "counting"\ninclude "sample.beancount"\n',
        encoding="utf-8")
    from beancount import loader

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the host parsed the ledger")

    monkeypatch.setattr(loader, "_parse_recursive", refuse)
    for args in (("main.beancount", "inbox/bofa-checking-2025-11.csv"), ("main.beancount",)):
        loads = tmp_path / "loads.txt"
        loads.unlink(missing_ok=True)
        proc = run_cli_in_process("reconcile", *args, "--dry-run", "--no-cache",
                                  cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "Proposals" in proc.stderr or "nothing new" in proc.stderr
        assert len(loads.read_text().splitlines()) == 1, args


def test_the_server_spawned_before_the_imports_is_the_runs(tmp_path: Path) -> None:
    from beanagent.sandbox import early
    from beanagent.sandbox.runner import Sandbox

    main = _rich(tmp_path).resolve()
    other = tmp_path / "other.beancount"
    other.write_text(MORE, encoding="utf-8")
    early.prespawn(["reconcile", str(other), "x.csv"])
    early.prespawn(["reconcile", str(main), "x.csv", "--dry-run"])
    guessed = early._EARLY[main].proc.pid
    stray = early._EARLY[other.resolve()].proc
    cache = LoadCache()
    with Sandbox(main, allow_weak=True, cache=cache) as box:
        assert box._proc is not None and box._proc.pid == guessed
        assert box.snapshot().options["title"] == "Everything a snapshot carries"
        assert stray.poll() is not None  # a guess for another ledger is stopped
    assert early._EARLY == {}
    assert cache.state == "miss" and len(list(cache.directory.glob("*.load"))) == 1
    # Told to use the cache, but the run's settings turn it off: not adopted.
    early.prespawn(["reconcile", str(main), "x.csv"])
    told = early._EARLY[main].proc
    with Sandbox(main, allow_weak=True) as box:
        assert box._proc is not None and box._proc.pid != told.pid
        assert box.snapshot().entries > 0
    assert told.poll() is not None
    # --no-cache (or `cache = false`) is told as the run will tell it.
    early.prespawn(["reconcile", str(main), "x.csv", "--no-cache"])
    told = early._EARLY[main].proc
    with Sandbox(main, allow_weak=True) as box:
        assert box._proc is not None and box._proc.pid == told.pid
    for args in (["reconcile", str(main), "--help"], ["reconcile", "--dry-run", str(main)],
                 ["query", str(main), "x"], ["reconcile", str(main), "--list"],
                 ["reconcile", str(tmp_path / "missing.beancount")]):
        early.prespawn(args)
        assert early._EARLY == {}, args


def test_no_early_server_is_told_anything_while_a_write_awaits_recovery(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The early server is spawned before the journal is looked at, but it reads nothing
    of the books until its first line; with an interrupted write to finish first it is
    stopped untold, and the run starts its own after the recovery."""
    import subprocess as sp

    from beanagent.files.journal import Journal
    from beanagent.sandbox import early

    main = _rich(tmp_path).resolve()
    spawned: list[sp.Popen[bytes]] = []
    real_spawn = early.spawn

    def spawn(ledger: Path) -> early.Spawned:
        found = real_spawn(ledger)
        spawned.append(found.proc)
        return found

    told: list[Any] = []
    monkeypatch.setattr(early, "spawn", spawn)
    monkeypatch.setattr(early, "tell", lambda *args: told.append(args))
    monkeypatch.setattr(Journal, "has_unfinished", lambda self: True)
    early.prespawn(["reconcile", str(main), "x.csv"])
    assert early._EARLY == {} and told == []
    assert len(spawned) == 1 and spawned[0].poll() is not None  # stopped
    monkeypatch.setattr(Journal, "has_unfinished", lambda self: False)
    early.prespawn(["reconcile", str(main), "x.csv"])
    assert len(told) == 1 and main in early._EARLY
    early.stop_unadopted()


def test_the_command_runs_with_its_early_server(tmp_path: Path) -> None:
    """The installed `beanagent` (entry.main: prespawn, then the command line) end to
    end, as a user runs it."""
    shutil.copy(ROOT / "ledgers" / "sample.beancount", tmp_path / "sample.beancount")
    shutil.copytree(ROOT / "ledgers" / "inbox", tmp_path / "inbox")
    shutil.copy(ROOT / "ledgers" / "beanagent.toml", tmp_path / "beanagent.toml")
    command = Path(sys.executable).parent / "beanagent"
    proc = subprocess.run([command, "reconcile", "sample.beancount",
                           "inbox/bofa-checking-2025-11.csv", "--dry-run", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Dry run: nothing written." in proc.stdout + proc.stderr


def test_a_plugin_that_exits_ends_the_run_with_one_line(tmp_path: Path) -> None:
    """beancount lets a plugin's SystemExit through its loader: the server, the run's only
    loader, says so in one line (exit 5, the sandbox could not load), nothing written."""
    (tmp_path / "byeplug.py").write_text(
        '__plugins__ = ["bye"]\n\n\ndef bye(entries, options):\n    raise SystemExit(3)\n',
        encoding="utf-8")
    ledger = tmp_path / "l.beancount"
    ledger.write_text('option "insert_pythonpath" "TRUE"\nplugin "byeplug"\n'
                      "2025-01-01 open Assets:Bank USD\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("Date,Description,Amount\n2025-01-05,Coffee,-3.00\n",
                                    encoding="utf-8")
    before = ledger.read_bytes()
    proc = run_cli_in_process("reconcile", "l.beancount", "s.csv", "--account", "Assets:Bank",
                              "--dry-run", cwd=tmp_path)
    assert proc.returncode == 5
    assert "SystemExit: 3 (a plugin of the ledger ended the load)" in proc.stderr
    assert "Traceback" not in proc.stderr and ledger.read_bytes() == before


def test_a_server_spawned_for_a_run_that_never_starts_is_cleaned_up(tmp_path: Path) -> None:
    """A usage error after the early spawn: the command's end stops the server and removes
    its folder (the death signal alone would leave the folder)."""
    from beanagent.sandbox import early

    main = _rich(tmp_path).resolve()
    early.prespawn(["reconcile", str(main), "--max-steps", "x"])
    spawned = early._EARLY[main]
    folder = Path(spawned.workdir.name)
    assert folder.is_dir()
    early.stop_unadopted()
    assert early._EARLY == {} and spawned.proc.poll() is not None and not folder.exists()


@pytest.mark.parametrize("which", ["rich", "sample"])
def test_the_servers_account_index_gives_what_a_scan_gives(tmp_path: Path, which: str) -> None:
    """The sandbox server indexes every account (and parent) before its children fork;
    every lookup, a parent's, an unknown account's and a partial name's, is what the
    per-account scan gives."""
    main = _rich(tmp_path) if which == "rich" else ROOT / "ledgers" / "sample.beancount"
    full = load_in_full(main.resolve())
    scan, indexed = LedgerView(full.entries, full.options), LedgerView(full.entries,
                                                                        full.options)
    indexed.index_accounts()
    names = set(scan.accounts) | {p.account for t in scan.transactions() for p in t.postings}
    parents = {n.rsplit(":", k)[0] for n in names for k in range(1, n.count(":") + 1)}
    for account in sorted(names | parents | {"Nowhere:At:All", "Assets:US:Bo"}):
        assert _rows(indexed.transactions(account)) == _rows(scan.transactions(account))


def test_the_early_server_is_told_the_cache_as_the_settings_decide(tmp_path: Path) -> None:
    from beanagent.sandbox import early

    main = _rich(tmp_path).resolve()
    decided = []
    for toml, args in ((None, []), ("cache = false\n", []), (None, ["--no-cache"]),
                       ('cache = "elsewhere"\n', [])):  # a bad value: the CLI refuses it
        if toml is not None:
            (tmp_path / "beanagent.toml").write_text(toml, encoding="utf-8")
        early.prespawn(["reconcile", str(main), *args])
        told = early._EARLY[main].told
        assert told is not None
        decided.append(told[0] is not None)
        early.stop_unadopted()
    assert decided == [True, False, False, True]


def test_the_accounts_named_on_the_command_line_are_a_hint_to_the_server() -> None:
    """sandbox/early.py reads --account/-a (and --account=X) from the command line, so the
    server makes those accounts' records while the host reads the snapshot."""
    from beanagent.sandbox.early import _accounts

    assert _accounts(["reconcile", "l.beancount", "s.csv", "--account", "Assets:A", "-a",
                      "Assets:B", "--account=Assets:C", "-a"]) == \
        ["Assets:A", "Assets:B", "Assets:C"]
    assert _accounts(["reconcile", "l.beancount"]) == []


def test_statements_read_during_validation_yield_to_a_refused_ledger(tmp_path: Path) -> None:
    """The host reads the statements on the load's body while the server validates
    (workflow.load); a ledger the load refuses is still what the user is told, not the
    statement's own problem, and nothing else is printed before it."""
    (tmp_path / "l.beancount").write_text('2024-01-01 open Assets:Bank\n'
                                          '2024-01-02 * "unclosed\n  Assets:Bank  1 USD\n')
    (tmp_path / "s.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    proc = run_cli_in_process("reconcile", "l.beancount", "s.pdf", "--account", "Assets:Bank",
                              "--dry-run", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    said = [line for line in proc.stderr.splitlines() if not line.startswith("…")]
    assert len(said) == 1 and "l.beancount" in said[0] and "does not parse" in said[0], said


def test_work_for_the_hosts_waits_runs_while_it_waits(tmp_path: Path) -> None:
    """`when_idle` work runs the first time the host waits on the server with nothing
    there yet (its load; else a script), once, before the reply is read."""
    from beanagent.sandbox.runner import Sandbox

    ledger = tmp_path / "main.beancount"
    ledger.write_text(RICH)
    (tmp_path / "more.beancount").write_text(MORE)
    done: list[tuple[str, float]] = []
    with Sandbox(ledger, allow_weak=True) as box:
        box.when_idle(lambda: done.append(("load", box._body is None)))
        assert box.snapshot().txns  # the load takes far longer than a poll
        assert done == [("load", True)]  # before the load was there
        box.when_idle(lambda: done.append(("script", time.monotonic())))
        asked = time.monotonic()
        step = box.run("import time\ntime.sleep(0.3)\nprint('slept')", [])
        answered = time.monotonic()
        assert step.ok and "slept" in step.output
    assert [name for name, _ in done] == ["load", "script"]
    assert asked <= done[1][1] < answered - 0.2  # while the script slept


def test_the_cache_key_has_beancounts_version_without_importing_it() -> None:
    import beancount

    from beanagent.ledger.cache import beancount_version

    assert beancount_version() == beancount.__version__
    probe = ("import sys\nfrom beanagent.ledger.cache import beancount_version\n"
             "beancount_version()\nprint('beancount' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
