"""QIF statements (work in progress)."""

from __future__ import annotations

import pathlib

from beanagent.errors import BadInputError
from beanagent.statements.model import RawStatement

QIF_SUFFIXES: frozenset[str] = frozenset()


def looks_like_qif(head: bytes) -> bool:
    return False


def parse_qif(path: pathlib.Path, display: str) -> list[RawStatement]:
    raise BadInputError("QIF is not read yet", file=display)
