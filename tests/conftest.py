"""Shared fixtures: every test gets its own temp dir and an environment without API keys."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import py_compile
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from beanagent.sandbox.runner import Sandbox

REPO = Path(__file__).resolve().parents[1]
# Peer projects' real data lives beside the repository, never inside it.
REALWORLD = REPO.parent / "shared" / "realworld"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Bytecode for the package before hundreds of `python -m beanagent` runs (the attack
    suite's, pexpect's, run_cli's): where PYTHONDONTWRITEBYTECODE is set and the sources
    change often, each of them would otherwise compile every changed module again (~0.08 s
    of CPU per run). Checked-hash .pyc files are validated against the source's hash on
    every import, so one never stands in for a source edited later. Once per session (not
    in xdist's workers); a file that does not compile is left to the import to report."""
    if hasattr(session.config, "workerinput"):
        return
    for source in sorted((REPO / "beanagent").rglob("*.py")):
        cache = importlib.util.cache_from_source(str(source))
        with contextlib.suppress(OSError):
            head = Path(cache).read_bytes()[:16]
            if (head[:4] == importlib.util.MAGIC_NUMBER and head[4:8] == b"\x03\0\0\0"
                    and head[8:] == importlib.util.source_hash(source.read_bytes())):
                continue
        with contextlib.suppress(py_compile.PyCompileError, OSError):
            py_compile.compile(str(source), cfile=cache, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


@pytest.fixture
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.skip(f"peer data not available: {REALWORLD} is absent")
    return REALWORLD


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("ANTHROPIC_", "OPENAI_", "BEANAGENT_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BEANCOUNT_DISABLE_LOAD_CACHE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    # The load cache and its key (ledger/cache.py) beside the test's folder, not in it:
    # tests prove "nothing was touched" by comparing everything below tmp_path.
    monkeypatch.setenv("BEANAGENT_CACHE_DIR", str(tmp_path.parent / f"{tmp_path.name}.cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path.parent / f"{tmp_path.name}.state"))


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """A folder holding the small end-to-end ledger and its March statement."""
    for name in ("books.beancount", "march.csv"):
        shutil.copy(REPO / "tests" / "data" / "e2e" / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def sandbox_for() -> Iterator[Callable[[Path], Sandbox]]:
    """Starts real sandbox servers for ledgers, closing them after the test."""
    boxes: list[Sandbox] = []

    def start(path: Path) -> Sandbox:
        box = Sandbox(path).start()
        boxes.append(box)
        return box

    yield start
    for box in boxes:
        box.close()
