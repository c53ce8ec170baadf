"""The review at the terminal: one question per proposal (y/n/e/a/q/?), edits in the
user's $EDITOR checked before they count, and the answers as `Decision`s. Everything shown
from a proposal, a statement or an error is a `Text` passed through `text.visible`."""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from decimal import Decimal

from rich.console import Console
from rich.text import Text

from beanagent.core.edit import format_for_edit, same_entry
from beanagent.core.proof import Proof
from beanagent.core.proposals import ProposalError
from beanagent.model import Decision, Proposal
from beanagent.statements.model import Statement
from beanagent.text import display_path, visible
from beanagent.ui.tables import EvidenceIndex

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



def _indent(text: str) -> str:
    """An entry, indented, each of its lines made visible (split at "\\n" only)."""
    return "\n".join("  " + visible(row) for row in text.rstrip("\n").split("\n"))


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

class Answer(enum.Enum):
    YES = "y"
    NO = "n"
    EDIT = "e"
    ALL = "a"
    QUIT = "q"
    HELP = "?"


_WORDS = {"yes": Answer.YES, "no": Answer.NO, "edit": Answer.EDIT, "all": Answer.ALL,
          "quit": Answer.QUIT}


def parse_answer(text: str) -> Answer:
    """What the user typed at "Accept P3?"; anything unknown asks for the help."""
    word = text.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    try:
        return Answer(word)
    except ValueError:
        return Answer.HELP


class Rest(enum.Enum):
    """What an answer says of the proposals after this one."""

    ASK = "ask"  # ask about each
    ACCEPT = "accept"  # "a": accept them all
    REJECT = "reject"  # "q": reject them all


class EditEnd(enum.Enum):
    EDITED = "edited"  # a new version that passed the rules
    SAME = "same"  # not saved, or saved unchanged
    KEEP = "keep"  # refused, and the user keeps the entry as it was (accepting it)
    REJECT = "reject"  # refused, and the user rejects the entry


Revise = Callable[[Proposal, str], Proposal]


class Review:
    """One review session on `console`: proposals below `confident` (or flagged) are
    highlighted; the evidence lines come from `statements`."""

    def __init__(self, console: Console, statements: Sequence[Statement], confident: Decimal,
                 proof: Proof | None = None):
        self.console = console
        self.confident = confident
        self.evidence = EvidenceIndex(statements)
        self.proof = proof  # its flags are shown with each entry and never taken by "a"

    def approve(self, items: Sequence[Proposal], revise: Revise) -> list[Decision]:
        """One decision per proposal, in order. `revise` checks an edit (raising
        ProposalError with the reason it is refused) and returns the edited proposal.
        After "a" the rest is accepted without asking, except what the proof flagged
        (unbacked, Equity, ...): that is still asked about, one by one."""
        decisions: dict[str, Decision] = {}
        rest = Rest.ASK
        for index, item in enumerate(items):
            if item.id in decisions:  # already rejected with the account it needs
                continue
            if rest is Rest.REJECT or (rest is Rest.ACCEPT and not self._flagged(item)):
                decisions[item.id] = Decision(item.id, rest is Rest.ACCEPT)
            else:
                decision, answer = self._decide(item, f"{index + 1}/{len(items)}", revise)
                decisions[item.id] = decision
                if answer is not Rest.ASK:
                    rest = answer
            if item.spec.kind == "open" and not decisions[item.id].accepted:
                self._rejected_open(item, items, decisions, rest)
        return [decisions[i.id] for i in items]

    def _rejected_open(self, opened: Proposal, items: Sequence[Proposal],
                       decisions: dict[str, Decision], rest: Rest) -> None:
        """Entries that post to an account only this `open` creates can't be written
        without it: say so now, and let the user reject them too or keep the open."""
        account = opened.spec.account
        needing = [i for i in items if i.spec.kind != "open"
                   and any(p.account == account for p in i.spec.postings)
                   and (decisions[i.id].accepted if i.id in decisions else rest is not
                        Rest.REJECT)]
        if not needing:
            return
        ids = ", ".join(i.id for i in needing)
        self.console.print(Text(f"{ids} post{'s' * (len(needing) == 1)} to "
                                f"{visible(account or '')}, which only {opened.id} opens: "
                                "without it they can't be written.", style="bold yellow"))
        while True:
            answer = self._ask(f"Reject {ids} too, or keep {opened.id}? [r/k] ",
                               on_eof="r").strip().lower()
            if answer in ("k", "keep"):
                decisions[opened.id] = Decision(opened.id, True)
                self.console.print(Text(f"{opened.id}: kept"))
                return
            if answer in ("r", "reject"):
                for i in needing:
                    decisions[i.id] = Decision(i.id, False)
                self.console.print(Text(f"{ids}: rejected"))
                return
            self.console.print(Text(f"  r  reject {ids} as well\n  k  keep {opened.id} "
                                    "(accept it after all)"))

    def _flagged(self, item: Proposal) -> bool:
        verdict = self.proof.of(item.id) if self.proof is not None else None
        return verdict is not None and verdict.flagged

    def _ask(self, prompt: str, on_eof: str) -> str:
        try:
            return self.console.input(prompt, markup=False)
        except EOFError:
            return on_eof

    def _show(self, item: Proposal, position: str) -> None:
        c = self.console
        spec = item.spec
        head = Text()
        head.append(item.id, style="bold")
        head.append(f" {position} → {visible(display_path(item.target or ''))}")
        if spec.flag == "!":
            head.append("  ! flagged for review", style="bold yellow")
        if spec.confidence is not None and spec.confidence < self.confident:
            head.append(f"  low confidence {spec.confidence:.2f}", style="bold yellow")
        c.print()
        c.print(head)
        c.print(Text(_indent(item.text), style="green"))
        for line in self.evidence.lines(item):
            c.print(Text(visible(f"  statement {line.ref}: {line.date} {line.amount} "
                                 f"{line.description}"), style="dim"))
        if spec.reason:
            c.print(Text(visible(f"  why: {spec.reason}"), style="dim"))

    def _decide(self, item: Proposal, position: str, revise: Revise) -> tuple[Decision, Rest]:
        """The decision on `item`, and what it says of the proposals after it."""
        shown, text = item, None  # the version on screen; the accepted edit, if any
        self._show(item, position)
        while True:
            answer = parse_answer(self._ask(f"Accept {item.id}? {KEYS} ", on_eof="q"))
            if answer is Answer.YES:
                return Decision(item.id, True, text), Rest.ASK
            if answer is Answer.NO:
                return Decision(item.id, False), Rest.ASK
            if answer is Answer.ALL:
                return Decision(item.id, True, text), Rest.ACCEPT
            if answer is Answer.QUIT:
                return Decision(item.id, False), Rest.REJECT
            if answer is Answer.HELP:
                self.console.print(Text(HELP))
                continue
            if item.spec.kind == "document":  # the archive's: nothing in it is the user's
                self.console.print(Text("the archive's document entry can't be edited: y "
                                        "files the statement once committed, n leaves it"))
                continue
            end, revised = self._edit(item, shown, revise)
            if end is EditEnd.KEEP:
                return Decision(item.id, True, text), Rest.ASK
            if end is EditEnd.REJECT:
                return Decision(item.id, False), Rest.ASK
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
                    self.console.print(Text("    " + visible(row)))
                continue
            for row in a[i1:i2]:
                self.console.print(Text("  - " + visible(row), style="red"))
            for row in b[j1:j2]:
                self.console.print(Text("  + " + visible(row), style="green"))

    def _edit(self, item: Proposal, shown: Proposal,
              revise: Revise) -> tuple[EditEnd, Proposal | None]:
        """(EDITED, new proposal), (SAME, None), or after a refused edit the user's choice:
        (KEEP, None) or (REJECT, None)."""
        c = self.console
        buffer = format_for_edit(shown)
        while True:
            try:
                edited = _run_editor(buffer)
            except EditorFailed as exc:
                error, attempt = f"the editor failed: {exc}", buffer
            else:
                if edited is None:
                    c.print(Text(f"{item.id}: not saved, unchanged"))
                    return EditEnd.SAME, None
                try:
                    revised = revise(item, edited)
                except ProposalError as exc:
                    error, attempt = str(exc), edited
                else:
                    if same_entry(revised, shown):
                        c.print(Text(f"{item.id}: unchanged"))
                        return EditEnd.SAME, None
                    return EditEnd.EDITED, revised
            c.print(Text.assemble(("edit not accepted: ", "bold red"), visible(error)))
            while True:
                answer = self._ask("Edit again, keep it as it was, or reject it? [e/k/n/?] ",
                                   on_eof="n").strip().lower()
                if answer in ("e", "edit"):
                    buffer = format_for_edit(item, attempt, error)
                    break
                if answer in ("k", "keep"):
                    c.print(Text(f"{item.id}: kept as it was"))
                    return EditEnd.KEEP, None
                if answer in ("n", "no", "r", "reject"):
                    return EditEnd.REJECT, None
                c.print(Text(EDIT_HELP))
