"""CAMT statements (work in progress)."""

from __future__ import annotations

import pathlib

from beanagent.errors import BadInputError
from beanagent.statements.model import RawStatement

CAMT_SUFFIXES: frozenset[str] = frozenset()


def looks_like_camt(head: bytes) -> bool:
    return False


def parse_camt(path: pathlib.Path, display: str) -> list[RawStatement]:
    raise BadInputError("CAMT is not read yet", file=display)
