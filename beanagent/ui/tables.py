"""Tables on the terminal: the proposals the reviewer scans (cells, widths, evidence),
`query` rows and `doctor`'s report. Untrusted text is always a `Text`, never markup, and
passed through `text.visible` (no control, bidi or separator character reaches the
terminal)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from beanagent.model import Proposal
from beanagent.settings import CONFIDENT
from beanagent.statements.model import Ref, Statement, StatementLine
from beanagent.text import visible


def _amount(item: Proposal, statements: Sequence[Statement]) -> str:
    spec = item.spec
    if spec.kind == "balance":
        return f"{spec.number} {spec.currency}"
    accounts = {st.account for st in statements}
    leg = next((p for p in spec.postings if p.account in accounts and p.number is not None),
               next((p for p in spec.postings if p.number is not None), None))
    return f"{leg.number} {leg.currency}" if leg else ""


def _counter(item: Proposal, statements: Sequence[Statement]) -> str:
    spec = item.spec
    if spec.kind != "transaction":
        return spec.account or ""
    accounts = {st.account for st in statements}
    others = [p.account for p in spec.postings if p.account not in accounts]
    return ", ".join(others) or spec.postings[-1].account


class EvidenceIndex:
    """The statement lines each proposal cites, looked up by ref (a table of 10k proposals
    would otherwise scan every line for every row). One per review."""

    def __init__(self, statements: Sequence[Statement]):
        self.statements = statements
        self._by_ref: dict[Ref, list[StatementLine]] = {}
        for st in statements:
            for ln in st.lines:
                self._by_ref.setdefault(ln.ref, []).append(ln)

    def lines(self, item: Proposal) -> list[StatementLine]:
        return [ln for ref in dict.fromkeys(item.spec.evidence)
                for ln in self._by_ref.get(ref, ())]


def is_low(item: Proposal, confident: Decimal = CONFIDENT) -> bool:
    """Flagged `!`, or a confidence below the user's `confident` setting."""
    spec = item.spec
    return spec.flag == "!" or (spec.confidence is not None and spec.confidence < confident)


def _evidence_cell(item: Proposal, evidence: EvidenceIndex) -> tuple[str, str]:
    """Where the evidence is (file:line) and what it says."""
    refs = item.spec.evidence
    if not refs:
        return "no statement line", ""
    first = refs[0]  # the statement's full path is in the lines above the table
    where = Path(first.file).name + (f":{first.line}" if first.line else "") \
        + (f" #{first.id}" if first.id and not first.line else "")
    lines = evidence.lines(item)
    more = f" (+{len(refs) - 1} more)" if len(refs) > 1 else ""
    return visible(where), visible(f"{more} {lines[0].description if lines else ''}".rstrip())


def fit_evidence(where: str, rest: str, width: int) -> str:
    """The evidence cell in `width`: the description is cut first, then the middle of
    the file name, so that the line number stays visible."""
    if len(where) <= width:
        return where + rest
    name, colon, line = where.rpartition(":")
    if not colon or width < len(line) + 3:
        return where
    return name[:width - len(line) - 2] + "…:" + line


def _label(item: Proposal) -> str:
    spec = item.spec
    return (spec.payee or spec.narration) if spec.kind == "transaction" else spec.kind


TABLE_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("", "left"), ("date", "left"), ("payee", "left"), ("amount", "right"),
    ("account", "left"), ("conf", "right"), ("statement line", "left"))
# Which column gives way first, and down to what width: ids, dates, amounts and
# confidences never do; the payee (also in the statement's text) before the evidence.
_SHRINK = ((2, 16), (6, 20), (2, 8), (6, 11), (4, 14))


def fit_columns(natural: list[int], width: int) -> tuple[list[int], int]:
    """Column widths within `width`, and the gap between columns (two spaces, one on a
    narrow terminal): the descriptive columns give way first, truncated with an
    ellipsis; ids, dates, amounts and confidences never do."""
    for gap in (2, 1):
        widths = list(natural)
        excess = sum(widths) + gap * (len(widths) - 1) - width
        for index, floor in _SHRINK:
            cut = min(max(excess, 0), max(0, widths[index] - floor))
            widths[index] -= cut
            excess -= cut
        if widths[4] == natural[4]:  # accounts shown whole
            break
    return widths, gap


def table_row(item: Proposal, evidence: EvidenceIndex, confident: Decimal = CONFIDENT
              ) -> tuple[list[str], tuple[str, str]]:
    """The proposal's cells in TABLE_COLUMNS order (flagged or low-confidence ids marked
    `!`), the last one left empty: the evidence comes apart, as (where, what it says), for
    `fit_evidence` once the column's width is known."""
    spec = item.spec
    statements = evidence.statements
    cells = [item.id + (" !" if is_low(item, confident) else ""), str(spec.date),
             visible(_label(item)), _amount(item, statements), visible(_counter(item, statements)),
             "" if spec.confidence is None else f"{spec.confidence:.2f}", ""]
    return cells, _evidence_cell(item, evidence)


def format_proposals_table(items: Sequence[Proposal], statements: Sequence[Statement],
                           width: int, confident: Decimal = CONFIDENT,
                           unproven: Collection[str] = ()) -> Table:
    """One row per proposal: what a reviewer scans before the questions. Flagged and
    low-confidence rows are marked `!` (and yellow, where there is colour); those the
    proof flags (`unproven`: unbacked, Equity, ...) are marked `!!` (and red)."""
    from rich.cells import cell_len

    evidence = EvidenceIndex(statements)
    rows = [table_row(item, evidence, confident) for item in items]
    natural = [max([cell_len(head)] + [cell_len(cells[i] + (where + rest if i == 6 else ""))
                                       for cells, (where, rest) in rows])
               for i, (head, _) in enumerate(TABLE_COLUMNS)]
    widths, gap = fit_columns(natural, width)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, gap, 0, 0))
    for (head, justify), size in zip(TABLE_COLUMNS, widths, strict=True):
        table.add_column(head, justify=justify, no_wrap=True, overflow="ellipsis", width=size)
    for item, (cells, (where, rest)) in zip(items, rows, strict=True):
        # Cells are Text, never markup: descriptions come from statements and models.
        if item.id in unproven:
            cells[0] = f"{item.id} !!"
        table.add_row(*(Text(c) for c in (*cells[:6], fit_evidence(where, rest, widths[6]))),
                      style="red" if item.id in unproven
                      else "yellow" if is_low(item, confident) else None)
    return table


# `query` and `doctor` output (stdout).


def render_rows(rows: list[dict[str, Any]]) -> None:
    console = Console(highlight=False, emoji=False)
    if not rows:
        console.print("(no rows)")
        return
    table = Table()
    for name in rows[0]:
        table.add_column(Text(visible(str(name))))
    for row in rows:
        table.add_row(*(Text(visible("" if v is None else str(v))) for v in row.values()))
    console.print(table)


def render_doctor(facts: dict[str, Any], layers: dict[str, Any], canaries: list[Any]) -> None:
    console = Console(highlight=False, emoji=False, soft_wrap=True)
    console.print(f"[bold]beanagent doctor[/] — Python {escape(visible(str(facts['python'])))} "
                  f"on {escape(visible(str(facts['platform'])))}")
    for name, version in facts["packages"].items():
        console.print(Text(visible(f"  {name:<11} {version}")))
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
        console.print(f"  {mark} {escape(label)}"
                      + (f" [dim]({escape(visible(note))})[/]" if note else ""))
    for kind, value in (layers.get("landlock_features") or {}).items():
        console.print(f"           [dim]Landlock {escape(visible(str(kind)))}: "
                      f"{escape(visible(str(value)))}[/]")
    if layers.get("missing"):
        console.print("[bold white on red] WEAK [/] [red]scripts will only run with "
                      "--allow-weak-sandbox[/]")
    console.print("[bold]self-test: canary attacks[/]")
    for canary in canaries:
        mark = "[green]blocked[/]" if canary.blocked else "[bold red]GOT THROUGH[/]"
        console.print(f"  {mark} {escape(canary.name)} "
                      f"[dim]{escape(visible(canary.detail[:70]))}[/]")
    bad = [c for c in canaries if not c.blocked]
    console.print("[green]all attacks failed[/]" if not bad else
                  f"[bold red]{len(bad)} attack(s) got through[/]")
