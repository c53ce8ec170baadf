"""All terminal output: progress, the outcome, the coloured diff, and the review.

Human output goes to stderr so that `--json` keeps stdout for the report. `NO_COLOR` is
respected by rich itself; progress is a transient spinner only on an interactive terminal,
elsewhere each stage is one plain line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from beanagent.agent import AgentRun, Step
from beanagent.proposals import ProposalError
from beanagent.report import BalanceCheck, Outcome, display_path
from beanagent.review import (
    LOW_CONFIDENCE,
    TABLE_COLUMNS,
    Decision,
    evidence_lines,
    fit_columns,
    fit_evidence,
    format_for_edit,
    is_low,
    same_entry,
    table_row,
)
from beanagent.stage import Item
from beanagent.statements.model import Statement

KEYS = "[y/n/e/a/q/?]"
HELP = """\
  y  yes: accept this entry
  n  no: reject it
  e  edit it in your editor ($EDITOR, else $VISUAL, else vi); the edit is checked first
  a  all: accept this entry and all the rest
  q  quit: reject this entry and the rest (what you accepted is still written)
  ?  this help"""
EDIT_HELP = """\
  e  edit again (your last attempt is kept)
  k  keep the entry as it was before this edit, and accept it
  n  reject the entry"""


def format_proposals_table(items: list[Item], statements: list[Statement],
                           width: int) -> Table:
    """One row per proposal: what a reviewer scans before the questions. Flagged and
    low-confidence rows are marked `!` (and yellow, where there is colour)."""
    from rich.cells import cell_len

    rows = [table_row(item, statements) for item in items]
    natural = [max([cell_len(head)] + [cell_len(cells[i] + (where + rest if i == 6 else ""))
                                       for cells, (where, rest) in rows])
               for i, (head, _) in enumerate(TABLE_COLUMNS)]
    widths, gap = fit_columns(natural, width)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold",
                  padding=(0, gap, 0, 0))
    for (head, justify), size in zip(TABLE_COLUMNS, widths, strict=True):
        table.add_column(head, justify=justify,  # type: ignore[arg-type]
                         no_wrap=True, overflow="ellipsis", width=size)
    for item, (cells, (where, rest)) in zip(items, rows, strict=True):
        table.add_row(*cells[:6], fit_evidence(where, rest, widths[6]),
                      style="yellow" if is_low(item) else None)
    return table


def format_usage(run: AgentRun, seconds: float) -> str:
    """The LLM agent's bill: steps, gate rounds, tokens and the estimated cost."""
    u = run.usage or {}
    cached, written = int(u.get("cache_read_input_tokens") or 0), \
        int(u.get("cache_creation_input_tokens") or 0)
    tokens_in = int(u.get("input_tokens") or 0) + cached + written
    cost = u.get("cost_usd")
    rounds = f", {run.rounds} gate round{'s' * (run.rounds != 1)}" if run.rounds else ""
    return (f"{run.name} agent" + (f" ({run.model})" if run.model else "")
            + f": {len(run.steps)} step{'s' * (len(run.steps) != 1)}{rounds}, {seconds:.1f} s, "
            f"{tokens_in:,} tokens in ({cached:,} read from cache, {written:,} written to it), "
            f"{int(u.get('output_tokens') or 0):,} out; "
            + (f"about ${cost:.4f} (estimated from list prices)" if cost is not None
               else "cost unknown for this model"))


def format_balance(b: BalanceCheck) -> Text:
    if b.reconciles:
        return Text(f"balance {b.account} on {b.date}: {b.statement} {b.currency} reconciles",
                    style="green")
    return Text(f"balance {b.account} on {b.date}: statement {b.statement}, ledger {b.ledger}, "
                f"difference {b.difference} {b.currency}", style="red")


def _indent(text: str) -> str:
    return "\n".join("  " + row for row in text.rstrip("\n").split("\n"))


class EditorFailed(Exception):
    pass


def _run_editor(text: str) -> str | None:
    """The user's editor on `text`; None when they quit without saving. click's `edit`
    (click comes with beangulp; typer's vendored copy has no `edit`) handles the temp file,
    editors given with arguments ("code --wait") and the "was it saved" test; we name the
    editor ourselves because click looks at $VISUAL before $EDITOR."""
    import click

    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    try:
        result = click.edit(text, editor=editor, extension=".beancount", require_save=True)
    except click.ClickException as exc:
        raise EditorFailed(exc.format_message()) from None
    except UnicodeDecodeError:
        raise EditorFailed("the edited file is not UTF-8 text") from None
    return None if result is None else str(result)


class ConsoleUI:
    def __init__(self, stream: TextIO | None = None, show_output: bool = True):
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True,
                               emoji=False)
        self.show_output = show_output  # what scripts print (always shown when they fail)
        self._live: Any = None  # rich.live.Live: the spinner of the current status
        self._current: tuple[str, float] = ("", 0.0)  # its message and start time

    def status(self, message: str) -> None:
        """A stage that may take a while. On an interactive terminal: a transient spinner
        with the elapsed time, replaced by a plain line once the stage is over; elsewhere
        (pipes, TERM=dumb) just the plain line: no cursor movement, no frames."""
        self._settle()
        if not self.console.is_interactive:
            self.console.print(f"[dim]… {escape(message)}[/]")
            return
        from rich.live import Live
        from rich.spinner import Spinner

        spinner = Spinner("dots", text=Text(message, style="dim"))

        def frame() -> RenderableType:
            elapsed = time.monotonic() - self._current[1]
            spinner.update(text=Text(f"{message} ({elapsed:.0f} s)" if elapsed >= 1
                                     else message, style="dim"))
            return spinner

        self._current = (message, time.monotonic())
        # stdout stays untouched: it carries the --json report
        self._live = Live(console=self.console, transient=True, refresh_per_second=10,
                          redirect_stdout=False, get_renderable=frame)
        self._live.start(refresh=True)

    def _settle(self) -> None:
        """End the spinner (if any), leaving the finished stage as a line with its time."""
        if self._live is None:
            return
        self._live.stop()
        self._live = None
        message, started = self._current
        self.console.print(f"[dim]… {escape(message)} ({time.monotonic() - started:.1f} s)[/]")

    def close(self) -> None:
        """Restore the terminal (cursor, spinner line) whatever happened."""
        self._settle()

    def warn(self, message: str) -> None:
        self._settle()
        self.console.print(f"[yellow]warning:[/] {escape(message)}")

    def error(self, message: str) -> None:
        self._settle()
        self.console.print(f"[bold red]error:[/] {escape(message)}")

    def step(self, step: Step) -> None:
        self._settle()
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
        self._settle()
        self.console.print(
            "[bold white on red] WEAK SANDBOX [/] [red]scripts run without: "
            + escape("; ".join(missing))
            + ". They can read your files and reach the network. Each script is shown "
            "before it runs.[/]")

    def script(self, code: str) -> None:
        from rich.syntax import Syntax

        self._settle()
        self.console.print("[bold red]about to run this script:[/]")
        self.console.print(Syntax(code, "python", line_numbers=True, theme="ansi_dark"))

    def outcome(self, o: Outcome) -> None:
        self._settle()
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
            low = sum(is_low(i) for i in o.items)
            c.print(f"[bold]Proposals ({len(o.items)})[/]" + (
                f" [yellow]{low} marked ! (flagged, or confidence below {LOW_CONFIDENCE}): "
                f"check {'it' if low == 1 else 'them'} closely[/]" if low else ""))
            c.print(format_proposals_table(o.items, o.statements, c.width), soft_wrap=False)
        else:
            c.print("[green]Nothing to propose: the ledger already has every statement line.[/]")
        if o.balance is not None:
            b = o.balance
            c.print(format_balance(b))
            if not b.reconciles:
                for culprit in b.culprits:
                    where = ", ".join(display_path(w) for w in culprit.where)
                    c.print(f"  [yellow]likely culprit[/] {escape(culprit.explanation)}"
                            + (f" [dim]({escape(where)})[/]" if where else ""))
        if o.gate is not None and not o.gate.passed:
            c.print("[bold red]The staged ledger fails bean-check; nothing will be written:[/]")
            for e in o.gate.errors:
                c.print(f"  [red]{escape(str(e))}[/]")

    def diff(self, text: str) -> None:
        self._settle()
        out = Text()  # one print: rich's per-call cost dominated long diffs (10k entries)
        for line in text.splitlines():
            style = ("bold" if line.startswith(("+++", "---")) else "green"
                     if line.startswith("+") else "red" if line.startswith("-")
                     else "cyan" if line.startswith("@@") else "")
            out.append(line + "\n", style=style)
        out.rstrip()
        self.console.print(out)

    # --- the review ---------------------------------------------------------------------

    def _ask(self, prompt: str, on_eof: str) -> str:
        try:
            return self.console.input(prompt, markup=False).strip().lower()
        except EOFError:
            return on_eof

    def _show(self, item: Item, position: str, statements: list[Statement]) -> None:
        c = self.console
        spec = item.spec
        head = Text()
        head.append(item.id, style="bold")
        head.append(f" {position} → {display_path(item.target or '')}")
        if spec.flag == "!":
            head.append("  ! flagged for review", style="bold yellow")
        if spec.confidence is not None and spec.confidence < LOW_CONFIDENCE:
            head.append(f"  low confidence {spec.confidence:.2f}", style="bold yellow")
        c.print()
        c.print(head)
        c.print(Text(_indent(item.text), style="green"))
        for line in evidence_lines(item, statements):
            c.print(Text(f"  statement {line.ref}: {line.date} {line.amount} "
                         f"{line.description}", style="dim"))
        if spec.reason:
            c.print(Text(f"  why: {spec.reason}", style="dim"))

    def approve(self, items: list[Item], statements: list[Statement],
                revise: Callable[[Item, str], Item]) -> list[Decision]:
        """One decision per proposal, in order. `revise` checks an edit (raising
        ProposalError with the reason it is refused) and returns the edited proposal."""
        self._settle()
        decisions: list[Decision] = []
        for index, item in enumerate(items):
            decision, rest = self._decide(item, f"{index + 1}/{len(items)}", statements,
                                          revise)
            decisions.append(decision)
            if rest is not None:
                decisions.extend(Decision(i.id, rest) for i in items[index + 1:])
                break
        return decisions

    def _decide(self, item: Item, position: str, statements: list[Statement],
                revise: Callable[[Item, str], Item]) -> tuple[Decision, bool | None]:
        """The decision on `item`, and True/False when it also decides all the rest."""
        shown, text = item, None  # the version on screen; the accepted edit, if any
        self._show(item, position, statements)
        while True:
            answer = self._ask(f"Accept {item.id}? {KEYS} ", on_eof="q")
            if answer in ("y", "yes"):
                return Decision(item.id, True, text), None
            if answer in ("n", "no"):
                return Decision(item.id, False), None
            if answer in ("a", "all"):
                return Decision(item.id, True, text), True
            if answer in ("q", "quit"):
                return Decision(item.id, False), False
            if answer not in ("e", "edit"):
                self.console.print(HELP)
                continue
            result, revised = self._edit(item, shown, revise)
            if result == "keep":
                return Decision(item.id, True, text), None
            if result == "reject":
                return Decision(item.id, False), None
            if revised is not None:
                back = same_entry(revised, item)
                shown, text = (item, None) if back else (revised, revised.text)
                self.console.print(Text(f"{item.id} edited" + (" (back to the proposal)"
                                                                if back else "") + ":",
                                        style="bold"))
                self._entry_diff(item.text, shown.text)

    def _entry_diff(self, old: str, new: str) -> None:
        """The edit as a line diff that ignores re-alignment (a longer account name moves
        every amount): changed lines in red/green, the rest as they now read."""
        import difflib

        a, b = old.rstrip("\n").split("\n"), new.rstrip("\n").split("\n")
        matcher = difflib.SequenceMatcher(None, [" ".join(r.split()) for r in a],
                                          [" ".join(r.split()) for r in b], autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                for row in b[j1:j2]:
                    self.console.print(Text("    " + row))
                continue
            for row in a[i1:i2]:
                self.console.print(Text("  - " + row, style="red"))
            for row in b[j1:j2]:
                self.console.print(Text("  + " + row, style="green"))

    def _edit(self, item: Item, shown: Item,
              revise: Callable[[Item, str], Item]) -> tuple[str, Item | None]:
        """("edited", new item), ("same", None), or after a refused edit the user's choice:
        ("keep", None) or ("reject", None)."""
        c = self.console
        buffer = format_for_edit(shown)
        while True:
            try:
                edited = _run_editor(buffer)
            except EditorFailed as exc:
                error, attempt = f"the editor failed: {exc}", buffer
            else:
                if edited is None:
                    c.print(f"{item.id}: not saved, unchanged")
                    return "same", None
                try:
                    revised = revise(item, edited)
                except ProposalError as exc:
                    error, attempt = str(exc), edited
                else:
                    if same_entry(revised, shown):
                        c.print(f"{item.id}: unchanged")
                        return "same", None
                    return "edited", revised
            c.print(Text.assemble(("edit not accepted: ", "bold red"), error))
            while True:
                answer = self._ask("Edit again, keep it as it was, or reject it? [e/k/n/?] ",
                                   on_eof="n")
                if answer in ("e", "edit"):
                    buffer = format_for_edit(item, attempt, error)
                    break
                if answer in ("k", "keep"):
                    c.print(f"{item.id}: kept as it was")
                    return "keep", None
                if answer in ("n", "no", "r", "reject"):
                    return "reject", None
                c.print(EDIT_HELP)

    def summary(self, o: Outcome) -> None:
        """Before anything is written: what the review decided and where the balance stands."""
        self._settle()
        accepted = o.accepted or []
        said_yes = [d.id for d in o.decisions if d.accepted]
        dropped = [i for i in said_yes if i not in accepted]
        edited = [i for i in o.edited if i in accepted]
        line = Text()
        line.append(f"{len(accepted)} accepted", style="bold")
        if edited:
            line.append(f" ({len(edited)} edited)")
        line.append(f", {sum(not d.accepted for d in o.decisions)} rejected")
        if dropped:
            line.append(f", {len(dropped)} dropped by the check ({', '.join(dropped)})",
                        style="yellow")
        if o.balance is not None:
            line.append("; ")
            line.append_text(format_balance(o.balance))
        self.console.print(line)
        if o.gate is not None and not o.gate.passed:
            self.console.print("[bold red]The accepted entries fail bean-check; nothing will "
                               "be written:[/]")
            for e in o.gate.errors:
                self.console.print(f"  [red]{escape(str(e))}[/]")

    def finish(self, o: Outcome) -> None:
        self._settle()
        c = self.console
        if o.agent is not None and o.agent.usage is not None:
            c.print(Text(format_usage(o.agent, o.agent_seconds), style="dim"))
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
