"""All terminal output: progress, the outcome, the coloured diff, and the review.

Human output goes to stderr so that `--json` keeps stdout for the report. `NO_COLOR` is
respected by rich itself; progress is a transient spinner only on an interactive terminal,
elsewhere each stage is one plain line.

Text from statements, ledgers, file names and models is hostile: it is never markup (only
`Text` objects and fixed markup strings are printed) and always goes through `_show`
(`text.visible`), so that no control, bidi or separator character reaches the terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console, RenderableType
from rich.text import Text

from beanagent.core.proof import Proof
from beanagent.model import (
    ENDINGS,
    AgentRun,
    BalanceCheck,
    Decision,
    Finding,
    Proposal,
    RunResult,
    Step,
)
from beanagent.settings import CONFIDENT
from beanagent.statements.model import Statement, StatementLine
from beanagent.text import display_path, visible
from beanagent.ui.findings import format_findings
from beanagent.ui.prompt import Review, Revise
from beanagent.ui.tables import format_proposals_table, is_low


def _show(value: object) -> str:
    """Untrusted text for one line of the terminal: every control made visible."""
    return visible(str(value))


def _line(*parts: str | tuple[str, str]) -> Text:
    """A line of fixed labels and data: each part plain text or (text, style), every
    part passed through `_show` (a label has nothing to escape; data may)."""
    return Text.assemble(*((_show(p[0]), p[1]) if isinstance(p, tuple) else _show(p)
                           for p in parts))


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
        return Text(_show(f"balance {b.account} on {b.date}: {b.statement} {b.currency} "
                          "reconciles"), style="green")
    return Text(_show(f"balance {b.account} on {b.date}: statement {b.statement}, ledger "
                      f"{b.ledger}, difference {b.difference} {b.currency}"), style="red")


SAID_MAX = 2000  # characters of the model's last words shown (`beanagent log` has them all)
UNBOOKED_MAX = 50  # unbooked lines listed when nothing was proposed (the report has them all)


def format_ending(run: AgentRun) -> Text:
    """How a model's run ended, with its own last words (finish's summary, or the reply
    that ended it): untrusted text, shown as data, cut at SAID_MAX characters."""
    how = ENDINGS.get(run.ended or "", run.ended or "")
    said = run.said
    text = Text.assemble((_show(f"The {run.name} agent {how}"), "bold"))
    if said is None:  # a bound: the warning above said which and what is kept
        return text
    said = said.strip()
    if not said:
        text.append(_show(" (it said nothing)"), style="dim")
        return text
    cut = len(said) - SAID_MAX
    text.append(":\n")
    text.append(visible(said[:SAID_MAX], keep="\n\t"), style="italic")
    if cut > 0:
        text.append(_show(f" … ({cut:,} more characters: beanagent log shows them)"),
                    style="dim")
    return text


def format_unbooked(line: StatementLine, currency: str) -> str:
    where = f"{line.ref.file}:{line.ref.line}" if line.ref.line else str(line.ref)
    return f"{where}  {line.date}  {line.amount} {currency}  {line.description}"


def _who(name: str) -> str:
    """An agent as a sentence names it: `script:fix.py` is the script fix.py."""
    kind, _, what = name.partition(":")
    if kind == "script" and what:
        return f"the script {display_path(what)}"
    if kind == "replay" and what:
        return f"the replayed run {what}"
    return f"the {name} agent"


def format_nothing_proposed(o: RunResult) -> Text:
    """Nothing was proposed: say so honestly. Every statement line booked only when the
    engine's matching found each in the ledger; else how many are not, and which."""
    missing = [(line, st.currency) for st, m in zip(o.statements, o.matches, strict=True)
               for line in m.missing]
    if not missing:
        return Text("Nothing to propose: every statement line is already booked in the "
                    "ledger.", style="green")
    who = _who(o.agent.name) if o.agent is not None else "the agent"
    n = len(missing)
    text = Text(_show(f"Nothing proposed by {who}: {n} statement line{'s' * (n != 1)} "
                      f"{'are' if n != 1 else 'is'} still unbooked:"), style="bold yellow")
    for line, currency in missing[:UNBOOKED_MAX]:
        text.append("\n  " + _show(format_unbooked(line, currency)))
    if n > UNBOOKED_MAX:
        text.append(f"\n  and {n - UNBOOKED_MAX} more (the --json report's proof lists "
                    "them all)")
    return text


class ConsoleUI:
    def __init__(self, stream: TextIO | None = None, show_output: bool = True,
                 confident: Decimal = CONFIDENT):
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True,
                               emoji=False)
        self.show_output = show_output  # what scripts print (always shown when they fail)
        self.confident = confident  # below this a proposal is highlighted (the setting)
        self._live: Any = None  # rich.live.Live: the spinner of the current status
        self._current: tuple[str, float] = ("", 0.0)  # its message and start time

    def status(self, message: str) -> None:
        """A stage that may take a while. On an interactive terminal: a transient spinner
        with the elapsed time, replaced by a plain line once the stage is over; elsewhere
        (pipes, TERM=dumb) just the plain line: no cursor movement, no frames."""
        self._settle()
        message = _show(message)
        if not self.console.is_interactive:
            self.console.print(Text(f"… {message}", style="dim"))
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
        self.console.print(Text(f"… {message} ({time.monotonic() - started:.1f} s)",
                                style="dim"))

    def close(self) -> None:
        """Restore the terminal (cursor, spinner line) whatever happened."""
        self._settle()

    def warn(self, message: str) -> None:
        self._settle()
        self.console.print(_line(("warning:", "yellow"), " ", message))

    def step(self, step: Step) -> None:
        self._settle()
        r = step.result
        mark = "[green]ok[/]" if r.ok else "[red]failed[/]"
        self.console.print(f"[bold]step {step.index}[/] {mark} "
                           f"({r.seconds:.2f} s, {len(r.proposals)} proposal(s))")
        # what a script printed and its traceback: blocks of lines (tabs kept)
        if r.output.strip() and (self.show_output or not r.ok):
            self.console.print(Text(visible(r.output.rstrip(), keep="\n\t"), style="dim"))
        if r.output_truncated:
            self.console.print("[dim](output truncated)[/]")
        if r.error:
            self.console.print(Text(visible(r.error, keep="\n\t"), style="red"))

    def weak_sandbox(self, missing: list[str]) -> None:
        self._settle()
        self.console.print(_line(
            (" WEAK SANDBOX ", "bold white on red"), " ",
            (f"scripts run without: {'; '.join(missing)}. They can read your files and reach "
             "the network. Each script is shown before it runs.", "red")))

    def script(self, code: str) -> None:
        from rich.syntax import Syntax

        self._settle()
        self.console.print("[bold red]about to run this script:[/]")
        # a model's code may hold raw escapes in its strings: shown escaped, as Python would
        self.console.print(Syntax(visible(code, keep="\n\t"), "python", line_numbers=True,
                                  theme="ansi_dark"))

    def findings(self, items: Sequence[Finding]) -> None:
        """A run without statements: what the ledger alone shows (ui/findings.py)."""
        self._settle()
        self.console.print(format_findings(items))

    def outcome(self, o: RunResult) -> None:
        self._settle()
        c = self.console
        if o.agent is not None and o.agent.ended is not None:
            c.print(format_ending(o.agent))
        for st, result in zip(o.statements, o.matches, strict=True):
            c.print(_line((st.file, "bold"), f" ({st.format}, {st.account}, {st.start} to "
                          f"{st.end}): {len(st.lines)} lines, ",
                          (f"{len(result.matches)} booked", "green"), ", ",
                          (f"{len(result.missing)} missing", "yellow"),
                          f", {len(result.ledger_only)} only in the ledger"))
            for lo in result.ledger_only:
                c.print(_line("  ", ("ledger only", "magenta"),
                              f" {display_path(lo.txn.file)}:{lo.txn.line} {lo.txn.date} "
                              f"{lo.amount} {st.currency} {lo.txn.payee or lo.txn.narration}"
                              f" — {lo.reason}"))
            for m in result.matches:
                if m.discrepancy:
                    c.print(_line("  ", ("amount typo", "red"),
                                  f" {display_path(m.txn.file)}:{m.txn.line} {m.txn.date} "
                                  f"{m.txn.payee or m.txn.narration} — {m.note or ''}"))
        if o.proposals:
            low = sum(is_low(i, self.confident) for i in o.proposals)
            c.print(f"[bold]Proposals ({len(o.proposals)})[/]" + (
                f" [yellow]{low} marked ! (flagged, or confidence below {self.confident}): "
                f"check {'it' if low == 1 else 'them'} closely[/]" if low else ""))
            c.print(format_proposals_table(o.proposals, o.statements, c.width, self.confident,
                                           o.proof.flagged if o.proof else ()),
                    soft_wrap=False)
        elif o.statements:  # without statements, the findings said what there is
            c.print(format_nothing_proposed(o))
        if o.balance is not None:
            b = o.balance
            c.print(format_balance(b))
            if not b.reconciles:
                for culprit in b.culprits:
                    where = ", ".join(display_path(w) for w in culprit.where)
                    c.print(_line("  ", ("likely culprit", "yellow"), f" {culprit.explanation}",
                                  (f" ({where})" if where else "", "dim")))
        if o.proof is not None:  # with nothing proposed, the unbooked lines are listed above
            self._proof(o.proof, listed=not o.proposals)
        if o.gate is not None and not o.gate.passed:
            c.print("[bold red]The staged ledger fails bean-check; nothing will be written:[/]")
            for e in o.gate.errors:
                c.print(_line("  ", (str(e), "red")))

    def _proof(self, proof: Proof, listed: bool = False) -> None:
        """The reconciliation proof on the first screen: what it refused or flagged (with
        the statement line it rests on), new accounts, and each statement's completeness."""
        c = self.console
        for p in proof.proposals:
            for f in p.findings:
                label = "refused" if f.refuse else ("unbacked" if f.rule == "backed"
                                                    else "flagged")
                where = f" ({', '.join(str(r) for r in f.refs)})" if f.refs else ""
                c.print(_line((f"  {p.id} {label} ", "bold red"), (f"[{f.rule}] ", "red"),
                              f.message + where))
        new = dict.fromkeys(a for p in proof.proposals if not p.refused for a in p.new_accounts)
        if new:
            c.print(_line((f"  new account{'s' * (len(new) > 1)} (not in your ledger yet): "
                           f"{', '.join(new)}", "yellow")))
        for st in proof.statements:
            text = Text(_show(f"  {st.file}: "))
            if st.complete:
                text.append("every line is booked", style="green")
            elif listed:
                if st.difference is None or st.difference == 0:
                    continue
                text.append(_show(f"{len(st.unbooked)} line(s) not booked"), style="yellow")
            else:
                shown = ", ".join(str(r) for r in st.unbooked[:5])
                more = f" and {len(st.unbooked) - 5} more" if len(st.unbooked) > 5 else ""
                text.append(_show(f"{len(st.unbooked)} line(s) not booked: {shown}{more}"),
                            style="yellow")
            if st.difference is not None and st.difference != 0:
                text.append(f"; the closing balance still differs by {st.difference} "
                            f"{st.currency}", style="red")
            c.print(text)

    def diff(self, text: str) -> None:
        self._settle()
        out = Text()  # one print: rich's per-call cost dominated long diffs (10k entries)
        # Split at "\n" only: str.splitlines would also split at U+2028 (and \x85, \x0c...)
        # inside a ledger's text and show the rest as a line of its own, unchanged.
        for line in text.split("\n"):
            line = visible(line.removesuffix("\r"))
            style = ("bold" if line.startswith(("+++", "---")) else "green"
                     if line.startswith("+") else "red" if line.startswith("-")
                     else "cyan" if line.startswith("@@") else "")
            out.append(line + "\n", style=style)
        out.rstrip()
        self.console.print(out)

    # --- the review ---------------------------------------------------------------------

    def approve(self, items: Sequence[Proposal], statements: Sequence[Statement],
                revise: Revise, proof: Proof | None = None) -> list[Decision]:
        """One decision per proposal, in order (ui/prompt.py asks)."""
        self._settle()
        return Review(self.console, statements, self.confident, proof).approve(items, revise)

    def summary(self, o: RunResult) -> None:
        """Before anything is written: what the review decided and where the balance stands."""
        self._settle()
        accepted: Sequence[str] = o.accepted or ()
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
                self.console.print(_line("  ", (str(e), "red")))

    def finish(self, o: RunResult) -> None:
        self._settle()
        c = self.console
        if o.agent is not None and o.agent.usage is not None:
            c.print(Text(_show(format_usage(o.agent, o.agent_seconds)), style="dim"))
        if o.committed:
            n = len(o.accepted or [])
            files = ", ".join(display_path(p) for p in o.written)
            c.print(_line((f"Wrote {n} entr{'y' if n == 1 else 'ies'} to {files}.",
                           "bold green")))
        elif o.accepted is not None and not o.accepted:
            c.print("Nothing accepted; the ledger is unchanged.")
        elif o.proposals and o.gate is not None and o.gate.passed and o.accepted is None:
            c.print("[dim]Dry run: nothing written.[/]")
