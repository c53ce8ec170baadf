"""The gate without re-parsing what did not change.

bean-check of the staged copy is parse → book → plugins → validate. The sandbox server has
already parsed the original; staging only inserts whole entries between existing ones. So
the check child takes the original's parsed entries, parses just the inserted blocks with
beancount's parser, gives every entry of a touched file the file name and line number it
has in the staged copy, and runs beancount's own booking, plugins and validation on that:
the same entries, in the same order, with the same locations as a parse of the staged
files. Where that equivalence could break (`pushtag`/`pushmeta` state in a touched file, a
block that does not parse cleanly into the expected entries) the child parses the staged
copy in full instead.
"""

from __future__ import annotations

import bisect
import copy
import re
from pathlib import Path
from typing import Any

from beanagent.stage import Stage, split_lines

_PARSER_STATE = re.compile(r"^[ \t]*(pushtag|poptag|pushmeta|popmeta)\b", re.MULTILINE)


def splice_spec(stage: Stage, original_texts: dict[Path, str]) -> dict[str, Any] | None:
    """What the check child needs to rebuild the staged parse, or None when a touched
    file carries parser state (then the child parses the staged copy in full)."""
    files = []
    for original, new in stage.new_bytes.items():
        if _PARSER_STATE.search(original_texts[original]):
            return None
        staged = stage.staged[original]
        line_map = stage.line_maps[staged]
        new_lines = split_lines(new.decode("utf-8"))
        blocks: list[dict[str, Any]] = []
        for index, where in enumerate(line_map):
            if not isinstance(where, str):
                continue
            if blocks and blocks[-1]["end"] == index:
                block = blocks[-1]
            else:
                # The original line the block stands before (len + 1 at the end of file).
                before = next((w for w in line_map[index:] if isinstance(w, int)),
                              len(split_lines(original_texts[original])) + 1)
                block = {"start": index + 1, "end": index, "before": before, "lines": [],
                         "ids": []}
                blocks.append(block)
            block["end"] = index + 1
            block["lines"].append(new_lines[index])
            if where not in block["ids"]:
                block["ids"].append(where)
        files.append({"original": str(original), "staged": str(staged),
                      "blocks": [{"start": b["start"], "before": b["before"],
                                  "text": "".join(b["lines"]), "entries": len(b["ids"])}
                                 for b in blocks]})
    return {"files": files}


class ParsedOriginal:
    """The server's parse of the original ledger, kept before booking consumes it."""

    def __init__(self, entries: list[Any], errors: list[Any], options: dict[str, Any]):
        self.by_file: dict[str, list[Any]] = {}
        for entry in entries:
            self.by_file.setdefault(str(entry.meta.get("filename")), []).append(entry)
        self.errors = list(errors)
        self.options = copy.deepcopy(options)


def _relocate(meta: dict[str, Any] | None, filename: str, shift: Any) -> dict[str, Any] | None:
    if not meta or "lineno" not in meta:
        return meta
    return {**meta, "filename": filename, "lineno": shift(meta["lineno"])}


def spliced_load(original: ParsedOriginal, spec: dict[str, Any]
                 ) -> tuple[list[Any], list[Any], dict[str, Any]] | None:
    """Entries, errors and options as `loader._load` returns them for the staged copy, or
    None when the splice can't be trusted to equal a full parse."""
    from beancount import loader
    from beancount.core import data
    from beancount.ops import validation
    from beancount.parser import booking, parser

    touched = {f["original"]: f for f in spec["files"]}
    entries: list[Any] = []
    errors: list[Any] = []
    for filename, file_entries in original.by_file.items():
        info = touched.get(filename)
        if info is None:
            entries.extend(file_entries)
            continue
        points = [b["before"] for b in info["blocks"]]
        counts = [len(split_lines(b["text"])) for b in info["blocks"]]
        cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]

        def shift(lineno: int, points: list[int] = points,
                  cumulative: list[int] = cumulative) -> int:
            at = bisect.bisect_right(points, lineno)
            return lineno + (cumulative[at - 1] if at else 0)

        staged = info["staged"]
        for entry in file_entries:
            meta = _relocate(entry.meta, staged, shift)
            replaced = entry._replace(meta=meta)
            if isinstance(entry, data.Transaction):
                replaced = replaced._replace(postings=[
                    p._replace(meta=_relocate(p.meta, staged, shift)) for p in entry.postings])
            entries.append(replaced)
        for block in info["blocks"]:
            new, block_errors, _ = parser.parse_string(block["text"], report_filename=staged)
            if block_errors or len(new) != block["entries"]:
                return None
            offset = block["start"] - 1
            for entry in new:
                meta = _relocate(entry.meta, staged, lambda n, o=offset: n + o)
                entry = entry._replace(meta=meta)
                if isinstance(entry, data.Transaction):
                    entry = entry._replace(postings=[
                        p._replace(meta=_relocate(p.meta, staged, lambda n, o=offset: n + o))
                        for p in entry.postings])
                entries.append(entry)
    for err in original.errors:
        source = getattr(err, "source", None) or {}
        info = touched.get(str(source.get("filename")))
        if info is not None:
            return None  # a parse error in a touched file: let the full parse report it
        errors.append(err)
    options = copy.deepcopy(original.options)
    entries.sort(key=data.entry_sortkey)
    entries, booking_errors = booking.book(entries, options)
    errors.extend(booking_errors)
    entries, errors = loader.run_transformations(entries, errors, options, None)
    errors.extend(validation.validate(entries, options, None, None))
    return entries, errors, options
