"""The reviewer's decisions and edits, held to the rules the agent's proposals go through.

`Reviser` turns an edited entry back into a proposal through `proposals.validate` (the same
rulebook as the sandbox's output), `apply_decisions` applies the answers."""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from beanagent.core import proposals
from beanagent.core.proposals import ProposalError
from beanagent.errors import BadInputError
from beanagent.ledger.view import AccountInfo
from beanagent.model import Decision, Proposal


def decide_all(items: Sequence[Proposal], accepted: bool = True) -> list[Decision]:
    return [Decision(i.id, accepted) for i in items]


_KINDS = {"Transaction": "transaction", "Balance": "balance", "Open": "open"}


def _parse_one(text: str, kind: str) -> Any:
    """The single directive of `kind` in the user's text, or a ProposalError saying why not."""
    from beancount.parser import parser

    entries, errors, options = parser.parse_string(text)
    if errors:
        err = errors[0]
        line = (err.source or {}).get("lineno")
        raise ProposalError(f"{'line ' + str(line) + ': ' if line else ''}{err.message}")
    defaults = parser.parse_string("")[2]
    extra = sorted(k for k, v in options.items() if k != "dcontext" and v != defaults.get(k))
    if extra:
        raise ProposalError("only the entry itself can be edited here: remove the "
                            f"option/include/plugin line(s) ({', '.join(extra)})")
    if len(entries) != 1:
        raise ProposalError(f"write exactly one {kind} entry (found {len(entries)} directives)")
    found = _KINDS.get(type(entries[0]).__name__, type(entries[0]).__name__.lower())
    if found != kind:
        raise ProposalError(f"this proposal is a {kind}; the edit must stay one (found a "
                            f"{found} directive)")
    return entries[0]


def _units(account: str, units: Any) -> dict[str, Any]:
    from beancount.core.number import MISSING

    if units is None or units is MISSING:
        return {"account": account, "number": None, "currency": None}
    if units.number is MISSING or units.currency is MISSING or units.number is None:
        raise ProposalError(f"the amount of {account} needs a number and a currency (or "
                            "leave the whole amount out to let it balance)")
    return {"account": account, "number": units.number, "currency": units.currency}


def _raw(entry: Any, kind: str) -> dict[str, Any]:
    """A parsed directive in the plain form proposals cross the sandbox in, so that
    `proposals.validate` (the agent's rulebook) judges the user's edit too."""
    if kind == "open":
        if entry.booking is not None:
            raise ProposalError("a booking method is not supported here; leave it out")
        return {"kind": "open", "date": entry.date, "account": entry.account,
                "currencies": list(entry.currencies or [])}
    if kind == "balance":
        if entry.tolerance is not None:
            raise ProposalError("a balance tolerance (~) is not supported here; leave it out")
        return {"kind": "balance", "date": entry.date, "account": entry.account,
                "number": entry.amount.number, "currency": entry.amount.currency}
    postings = []
    for p in entry.postings:
        if p.cost is not None or p.price is not None:
            raise ProposalError(f"costs and prices ({p.account}) are not supported here")
        if p.flag is not None or set(p.meta or {}) - {"filename", "lineno"}:
            raise ProposalError(f"posting flags and posting metadata ({p.account}) are not "
                                "supported here")
        postings.append(_units(p.account, p.units))
    return {"kind": "transaction", "date": entry.date,
            "flag": "*" if entry.flag == "txn" else entry.flag,
            "payee": entry.payee, "narration": entry.narration, "postings": postings,
            "tags": sorted(entry.tags or ()), "links": sorted(entry.links or ()),
            "meta": {k: v for k, v in (entry.meta or {}).items()
                     if k not in ("filename", "lineno")}}


def _accounts_of(raw: dict[str, Any]) -> list[str]:
    if raw["kind"] == "transaction":
        return [p["account"] for p in raw["postings"]]
    return [raw["account"]] if raw["kind"] == "balance" else []


class Reviser:
    """Turns the user's edit of a proposal into a new `Proposal`, through the rulebook the
    agent's proposals go through (`proposals.validate`: accounts open on the date,
    postings that balance, Decimal amounts, allowed kinds and fields), or raises
    ProposalError with a message for the user. The edited entry is rendered again with
    beancount's printer; comments in the edit are not kept."""

    def __init__(self, accounts: Callable[[], Mapping[str, AccountInfo]], items: list[Proposal]):
        self._load_accounts = accounts  # the ledger's accounts, computed on the first edit
        self._accounts: Mapping[str, AccountInfo] | None = None
        # accounts each proposal opens (its own and those of its accepted edits): an
        # entry may use an account another proposal opens; the gate checks the final set
        self._opens: dict[str, set[tuple[str, datetime.date]]] = {
            i.id: {(i.spec.account, i.spec.date)} for i in items
            if i.spec.kind == "open" and i.spec.account}

    def __call__(self, item: Proposal, text: str) -> Proposal:
        kind = item.spec.kind
        if kind == "document":  # the archive's, pointing at the file it filed
            raise ProposalError("the archive's document entry can't be edited: accept it or "
                                "reject it (then the statement is not archived)")
        raw = _raw(_parse_one(text, kind), kind)
        if self._accounts is None:
            self._accounts = self._load_accounts()
        accounts = self._accounts
        opened: dict[str, datetime.date] = {}
        for other, opens in self._opens.items():
            if other != item.id:
                for account, day in opens:
                    opened[account] = min(day, opened.get(account, day))
        for account in _accounts_of(raw):
            if account not in accounts and account not in opened:
                raise ProposalError(f"account {account} does not exist in the ledger: use an "
                                    "existing account (or open it in your ledger first)")
        spec = proposals.validate(raw, accounts, opened)
        # A person wrote this entry: the agent's confidence no longer describes it; the
        # statement lines it rests on and the agent's reason still do.
        spec = dataclasses.replace(spec, evidence=item.spec.evidence,
                                   reason=item.spec.reason, confidence=None)
        if spec.kind == "open" and spec.account:
            self._opens.setdefault(item.id, set()).add((spec.account, spec.date))
        return dataclasses.replace(item, spec=spec, text=proposals.format_directive(spec))


def same_entry(a: Proposal, b: Proposal) -> bool:
    """Whether two versions of a proposal write the same directive (an item's text may be
    restyled to its file's alignment, so the texts themselves are not compared)."""
    return proposals.format_directive(a.spec) == proposals.format_directive(b.spec)


def apply_decisions(items: Sequence[Proposal], decisions: Sequence[Decision],
                    revise: Callable[[Proposal, str], Proposal]
                    ) -> tuple[list[Proposal], list[str]]:
    """The accepted items, in proposal order, with their edits applied, and the ids of those
    the user edited. An edit that no longer passes the rules is a BadInputError."""
    by_id = {d.id: d for d in decisions}
    unknown = sorted(set(by_id) - {i.id for i in items})
    if unknown:
        raise BadInputError(f"decisions name unknown proposals: {', '.join(unknown)}")
    chosen: list[Proposal] = []
    edited: list[str] = []
    for item in items:
        decision = by_id.get(item.id)
        if decision is None or not decision.accepted:
            continue
        if decision.text is not None:
            try:
                revised = revise(item, decision.text)
            except ProposalError as exc:
                raise BadInputError(f"your edit of {item.id} is not valid: {exc}") from None
            if not same_entry(revised, item):
                edited.append(item.id)
                item = revised
        chosen.append(item)
    return chosen, edited


_EDIT_HEADER = """\
; {id}: edit this {kind}, then save and quit. Quit without saving to keep it as it is.
; It is checked like the agent's proposals (accounts open, postings balance) and then
; bean-checked with the other accepted entries. Lines starting with ";" are ignored.
; In quoted text, "\\:" is a ":" written so that no editor takes the text for a
; modeline (a command to the editor); leave it, or write ":" again.
"""
_EDIT_FOOTER = """\
;
; (The lines above and below the entry keep it out of the first and last five lines of
; this file, where editors look for modelines: text from a bank or a model must not be
; able to give your editor commands.)
;
"""
# Where an editor looks for a command in the text it opens: vim, neovim and vi clones
# apply a modeline (`vim: set ...:`, `vi:`, `ex:`, `Vim: set`, `vim600:`) at the start
# of a line or after white space within the first and last 'modelines' lines (5 by
# default); Kakoune has `kak:` ones; emacs reads a `Local Variables:` block near the end
# (and `-*- ... -*-` on the first line, which is ours). The entry holds a bank's and a
# model's text, so two defences:
# 1. the entry never sits in the first or last five lines (the fixed header and footer),
#    which also covers what can't be rewritten (a metadata key named `vim`);
# 2. in the entry's strings and in comments, each marker's colon is written `\:`
#    (`vim\: set`): beancount reads `\:` in a string as `:`, so the entry saved is
#    exactly the one shown, and no editor sees a modeline whatever its 'modelines' is.
_MODELINE = re.compile(r"(?<!\S)(?:vi|vim[<=>]?\d*|Vim|ex|kak|Local Variables)(?=:)")


def _in_text(text: str) -> list[bool]:
    """For each character of `text`: whether it is inside a beancount string or a
    comment (where writing `\\:` for `:` changes nothing the parser keeps)."""
    mask = [False] * len(text)
    in_string = comment = False
    i = 0
    while i < len(text):
        ch = text[i]
        if comment:
            comment = ch != "\n"
            mask[i] = comment
        elif in_string:
            mask[i] = True
            if ch == "\\" and i + 1 < len(text):
                mask[i + 1] = True
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == ";":
            comment = mask[i] = True
        i += 1
    return mask


def neutralise_modelines(text: str) -> str:
    """`text` with the colon of every modeline marker inside a string or a comment
    written as `\\:` (see above); the rest as it is."""
    mask = _in_text(text)
    colons = [m.end() for m in _MODELINE.finditer(text) if mask[m.end()]]
    for at in reversed(colons):
        text = text[:at] + "\\" + text[at:]
    return text


def format_for_edit(item: Proposal, text: str | None = None, error: str | None = None) -> str:
    """What the editor opens: a header, the entry (or the user's last attempt, with the
    reason it was refused), a footer; no modeline anywhere (see `_MODELINE`)."""
    body = item.text if text is None else text
    lines = body.split("\n")
    while lines and lines[0].startswith(";"):  # our header from the previous attempt
        lines.pop(0)
    while lines and (not lines[-1].strip() or lines[-1].startswith(";")):  # and footer
        lines.pop()
    head = _EDIT_HEADER.format(id=item.id, kind=item.spec.kind)
    if error:
        head += "".join(f"; NOT ACCEPTED: {row}\n" for row in error.splitlines())
    return neutralise_modelines(head + "\n".join(lines).rstrip("\n") + "\n" + _EDIT_FOOTER)
