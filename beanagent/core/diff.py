"""The review's diff: a unified diff of every file the proposals change, written from the
stage's own line map (staging only inserts, so the hunks are known exactly)."""

from __future__ import annotations

from collections.abc import Sequence

from beanagent.model import LineMap, Staged
from beanagent.text import Lines, display_path


def _range(start: int, length: int) -> str:
    """Unified-diff range from a 0-based start (empty ranges name the line before)."""
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _file_diff(name: str, new_lines: Sequence[str], line_map: LineMap,
               context: int) -> list[str]:
    # Written from the stage's own line map rather than with difflib: staging only
    # inserts, so the hunks are known exactly (each inserted run and its context), and
    # difflib's matcher takes seconds on a 60,000-line ledger.
    groups: list[list[int]] = []
    for first, stop, _ in line_map.runs:
        lo, hi = max(0, first - context), min(len(line_map) - 1, stop - 1 + context)
        if groups and lo <= groups[-1][1] + 1:
            groups[-1][1] = max(groups[-1][1], hi)
        else:
            groups.append([lo, hi])
    if not groups:
        return []
    out = [f"--- a/{name}\n", f"+++ b/{name}\n"]
    for lo, hi in groups:
        olds = [w for w in line_map[lo : hi + 1] if isinstance(w, int)]
        if olds:
            old_start, old_len = olds[0] - 1, len(olds)
        else:
            before = (line_map.at(j) for j in range(lo - 1, -1, -1))
            old_start = next((w for w in before if isinstance(w, int)), 0)
            old_len = 0
        out.append(f"@@ -{_range(old_start, old_len)} +{_range(lo, hi - lo + 1)} @@\n")
        for j in range(lo, hi + 1):
            text = new_lines[j].rstrip("\r\n") + "\n"
            out.append(("+" if isinstance(line_map.at(j), str) else " ") + text)
    return out


def format_diff(stage: Staged, context: int = 2) -> str:
    chunks: list[str] = []
    for path, new in sorted(stage.new_bytes.items()):
        staged = stage.staged[path]
        chunks.extend(_file_diff(display_path(path), Lines(new),
                                 stage.line_maps[staged], context))
    return "".join(chunks)
