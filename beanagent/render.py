"""All terminal output: progress, the outcome, the coloured diff, and the approval prompt.

Human output goes to stderr so that `--json` keeps stdout for the report. `NO_COLOR` and
non-terminal output are respected by rich itself.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from beanagent.agent import Step
from beanagent.report import Outcome, display_path
from beanagent.stage import Item
from beanagent.statements.model import Statement, StatementLine

HELP = "y = accept, n = reject, a = accept this and all the rest, q = reject this and the rest"


def _amount(item: Item, statements: list[Statement]) -> str:
    spec = item.spec
    if spec.kind == "balance":
        return f"{spec.number} {spec.currency}"
    accounts = {st.account for st in statements}
    leg = next((p for p in spec.postings if p.account in accounts and p.number is not None),
               next((p for p in spec.postings if p.number is not None), None))
    return f"{leg.number} {leg.currency}" if leg else ""


def _counter(item: Item, statements: list[Statement]) -> str:
    spec = item.spec
    if spec.kind != "transaction":
        return spec.account or ""
    accounts = {st.account for st in statements}
    others = [p.account for p in spec.postings if p.account not in accounts]
    return ", ".join(others) or spec.postings[-1].account


def _evidence(item: Item, statements: list[Statement]) -> list[StatementLine]:
    refs = set(item.spec.evidence)
    return [ln for st in statements for ln in st.lines if ln.ref in refs]


class ConsoleUI:
    def __init__(self, stream: TextIO | None = None, show_output: bool = True):
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True,
                               emoji=False)
        self.show_output = show_output  # what scripts print (always shown when they fail)

    def status(self, message: str) -> None:
        self.console.print(f"[dim]… {escape(message)}[/]")

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    def error(self, message: str) -> None:
        self.console.print(f"[bold red]error:[/] {escape(message)}")

    def step(self, step: Step) -> None:
        r = step.result
        mark = "[green]ok[/]" if r.ok else "[red]failed[/]"
        self.console.print(f"[bold]step {step.index}[/] {mark} "
                           f"({r.seconds:.2f} s, {len(r.proposals)} proposal(s))")
        if r.output.strip() and (self.show_output or not r.ok):
            self.console.print(Text(r.output.rstrip(), style="dim"))
        if r.output_truncated:
            self.console.print("[dim](output truncated)[/]")
        if r.error:
            self.console.print(Text(r.error, style="red"))

    def weak_sandbox(self, missing: list[str]) -> None:
        self.console.print(
            "[bold white on red] WEAK SANDBOX [/] [red]scripts run without: "
            + escape("; ".join(missing))
            + ". They can read your files and reach the network. Each script is shown "
            "before it runs.[/]")

    def script(self, code: str) -> None:
        from rich.syntax import Syntax

        self.console.print("[bold red]about to run this script:[/]")
        self.console.print(Syntax(code, "python", line_numbers=True, theme="ansi_dark"))

    def outcome(self, o: Outcome) -> None:
        c = self.console
        for st, result in zip(o.statements, o.matches, strict=True):
            c.print(f"[bold]{escape(st.file)}[/] ({st.format}, {st.account}, {st.start} to "
                    f"{st.end}): {len(st.lines)} lines, [green]{len(result.matches)} booked[/], "
                    f"[yellow]{len(result.missing)} missing[/], "
                    f"{len(result.ledger_only)} only in the ledger")
            for lo in result.ledger_only:
                c.print(f"  [magenta]ledger only[/] {display_path(lo.txn.file)}:{lo.txn.line} "
                        f"{lo.txn.date} {lo.amount} {st.currency} "
                        f"{escape(lo.txn.payee or lo.txn.narration)} — {escape(lo.reason)}")
            for m in result.matches:
                if m.discrepancy:
                    c.print(f"  [red]amount typo[/] {display_path(m.txn.file)}:{m.txn.line} "
                            f"{m.txn.date} {escape(m.txn.payee or m.txn.narration)} — "
                            f"{escape(m.note or '')}")
        if o.items:
            c.print("[bold]Proposals[/]")
            amounts = [_amount(i, o.statements) for i in o.items]
            counters = [_counter(i, o.statements) for i in o.items]
            wa = max(map(len, amounts))
            wc = max(map(len, counters))
            for item, amt, counter in zip(o.items, amounts, counters, strict=True):
                spec = item.spec
                low = spec.flag == "!" or (spec.confidence is not None
                                           and spec.confidence < Decimal("0.6"))
                conf = "    " if spec.confidence is None else f"{spec.confidence:.2f}"
                ev = ", ".join(f"{display_path(r.file)}:{r.line}" + (f" #{r.id}" if r.id else "")
                               for r in spec.evidence) or "no statement line"
                label = spec.payee or spec.narration or spec.kind
                row = (f"  {item.id:<4} {spec.date} {amt:>{wa}}  {counter:<{wc}}  {conf}  "
                       f"{label[:40]}  [{ev}]")
                c.print(Text(row, style="yellow" if low else ""))
        else:
            c.print("[green]Nothing to propose: the ledger already has every statement line.[/]")
        if o.balance is not None:
            b = o.balance
            if b.reconciles:
                c.print(f"[green]balance {b.account} on {b.date}: {b.statement} {b.currency} "
                        "reconciles[/]")
            else:
                c.print(f"[red]balance {b.account} on {b.date}: statement {b.statement}, ledger "
                        f"{b.ledger}, difference {b.difference} {b.currency}[/]")
                for culprit in b.culprits:
                    where = ", ".join(display_path(w) for w in culprit.where)
                    c.print(f"  [yellow]likely culprit[/] {escape(culprit.explanation)}"
                            + (f" [dim]({escape(where)})[/]" if where else ""))
        if o.gate is not None and not o.gate.passed:
            c.print("[bold red]The staged ledger fails bean-check; nothing will be written:[/]")
            for e in o.gate.errors:
                c.print(f"  [red]{escape(str(e))}[/]")

    def diff(self, text: str) -> None:
        for line in text.splitlines():
            style = ("bold" if line.startswith(("+++", "---")) else "green"
                     if line.startswith("+") else "red" if line.startswith("-")
                     else "cyan" if line.startswith("@@") else "")
            self.console.print(Text(line, style=style))

    def approve(self, items: list[Item], statements: list[Statement]) -> list[str]:
        accepted: list[str] = []
        for index, item in enumerate(items):
            c = self.console
            spec = item.spec
            flag = " [yellow](flagged for review)[/]" if spec.flag == "!" else ""
            c.print(f"\n[bold]{item.id}[/] {index + 1}/{len(items)} → "
                    f"{escape(display_path(item.target or ''))}{flag}")
            c.print(Text(item.text.rstrip(), style="green"))
            for line in _evidence(item, statements):
                c.print(f"  [dim]statement {escape(str(line.ref))}: {line.date} {line.amount} "
                        f"{escape(line.description)}[/]")
            if spec.reason:
                c.print(f"  [dim]why: {escape(spec.reason)}[/]")
            while True:
                try:
                    answer = c.input("Accept? [y/n/a/q/?] ", markup=False).strip().lower()
                except EOFError:
                    answer = "q"
                if answer in ("y", "yes"):
                    accepted.append(item.id)
                    break
                if answer in ("n", "no"):
                    break
                if answer in ("a", "all"):
                    return accepted + [i.id for i in items[index:]]
                if answer in ("q", "quit"):
                    return accepted
                c.print(HELP)
        return accepted

    def finish(self, o: Outcome) -> None:
        c = self.console
        if o.committed:
            n = len(o.accepted or [])
            files = ", ".join(display_path(p) for p in o.written)
            c.print(f"[bold green]Wrote {n} entr{'y' if n == 1 else 'ies'} to {files}.[/]")
        elif o.accepted is not None and not o.accepted:
            c.print("Nothing accepted; the ledger is unchanged.")
        elif o.items and o.gate is not None and o.gate.passed and o.accepted is None:
            c.print("[dim]Dry run: nothing written.[/]")


# `query` and `doctor` output (stdout).


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
