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


def render_doctor(facts: dict[str, Any], layers: dict[str, Any], canaries: list[Any]) -> None:
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    console.print(f"[bold]beanagent doctor[/] — Python {facts['python']} on {facts['platform']}")
    for name, version in facts["packages"].items():
        console.print(f"  {name:<11} {version}")
    console.print("[bold]sandbox layers[/]")
    abi = layers.get("landlock_abi") or 0
    rows = [
        ("separate process, scrubbed environment, no tty, own session", True, ""),
        ("fresh forked child per script; wall-clock kill; output and result caps", True, ""),
        ("rlimits: CPU, address space, file size, open files, stack, core", True, ""),
        ("user + network namespace", bool(layers.get("namespaces")),
         "" if layers.get("namespaces") else "not allowed here (optional)"),
        (f"Landlock ABI {abi}", abi > 0, str(layers.get("landlock_error") or "")),
        ("seccomp deny-list (x32-safe, via libseccomp)", bool(layers.get("seccomp")),
         str(layers.get("seccomp_error") or "")),
    ]
    for label, on, note in rows:
        mark = "[green]active [/]" if on else "[red]missing[/]"
        console.print(f"  {mark} {escape(label)}" + (f" [dim]({escape(note)})[/]" if note else ""))
    for kind, value in (layers.get("landlock_features") or {}).items():
        console.print(f"           [dim]Landlock {kind}: {escape(value)}[/]")
    if layers.get("missing"):
        console.print("[bold white on red] WEAK [/] [red]scripts will only run with "
                      "--allow-weak-sandbox[/]")
    console.print("[bold]self-test: canary attacks[/]")
    for canary in canaries:
        mark = "[green]blocked[/]" if canary.blocked else "[bold red]GOT THROUGH[/]"
        console.print(f"  {mark} {escape(canary.name)} [dim]{escape(canary.detail[:70])}[/]")
    bad = [c for c in canaries if not c.blocked]
    console.print("[green]all attacks failed[/]" if not bad else
                  f"[bold red]{len(bad)} attack(s) got through[/]")
