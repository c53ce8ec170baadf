"""The inbox listing (`reconcile LEDGER --list`, and the first screen of a bare run): one
row per file with its format, account, period, line count and status, then one line per
file that can't run saying why. File names and reasons come from the user's folder and the
statements: plain `Text`, through `text.visible`, never markup."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from beanagent.statements.inbox import BEFORE, HELD, NEW, UNIDENTIFIED, UNREADABLE, Inbox, InboxFile
from beanagent.text import visible


def format_inbox_summary(inbox: Inbox) -> str:
    """`inbox (inbox/**/*): 3 files, 2 new, 1 reconciled before, 1 unidentified`."""
    parts = [f"{len(inbox.files)} file{'s' if len(inbox.files) != 1 else ''}"]
    for status in (NEW, BEFORE, UNIDENTIFIED, UNREADABLE, HELD):
        n = inbox.count(status)
        if n:
            parts.append(f"{n} {status}")
    return f"inbox ({', '.join(inbox.patterns)}): {', '.join(parts)}"


def _status(f: InboxFile) -> str:
    return f"{BEFORE} ({f.before})" if f.status == BEFORE and f.before else f.status


def _row(f: InboxFile) -> list[Text]:
    period = f"{f.first} to {f.last}" if f.first and f.last else ""
    return [Text(visible(f.display)), Text(visible(f.format)),
            Text(visible(", ".join(f.accounts))), Text(period),
            Text(str(f.lines) if f.statements else "", justify="right"),
            Text(visible(_status(f)), style="" if f.status in (NEW, BEFORE) else "yellow")]


def render_inbox(inbox: Inbox, stream: TextIO | None = None) -> None:
    console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True, emoji=False)
    if not console.is_terminal:  # a pipe or a file: whole names, not a terminal's width
        console.width = 1000
    console.print(Text(visible(format_inbox_summary(inbox))))
    if not inbox.files:
        return
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in ("file", "format", "account", "period", "lines", "status"):
        table.add_column(name, no_wrap=name in ("format", "period", "lines"),
                         overflow="fold")
    for f in inbox.files:
        table.add_row(*_row(f))
    with console.capture() as captured:
        console.print(table)
    # Cells are padded to the column's width: no line ends in blanks.
    console.file.write("".join(ln.rstrip() + "\n" for ln in captured.get().splitlines()))
    for f in inbox.files:
        if f.reason:
            console.print(Text(visible(f"  {f.display}: {f.status}: {f.reason}")))
