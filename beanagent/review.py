"""What the user reviews: a unified diff of every file the proposals change."""

from __future__ import annotations

import difflib

from beanagent.load import Ledger
from beanagent.report import display_path
from beanagent.stage import Stage, split_lines


def format_diff(ledger: Ledger, stage: Stage, context: int = 2) -> str:
    chunks = []
    for path, new in sorted(stage.new_bytes.items()):
        old_lines = split_lines(ledger.files[path].data.decode("utf-8"))
        new_lines = split_lines(new.decode("utf-8"))
        name = display_path(path)
        chunks.extend(difflib.unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}",
                                           n=context))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
