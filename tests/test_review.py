"""The review diff is built from the stage's line map; it must equal difflib's."""

from __future__ import annotations

import difflib

import pytest

from beanagent.core.diff import _file_diff
from beanagent.model import LineMap
from beanagent.text import split_lines


def _difflib(old: list[str], new: list[str], n: int) -> list[str]:
    return [line if line.endswith("\n") else line + "\n"
            for line in difflib.unified_diff(old, new, "a/f", "b/f", n=n)]


@pytest.mark.parametrize("inserts", [
    {0: ["NEW\n"]}, {3: ["A\n", "B\n"]}, {10: ["END\n"]}, {2: ["X\n"], 4: ["Y\n"]},
    {1: ["X\n"], 8: ["Y\n", "Z\n"]}, {0: ["X\n"], 10: ["Y\n"]}, {5: ["a\n", "b\n", "c\n"]},
])
@pytest.mark.parametrize("context", [0, 1, 2, 3])
def test_same_as_difflib(inserts: dict[int, list[str]], context: int) -> None:
    old = [f"line {i}\n" for i in range(1, 11)]
    new: list[str] = []
    line_map: list[int | str] = []
    for i in range(len(old) + 1):
        for text in inserts.get(i, []):
            new.append(text)
            line_map.append("P")
        if i < len(old):
            new.append(old[i])
            line_map.append(i + 1)
    runs = [(i, i + 1, "P") for i, where in enumerate(line_map) if where == "P"]
    assert _file_diff("f", new, LineMap(len(line_map), runs), context) == \
        _difflib(old, new, context)


def test_split_lines_counts_like_beancount() -> None:
    assert split_lines("a\u2028b\nc\r\nd") == ["a\u2028b\n", "c\r\n", "d"]
    assert split_lines("") == [] and split_lines("x\n") == ["x\n"]


@pytest.mark.parametrize("text", ["", "x", "x\n", "a\u2028b\nc\r\nd", "\n\n", "a\rb\n\u00e9\n"])
def test_lines_by_offset_are_split_lines(text: str) -> None:
    """text.Lines (offsets into the file's bytes, a line decoded when asked for) holds the
    lines split_lines gives, and spans are the bytes between them."""
    from beanagent.text import Lines

    lines = Lines(text.encode())
    assert lines[:] == split_lines(text) and len(lines) == len(split_lines(text))
    assert lines.span(0, len(lines)) == text.encode()
