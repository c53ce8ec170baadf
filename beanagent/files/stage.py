"""Stage proposals into a temporary copy of every file the ledger includes.

Nothing here touches the user's files: the copy is made from the bytes read at load time,
new entries are rendered by beancount's printer and placed in date order in the file that
already holds the account's recent entries, keeping that file's line endings.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from beanagent.files.placement import FileLines, Placement, insert_index
from beanagent.model import Ledger, LedgerFile, LineMap, Proposal, Staged

# A posting (or a balance directive) with an amount: where its currency starts tells the
# column the file aligns amounts to. Hand-written: bean-format has no API that reports the
# alignment it would use, and re-formatting the user's file would change unrelated lines.
_AMOUNT_LINE = re.compile(
    r"^(?P<indent>[ \t]+)[!*]?\s*(?P<account>[A-Z][^\s]*)[ \t]+(?P<number>-?[\d,]*\.?\d+)"
    r"[ \t]+(?P<currency>[A-Z][A-Z0-9'._-]*)")
_BALANCE_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d[ \t]+balance[ \t]+[A-Z][^\s]*[ \t]+(?P<number>-?[\d,]*\.?\d+)"
    r"[ \t]+(?P<currency>[A-Z][A-Z0-9'._-]*)")


@dataclasses.dataclass(frozen=True)
class Style:
    """How a file writes its entries: posting indentation and the column its currencies
    start at (None when the file doesn't align them)."""

    indent: str = "  "
    currency_column: int | None = None


# The same two line shapes found in a file's bytes in one pass, each after a line break (a
# literal first byte lets the regex engine skip to the candidates: 0.07 -> 0.03 s on an
# 80,000-line ledger, where a match per line took 0.09), in file order; the first line is
# matched on its own. Whitespace that could cross a line break is kept within the line.
_SHAPES_AFTER_BREAK = re.compile(
    rb"\n(?:(?P<indent>[ \t]+)[!*]?[^\S\n]*(?P<account>[A-Z][^\s]*)[ \t]+"
    rb"(?P<number>-?[\d,]*\.?\d+)[ \t]+(?P<currency>[A-Z][A-Z0-9'._-]*)"
    rb"|\d{4}-\d\d-\d\d[ \t]+balance[ \t]+[A-Z][^\s]*[ \t]+-?[\d,]*\.?\d+[ \t]+"
    rb"(?P<balance>[A-Z][A-Z0-9'._-]*))")


def _column(line: bytes) -> int:
    """Characters in `line` (the start of a line, up to a currency)."""
    return len(line) if line.isascii() else len(line.decode("utf-8"))


def detect_style(data: bytes) -> Style:
    indents: Counter[str] = Counter()
    columns: Counter[int] = Counter()  # in file order: a tie goes to the column seen first
    first = (data[:data.find(b"\n") + 1] if b"\n" in data else data).decode("utf-8")
    found = _AMOUNT_LINE.match(first)
    if found is not None:
        indents[found.group("indent")] += 1
        columns[found.start("currency")] += 1
    elif (found := _BALANCE_LINE.match(first)) is not None:
        columns[found.start("currency")] += 1
    ascii = data.isascii()  # then a column is a count of bytes
    raw: Counter[bytes] = Counter()
    for m in _SHAPES_AFTER_BREAK.finditer(data):  # the line starts after the "\n"
        at = m.start("currency")
        if at >= 0:
            raw[m.group("indent")] += 1
        else:
            at = m.start("balance")
        start = m.start() + 1
        columns[at - start if ascii else _column(data[start:at])] += 1
    for seen, times in raw.items():
        indents[seen.decode()] += times
    if not indents:
        return Style()
    indent = indents.most_common(1)[0][0]
    column, count = columns.most_common(1)[0] if columns else (0, 0)
    # Aligned when most amounts share one column (bean-format's output, or a careful hand).
    aligned = count >= 3 and count * 2 >= sum(columns.values())
    return Style(indent, column if aligned else None)


def restyle(text: str, style: Style) -> str:
    """Beancount's printer output, re-indented and re-aligned to the file's own style.
    Only whitespace changes: the entry parses to the same directive."""
    out = []
    for line in text.split("\n"):
        m = _AMOUNT_LINE.match(line)
        if m is not None:
            head = style.indent + line[m.start("account"):m.end("account")]
            if line[m.start("indent"):m.start("account")].strip():  # a posting flag
                head = style.indent + line[m.end("indent"):m.end("account")]
            if style.currency_column is None:  # the printer's own alignment, re-indented
                out.append(style.indent + line[len(m.group("indent")):])
                continue
            number, rest = m.group("number"), line[m.start("currency"):]
            gap = max(2, style.currency_column - 1 - len(number) - len(head))
            out.append(f"{head}{' ' * gap}{number} {rest}")
            continue
        m = _BALANCE_LINE.match(line)
        if m is not None and style.currency_column is not None:
            head = line[:m.start("number")].rstrip()
            number = m.group("number")
            gap = max(1, style.currency_column - 1 - len(number) - len(head))
            out.append(f"{head}{' ' * gap}{number} {line[m.start('currency'):]}")
            continue
        if line.startswith("    "):  # posting metadata
            out.append(style.indent * 2 + line.lstrip())
        elif line.startswith("  "):  # a posting without an amount, or entry metadata
            out.append(style.indent + line.lstrip())
        else:
            out.append(line)
    return "\n".join(out)


def _render_file(file: FileLines, inserts: dict[int, list[Proposal]],
                 texts: dict[str, str]) -> tuple[bytes, LineMap]:
    """The file with each item's text inserted before its line index, set off by blank
    lines from non-blank neighbours; the original bytes are copied in slices between the
    insertion points (views: the new file is the only copy made)."""
    data, lines = memoryview(file.data), file.lines
    newline = "\r\n" if b"\r\n" in file.data else "\n"
    pieces: list[bytes | memoryview] = []
    runs: list[tuple[int, int, str]] = []
    done = staged = pos = 0  # original lines copied; staged lines written; offset in data
    previous: str | None = None  # the last line written
    for index in sorted(inserts):
        if index > done:
            end = lines.starts[index]
            pieces.append(data[pos:end])
            staged += index - done
            previous, pos, done = lines[index - 1], end, index
        if index == len(lines) and previous is not None and not previous.endswith("\n"):
            pieces.append(newline.encode())  # the last line gets one only when something follows
            previous += newline
        for item in inserts[index]:
            rows = [row + newline for row in texts[item.id].rstrip("\n").split("\n")]
            if previous is not None and previous.strip():
                rows.insert(0, newline)
            if index < len(lines) and lines[index].strip():
                rows.append(newline)
            runs.append((staged, staged + len(rows), item.id))
            pieces.append("".join(rows).encode("utf-8"))
            staged += len(rows)
            previous = rows[-1]
    pieces.append(data[pos:])
    staged += len(lines) - done
    return b"".join(pieces), LineMap(staged, runs)


# Each file's lines and style, by path and sha256: made once per run, ahead of time for
# the files read while the sandbox server loads the ledger (workflow.load).
_PREPARED: dict[tuple[Path, str], tuple[FileLines, Style]] = {}


def prepare(file: LedgerFile) -> tuple[FileLines, Style]:
    """The file's lines (offsets into its bytes) and its style, made once."""
    key = (file.path, file.sha256)
    found = _PREPARED.get(key)
    if found is None:
        if len(_PREPARED) >= 32:  # a long-lived caller (tests): keep it bounded
            _PREPARED.clear()
        lines = FileLines(file.data)
        found = _PREPARED[key] = (lines, detect_style(file.data))
    return found


def stage_items(ledger: Ledger, items: list[Proposal],
                targets: dict[str, Path] | None = None) -> Staged:
    """Copy the ledger tree to a temp dir and write `items` into the copy."""
    root = Path(tempfile.mkdtemp(prefix="beanagent-stage-"))
    common = Path(os.path.commonpath([str(p.parent) for p in ledger.files]))
    staged = {p: root / p.relative_to(common) for p in ledger.files}
    placement = Placement(ledger)
    chosen = {item.id: (targets or {}).get(item.id) or placement.file_for(item.spec)
              for item in items}
    by_file: dict[Path, dict[int, list[Proposal]]] = {}
    for item in items:
        path = chosen[item.id]
        index = insert_index(prepare(ledger.files[path])[0], placement.file_dated(path),
                             item.spec.date)
        by_file.setdefault(path, {}).setdefault(index, []).append(item)
    rank = {"open": 0, "transaction": 1, "balance": 2, "document": 3}
    for inserts in by_file.values():
        for group in inserts.values():
            group.sort(key=lambda it: (it.spec.date, rank[it.spec.kind]))
    new_bytes: dict[Path, bytes] = {}
    line_maps: dict[Path, LineMap] = {}
    texts: dict[str, str] = {}
    for path, inserts in by_file.items():
        style = prepare(ledger.files[path])[1]
        for group in inserts.values():
            for item in group:
                texts[item.id] = restyle(item.text, style)
    for path, info in ledger.files.items():
        target = staged[path]
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in by_file:
            new_bytes[path], line_map = _render_file(prepare(info)[0], by_file[path], texts)
            line_maps[target] = line_map
            target.write_bytes(new_bytes[path])
        else:
            target.write_bytes(info.data)
    _link_siblings(root, common, {p.parent for p in staged.values()})
    return Staged(root, staged[ledger.path], staged, new_bytes, line_maps, chosen, common,
                 texts)


def _link_siblings(root: Path, common: Path, staged_dirs: set[Path]) -> None:
    """Beside the copied ledger files, link whatever else the user's folders hold
    (documents, price files a plugin reads), so relative paths resolve in the copy as they
    do in the original. Links are read through, never written: staging only writes files
    it created, and cleanup removes links without following them."""
    for directory in sorted(staged_dirs):
        original = common / directory.relative_to(root)
        try:
            names = os.listdir(original)
        except OSError:
            continue
        for name in names:
            target = directory / name
            if not os.path.lexists(target):
                os.symlink(original / name, target)


def incremental_request(ledger: Ledger, stage: Staged) -> dict[str, dict[str, Any]]:
    """What the sandbox needs to check the stage without re-reading what didn't change:
    every file's sha256 as loaded, and for changed files the staged copy and its line map."""
    out: dict[str, dict[str, Any]] = {}
    for path, info in ledger.files.items():
        staged = stage.staged[path]
        changed = path in stage.new_bytes
        out[str(path)] = {"sha256": info.sha256, "staged": str(staged) if changed else None,
                          "line_map": stage.line_maps[staged].to_json() if changed else None}
    return out


def remove_stage(stage: Staged) -> None:
    """Remove a staged copy (links are removed, never followed)."""
    shutil.rmtree(stage.root, ignore_errors=True)


class Stages:
    """Every staged copy a run makes, removed in one place when the run is over."""

    def __init__(self) -> None:
        self._made: list[Staged] = []

    def stage(self, ledger: Ledger, items: list[Proposal]) -> tuple[Staged, list[Proposal]]:
        """Stage `items` (into --output/target_file when the user chose one); the items come
        back with the file each went into and its text as written there."""
        stage = stage_items(ledger, items, {i.id: ledger.target for i in items}
                            if ledger.target else None)
        self._made.append(stage)
        return stage, [dataclasses.replace(i, target=stage.targets[i.id],
                                           text=stage.texts[i.id]) for i in items]

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        for stage in self._made:
            remove_stage(stage)
        self._made.clear()
