"""The kernel layers as a user meets them: doctor's self-test, strict refusal, weak mode,
the caged gate, and the server dying with its host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import report, run_cli, tree_hashes

E2E = Path(__file__).parent / "data" / "e2e"


def test_doctor_self_test_blocks_every_canary(tmp_path: Path) -> None:
    proc = run_cli("doctor", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for layer in ("Landlock ABI", "seccomp deny-list", "user + network namespace"):
        assert f"active  {layer}" in out
    assert out.count("blocked") >= 14 and "GOT THROUGH" not in out
    assert "all attacks failed" in out


def test_doctor_reports_a_weak_machine(tmp_path: Path) -> None:
    proc = run_cli("doctor", cwd=tmp_path,
                   env={"BEANAGENT_SANDBOX_WITHOUT": "landlock,seccomp,namespaces"})
    assert proc.returncode == 5
    assert "missing Landlock" in proc.stdout and "WEAK" in proc.stdout
    assert "GOT THROUGH read a secret file" in proc.stdout  # the self-test can fail


def test_strict_mode_refuses_without_layers(books: Path) -> None:
    (books / "s.py").write_text("open('planted', 'w').write('x')\n")
    before = tree_hashes(books)
    proc = run_cli("run", "books.beancount", "s.py", "--yes", cwd=books,
                   env={"BEANAGENT_SANDBOX_WITHOUT": "landlock"})
    assert proc.returncode == 5
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "Landlock" in errors[0]
    assert "--allow-weak-sandbox" in errors[0] and "Traceback" not in proc.stderr
    assert tree_hashes(books) == before


def test_weak_mode_shows_a_banner_and_every_script(books: Path) -> None:
    proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", "Assets:Bank:Checking",
                   "-n", "--json", "--allow-weak-sandbox", cwd=books,
                   env={"BEANAGENT_SANDBOX_WITHOUT": "seccomp"})
    assert proc.returncode == 0, proc.stderr
    assert "WEAK SANDBOX" in proc.stderr and "seccomp" in proc.stderr
    assert "about to run this script" in proc.stderr
    assert "engine.match(st)" in proc.stderr  # the offline agent's script, shown
    assert len(report(proc)["proposals"]) == 5


def test_gate_runs_caged(books: Path) -> None:
    # A plugin beside the ledger that writes next to whatever ledger it loads: fine for
    # the user's own loads, refused in the caged check of the staged copy.
    (books / "noisy.py").write_text(
        "import os\n__plugins__ = ['noisy']\n"
        "def noisy(entries, options):\n"
        "    with open(os.path.join(os.path.dirname(options['filename']), 'noisy.out'),"
        " 'w') as f:\n        f.write('x')\n    return entries, []\n")
    ledger = books / "books.beancount"
    ledger.write_text('option "insert_pythonpath" "TRUE"\nplugin "noisy"\n'
                      + ledger.read_text())
    proc = run_cli("reconcile", "books.beancount", "march.csv", "-a", "Assets:Bank:Checking",
                   "-n", "--json", cwd=books)
    assert proc.returncode == 3, proc.stderr
    rep = report(proc)
    assert any("Permission denied" in e["message"] for e in rep["check"]["errors"])
    assert (books / "noisy.out").exists()  # the host's own load ran it, uncaged


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def test_server_dies_with_its_host(books: Path) -> None:
    (books / "slow.py").write_text("import time\ntime.sleep(30)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    host = subprocess.Popen([sys.executable, "-m", "beanagent", "run", "books.beancount",
                             "slow.py", "--yes"], cwd=books, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    servers: list[int] = []
    while time.monotonic() < deadline and not servers:
        servers = _children(host.pid)
        time.sleep(0.1)
    assert servers, "the sandbox server did not start"
    time.sleep(1.5)  # let it load and fork the script's child
    os.kill(host.pid, signal.SIGKILL)
    host.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in servers):
        time.sleep(0.1)
    alive = [p for p in servers if Path(f"/proc/{p}/stat").exists()
             and (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
    assert alive == []


def test_layers_find_their_libraries_without_ldconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bindings' library lookups are answered by dlopen where the soname loads (no
    `ldconfig -p` process), and fall back to ctypes' own lookup where it doesn't."""
    import ctypes.util

    from beanagent.sandbox import layers

    asked: list[str] = []
    original = ctypes.util.find_library

    def counted(name: str) -> str | None:
        asked.append(name)
        return original(name)

    monkeypatch.setattr(ctypes.util, "find_library", counted)
    monkeypatch.setitem(layers._SONAMES, "m", "libm.so.no-such-version")
    with layers._quick_find_library():
        assert ctypes.util.find_library("c") == "libc.so.6"
        assert ctypes.util.find_library("seccomp") == "libseccomp.so.2"
        assert ctypes.util.find_library("m") == original("m")  # the soname didn't load
    assert asked == ["m"]  # only the fallback asked ctypes
    found = layers.Layers()
    assert found.seccomp_error is None and found.landlock_error is None
