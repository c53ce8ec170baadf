"""Terminal output for `query` and `doctor`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def render_rows(rows: list[dict[str, Any]]) -> None:
    console = Console(highlight=False, emoji=False)
    if not rows:
        console.print("(no rows)")
        return
    table = Table()
    for name in rows[0]:
        table.add_column(name)
    for row in rows:
        table.add_row(*(escape("" if v is None else str(v)) for v in row.values()))
    console.print(table)


def render_doctor(facts: dict[str, Any]) -> None:
    console = Console(highlight=False, emoji=False)
    console.print(f"[bold]beanagent doctor[/] — Python {facts['python']} on {facts['platform']}")
    for name, version in facts["packages"].items():
        console.print(f"  {name:<10} {version}")
    console.print("[bold]sandbox layers[/]")
    for layer, state in facts["sandbox"].items():
        colour = "green" if state == "active" else "yellow"
        console.print(f"  [{colour}]{state:<12}[/] {layer}" if state == "active"
                      else f"  [{colour}]{layer}: {state}[/]")
