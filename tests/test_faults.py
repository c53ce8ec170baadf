"""Faults during a write, with real files and real processes: SIGKILL at every phase of a
multi-file commit, a rollback and an undo (a small run of benchmarks/stress_commit.py), a
crash between two files' renames recovered by the next `beanagent` command, a full disk, a
file edited by another program while the commit runs, and a second writer."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from beanagent.files.journal import Journal
from benchmarks.stress_commit import (
    NEW,
    ORIGINAL,
    PHASES,
    SCENARIOS,
    Cue,
    classify,
    expected_versions,
    learn_steps,
    make_books,
    phase_bounds,
    read_books,
    run_child,
    temps_in,
)
from tests.helpers import REPO_ROOT, run_cli, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"
NEW_BYTES = {k: v.encode() for k, v in NEW.items()}


def test_kills_at_every_phase_leave_every_file_whole_and_the_next_run_makes_the_set_whole(
        tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.stress_commit", "20", "--seed",
                           "7", "--json", "--dir", str(tmp_path)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tally = json.loads(proc.stdout)
    assert tally["runs"] == 20 and tally["failures"] == []
    assert tally["modes"] == {"chosen step": 15, "random delay": 5}
    # the fifteen chosen-step runs went through every phase of every kind of write once
    phases = {f"{s}/{p}" for s in SCENARIOS for p in PHASES
              if p in ("A", "B", "C", "D") or p == ("R" if s == "rollback" else "E")}
    assert phases <= set(tally["kills"]), tally["kills"]
    assert sum(tally["outcomes"].values()) == 20
    assert tally["recovery_killed"] >= 1


@dataclasses.dataclass(frozen=True)
class Steps:
    labels: list[str]  # each file-system step of an uninterrupted write, in order
    bounds: list[tuple[str, int, int]]  # its phases

    def before_rename(self, n: int) -> int:
        """The step that renames the n-th file (1-based) into place."""
        renames = [i for i, lb in enumerate(self.labels)
                   if lb.startswith("rename temp(") and ", new)" in lb]
        assert len(renames) == 3  # three files
        return renames[n - 1]


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Steps]:
    learned = learn_steps(tmp_path_factory.mktemp("learn"), "spawn")
    return {s: Steps(learned[s].labels, phase_bounds(s, learned[s].labels)) for s in SCENARIOS}


def _crash_between_renames(root: Path, commit: Steps) -> Path:
    main = make_books(root)
    result = run_child("commit", root, Cue(kill_at=commit.before_rename(2)), method="spawn")
    assert result.status is None  # SIGKILLed
    assert classify(read_books(root), *expected_versions("commit")) == {
        "main.beancount": "new", "more.beancount": "old", "sub/card.beancount": "old"}
    assert Journal(main).has_unfinished()
    return main


def test_a_crash_between_two_renames_is_finished_by_the_next_reconcile(
        tmp_path: Path, steps: dict[str, Steps]) -> None:
    root = tmp_path / "books"
    _crash_between_renames(root, steps["commit"])
    (root / "st.csv").write_text("Date,Description,Amount\n2024-12-30,Landlord,-900.00\n")
    proc = run_cli("reconcile", "main.beancount", "st.csv", "-a", "Assets:Bank:Checking",
                   "--dry-run", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert ("warning: an interrupted beanagent commit (#1) was finished: main.beancount, "
            "more.beancount, sub/card.beancount hold its new version") in proc.stderr
    assert read_books(root) == NEW_BYTES
    assert json.loads(proc.stdout)["proposals"] == []  # and the run saw the whole new set
    assert temps_in(root) == [] and not Journal(root / "main.beancount").has_unfinished()


def test_a_crash_between_two_renames_then_undo(
        tmp_path: Path, steps: dict[str, Steps]) -> None:
    root = tmp_path / "books"
    _crash_between_renames(root, steps["commit"])
    proc = run_cli("undo", "main.beancount", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("an interrupted beanagent commit (#1) was finished")
    assert "undid beanagent commit #1" in proc.stderr
    assert read_books(root) == ORIGINAL
    assert temps_in(root) == []


def test_a_crash_between_two_renames_of_an_undo_is_finished_by_the_next_run(
        tmp_path: Path, steps: dict[str, Steps]) -> None:
    root = tmp_path / "books"
    main = make_books(root)
    assert run_child("commit", root, Cue(), method="spawn").status == 0
    result = run_child("undo", root, Cue(kill_at=steps["undo"].before_rename(3)),
                       method="spawn")
    assert result.status is None
    states = classify(read_books(root), *expected_versions("undo"))
    assert states == {"main.beancount": "new", "more.beancount": "new",
                      "sub/card.beancount": "old"}
    proc = run_cli("undo", "main.beancount", cwd=root)  # the undo is finished first
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "beanagent: error: main.beancount: nothing to undo: every recorded beanagent commit "
        "has been undone already"]
    assert read_books(root) == ORIGINAL  # ... by the recovery that ran before it refused
    assert [(r.kind, r.state) for r in Journal(main).records()] == [("commit", "done"),
                                                                     ("undo", "done")]


# --- a full disk -----------------------------------------------------------------------------

@pytest.mark.parametrize("room", ["no room for the backups", "no room for the new bytes"])
def test_a_file_size_limit_gives_a_clean_error_and_no_change(tmp_path: Path, room: str) -> None:
    root = tmp_path / "books"
    main = make_books(root)
    old_big = len(ORIGINAL["more.beancount"])
    assert len(NEW_BYTES["more.beancount"]) > old_big + 10
    limit = 1000 if room.startswith("no room for the backups") else old_big + 10
    before = tree_hashes(root)
    result = run_child("commit", root, Cue(), method="spawn", fsize=limit)
    assert result.status == 6, result.message
    assert result.message == (f"{root / 'more.beancount'}: cannot write: File too large; "
                              "nothing was written")
    assert read_books(root) == ORIGINAL
    assert {k: v for k, v in tree_hashes(root).items()
            if not k.startswith(".beanagent")} == before
    assert temps_in(root) == []
    journal = Journal(main)
    assert journal.records() == [] and journal.orphans() == []
    assert run_child("commit", root, Cue(), method="spawn").status == 0  # room again: fine
    assert read_books(root) == NEW_BYTES


FULL_DISK = """
set -u
mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
cp "$2"/* "$1"/
head -c 10000000 /dev/zero > "$1/filler" 2>/dev/null
cd "$1" && "$3" -m beanagent reconcile books.beancount march.csv -a Assets:Bank:Checking \
    --yes >/dev/null 2>"$4"
echo "exit $?" >> "$4"
sha256sum books.beancount march.csv >> "$4"
find . -name '.*beanagent-*' >> "$4"
"""


def test_a_full_disk_gives_a_clean_error_and_no_change(tmp_path: Path) -> None:
    """A real full filesystem (a 64 KiB tmpfs, mounted in a private user and mount
    namespace so that no root is needed) under the real command."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here to mount a private tmpfs")
    mnt, out, src = tmp_path / "mnt", tmp_path / "out.txt", tmp_path / "src"
    mnt.mkdir()
    src.mkdir()
    for name in ("books.beancount", "march.csv"):
        shutil.copy(E2E / name, src / name)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK, "sh", str(mnt), str(src),
                           sys.executable, str(out)], capture_output=True, text=True,
                          timeout=300, env=env)
    if proc.returncode == 99 or (proc.returncode != 0 and not out.exists()):
        pytest.skip(f"cannot mount a private tmpfs here: {proc.stderr.strip()[:200]}")
    lines = out.read_text().splitlines()
    assert "Traceback" not in out.read_text()
    errors = [ln for ln in lines if ln.startswith("beanagent: error:")]
    assert errors == [f"beanagent: error: {mnt}/books.beancount: cannot write: No space left "
                      "on device; nothing was written"], lines
    assert "exit 6" in lines
    sums = {name: sha for sha, name in (ln.split("  ") for ln in lines
                                         if re.fullmatch(r"[0-9a-f]{64}  \S+", ln))}
    assert sums == {name: tree_hashes(src)[name] for name in ("books.beancount", "march.csv")}
    assert not [ln for ln in lines if ".beanagent-" in ln]  # no temp file left behind


# --- another program, another writer ----------------------------------------------------------

def _pause_points(commit: Steps) -> dict[str, int]:
    phase = {p: (lo, hi) for p, lo, hi in commit.bounds}
    return {"as the commit starts": 0,
            "once the journal is written": phase["B"][0],
            "once every temp file is written": phase["B"][1] - 1,
            "just before the first rename": commit.before_rename(1),
            "between two renames": commit.before_rename(2)}


@pytest.mark.parametrize("when", ["as the commit starts", "once the journal is written",
                                  "once every temp file is written",
                                  "just before the first rename", "between two renames"])
def test_a_file_edited_by_another_program_during_the_commit_is_never_overwritten(
        tmp_path: Path, steps: dict[str, Steps], when: str) -> None:
    root = tmp_path / "books"
    main = make_books(root)
    edited = ORIGINAL["more.beancount"] + b"; typed in an editor meanwhile\n"

    def edit() -> None:
        (root / "more.beancount").write_bytes(edited)

    at = _pause_points(steps["commit"])[when]
    assert steps["commit"].labels[at].split()[0] in ("mkdir", "create", "fsync", "rename")
    result = run_child("commit", root, Cue(pause_at=at), method="spawn", while_paused=edit)
    assert result.status == 4, result.message
    assert result.message == (f"{root / 'more.beancount'}: file changed on disk since it was "
                              "loaded; nothing was written (run again to reconcile the new "
                              "version)")
    assert read_books(root) == {**ORIGINAL, "more.beancount": edited}
    assert temps_in(root) == []
    assert Journal(main).records() == [] and Journal(main).orphans() == []


HOLDER = """
import sys
from pathlib import Path
from beanagent.files.journal import hold_lock
with hold_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def _lock_held_elsewhere(main: Path) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(main)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        yield
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(30)


def test_a_second_run_never_writes_while_another_holds_the_ledger(books: Path) -> None:
    ledger = books / "books.beancount"
    original = ledger.read_bytes()
    with _lock_held_elsewhere(ledger.resolve()):
        proc = run_cli("reconcile", "books.beancount", "march.csv", "-a",
                       "Assets:Bank:Checking", "--yes", cwd=books)
        undo = run_cli("undo", "books.beancount", cwd=books)
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"beanagent: error: {ledger.resolve()}: another beanagent run is writing this "
        "ledger; nothing was written (try again when it has finished)")
    assert ledger.read_bytes() == original
    assert undo.returncode == 2  # nothing recorded to undo: said before any lock is taken
    proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", "Assets:Bank:Checking",
                   "--yes", cwd=books)
    assert proc.returncode == 0, proc.stderr
    assert ledger.read_bytes() != original
