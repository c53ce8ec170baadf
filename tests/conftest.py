"""Shared fixtures: every test gets its own temp dir and an environment without API keys."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from beanagent.sandbox.runner import Sandbox

REPO = Path(__file__).resolve().parents[1]
# Peer projects' real data lives beside the repository, never inside it.
REALWORLD = REPO.parent / "shared" / "realworld"


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
