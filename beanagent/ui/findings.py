"""The findings of a run without statements (core/findings.py), on the terminal: one
block per finding, where it is, what is wrong and the fix. Ledger text is hostile: every
part goes through `text.visible` and is printed as `Text`, never markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from beanagent.model import Finding
from beanagent.text import display_path, visible

LABELS = {"balance": "balance fails", "transfer-twice": "transfer twice",
          "transfer-one-side": "one-sided transfer", "duplicate": "likely duplicate",
          "stale-flag": "stale !", "dormant": "gone quiet"}
STYLES = {"balance": "red", "transfer-twice": "yellow", "transfer-one-side": "yellow",
          "duplicate": "yellow", "stale-flag": "cyan", "dormant": "magenta"}


def format_where(item: Finding) -> str:
    return f"{display_path(item.file)}:{item.line}"


def format_findings(items: Sequence[Finding]) -> Text:
    """The whole list; with none, a line saying what was checked."""
    if not items:
        return Text("No findings: every balance assertion holds, and no transfer booked "
                    "twice or on one side, duplicate, stale ! or account gone quiet was "
                    "found.", style="green")
    out = Text()
    out.append(f"Findings ({len(items)})", style="bold")
    out.append(": what the ledger alone shows. Nothing is written; each names its fix.\n",
               style="dim")
    width = max(len(LABELS.get(i.kind, i.kind)) for i in items)
    for n, item in enumerate(items, 1):
        label = LABELS.get(item.kind, item.kind)
        out.append(f"F{n:<3}")
        out.append(visible(label).ljust(width), style=STYLES.get(item.kind, ""))
        out.append(" ")
        out.append(visible(format_where(item)), style="bold")
        out.append(" " + visible(item.message) + "\n")
        out.append(" " * (5 + width) + "fix: ", style="green")
        out.append(visible(item.fix) + "\n")
    out.rstrip()
    return out
