"""What an LLM agent is told up front: the script API and the types it returns (from the
code's own signatures, fields and docstrings, so it cannot drift), the offline agent's
script as a worked example, facts about the ledger (the accounts that matter, with a count
of the rest), and the statements, quoted and capped as data.

What leaves this machine is what these functions write: no ledger file is sent whole, and
no path with its folders (README, "What is sent to the model provider")."""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from beanagent.core.categorise import Suggestion
from beanagent.core.match import LedgerOnly, Match, MatchResult
from beanagent.ledger.view import AccountInfo, BalanceAssertion, LedgerView, Posting, Txn
from beanagent.sandbox.script_api import Engine, Propose, StagedProposal
from beanagent.statements.model import Ref, Statement, StatementLine

MAX_ACCOUNTS = 150  # accounts named besides the statements' own; the rest are counted
MAX_PAYEES = 15
MAX_LINES = 400
MAX_DESCRIPTION = 120
RECENT_DAYS = 400  # "in use": an entry (or an open) this close to the statements' end
MIN_HISTORY = 50  # counter-accounts come from at least this many of an account's entries

# What a script gets back, documented from the types themselves (fields, annotations,
# docstrings, the comments beside the fields), in the order a script meets them.
TYPES: tuple[tuple[str, type], ...] = (
    ("engine.match(st) ->", MatchResult), ("", Match), ("", LedgerOnly),
    ("engine.suggest(st, line) ->", Suggestion), ("statements[i] ->", Statement),
    ("", StatementLine), ("", Ref), ("ledger.transactions() -> list of", Txn), ("", Posting),
    ("ledger.accounts[name] ->", AccountInfo),
    ("ledger.balance_assertions -> tuple of", BalanceAssertion),
    ("propose.staged -> tuple of", StagedProposal),
)
_HIDDEN = frozenset({"to_json", "from_json"})
_FIELD = re.compile(r"^\s+(?:self\.)?([a-z]\w*)\s*(?::[^=#]*)?(?:=[^#]*)?(?:#\s*(.*))?$")


def _comments(cls: type, method: str | None = None) -> dict[str, str]:
    """The comment beside (or just above) each field in the class's source."""
    try:
        source = inspect.getsource(getattr(cls, method) if method else cls)
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    above: list[str] = []
    for text in source.splitlines()[1:]:
        stripped = text.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        found = _FIELD.match(text) if (":" in text or "=" in text) else None
        if found and not stripped.startswith(("def ", "return", "@")):
            note = " ".join([*above, found.group(2) or ""]).strip()
            if note:
                out.setdefault(found.group(1), note)
        above = []
    return out


def _annotation(value: Any) -> str:
    """An annotation as written (`from __future__ import annotations` keeps them text)."""
    if value is inspect.Parameter.empty:
        return ""
    # scripts have `date` and `timedelta` as globals: the reference names them so
    text = str(getattr(value, "__forward_arg__", value))
    return text.replace("datetime.date", "date").replace("datetime.timedelta", "timedelta")


def _signature(fn: Any) -> str:
    """`(a: T, b: T = 1) -> R`, without `self` and without the quotes around annotations."""
    sig = inspect.signature(fn)
    params = []
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        text = p.name + (f": {_annotation(p.annotation)}" if _annotation(p.annotation) else "")
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        params.append(text)
    returns = _annotation(sig.return_annotation)
    return f"({', '.join(params)})" + (f" -> {returns}" if returns else "")


def _doc(obj: Any) -> str:
    """A docstring on one line."""
    return " ".join((inspect.getdoc(obj) or "").split())


def _members(cls: type, prefix: str = ".", tag: str = " (property)") -> list[str]:
    """Public properties and methods, each with its docstring: `prefix` before each name
    (".", or "engine." for the script's globals), `tag` after a property's."""
    out = []
    for attr, value in inspect.getmembers(cls):
        if attr.startswith("_") or attr in _HIDDEN:
            continue
        if isinstance(value, property):
            doc = _doc(value.fget)
            out.append(f"`{prefix}{attr}`{tag}" + (f": {doc}" if doc else ""))
        elif inspect.isfunction(value):
            doc = _doc(value)
            out.append(f"`{prefix}{attr}{_signature(value)}`" + (f": {doc}" if doc else ""))
    return out


def describe_type(cls: type, intro: str = "") -> str:
    """One type as the reference shows it: its fields with their annotations and the
    comments beside them, then its public properties and methods."""
    notes = _comments(cls)
    if dataclasses.is_dataclass(cls):
        fields = [(f.name, _annotation(f.type)) for f in dataclasses.fields(cls)]
    else:  # a NamedTuple
        fields = [(name, _annotation(cls.__annotations__[name]))
                  for name in getattr(cls, "_fields", ())]
    doc = _doc(cls) if cls.__doc__ and not cls.__doc__.startswith(
        f"{cls.__name__}(") else ""  # not the generated "Name(a, b)" docstring
    head = f"- {intro + ' ' if intro else ''}`{cls.__name__}`" + (f": {doc}" if doc else "")
    rows = [head]
    for name, annotation in fields:
        note = notes.get(name)
        rows.append(f"  - `.{name}: {annotation}`" + (f" ({note})" if note else ""))
    rows += [f"  - {m}" for m in _members(cls)]
    return "\n".join(rows)


def _attributes(cls: type, prefix: str) -> list[str]:
    """Public attributes an instance sets in `__init__` (with their comments)."""
    notes = _comments(cls, "__init__")
    init = vars(cls)["__init__"]
    source = inspect.getsource(init)
    found = re.findall(r"self\.([a-z]\w*)\s*(?::\s*([^=\n]*?))?\s*=", source)
    hints = inspect.signature(init).parameters
    out = []
    written: dict[str, str] = {}
    for name, annotation in found:  # the first annotation written, in the order set
        written[name] = written.get(name) or annotation
    for name, annotation in written.items():
        kind = annotation or (_annotation(hints[name].annotation) if name in hints else "")
        extra = ", ".join(x for x in (kind, notes.get(name, "")) if x)
        out.append(f"- `{prefix}.{name}`" + (f" ({extra})" if extra else ""))
    return out


def api_reference() -> str:
    parts = []
    for name, cls in (("ledger", LedgerView), ("propose", Propose), ("engine", Engine)):
        parts.append(f"## `{name}`: {_doc(cls)}".rstrip())
        parts += _attributes(cls, name)
        parts += [f"- {member}" for member in _members(cls, f"{name}.", tag="")]
    parts.append("- `statements`: the list of `Statement` below, in the order of the data "
                 "blocks (`statements[0]` is the first).")
    parts.append("- Globals also include `Decimal`, `date`, `timedelta`. Amounts are Decimal; "
                 "never use float.")
    parts.append("\n## What scripts get back (fields, then properties and methods)")
    parts += [describe_type(cls, intro) for intro, cls in TYPES]
    return "\n".join(parts)


def worked_example() -> str:
    """The offline agent's own script, read from its file as it stands (less its opening
    comments, which are about saving and rerunning it from the command line)."""
    from beanagent.agent.offline import offline_script

    lines = offline_script().strip().splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)


def quote(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """Untrusted text as a JSON string: quoted and escaped (a quote or a newline can't end
    it), capped, and with `<` `>` escaped too, so it can't close the data block. (Braces
    stay: the prompt's template is filled in one pass, `llm.fill`.)"""
    text = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def file_name(path: str) -> str:
    """A statement's file as the provider sees it: its name, without the folders."""
    return PurePath(path.replace("\\", "/")).name or path


# --- the ledger's facts: the accounts that matter, the rest counted ----------------------


def _recent(view: LedgerView, account: str, end: datetime.date) -> list[Txn]:
    """The account's entries of the RECENT_DAYS before `end`, and at least its last
    MIN_HISTORY entries."""
    txns = [t for t in view.transactions(account) if t.date <= end]
    since = end - datetime.timedelta(days=RECENT_DAYS)
    recent = [t for t in txns if t.date >= since]
    return recent if len(recent) >= MIN_HISTORY else txns[-MIN_HISTORY:]


def _holds(info: AccountInfo, currencies: set[str]) -> bool:
    return not info.currencies or bool(currencies & set(info.currencies))


def _kind_fits(info: AccountInfo, cash: set[str], held: set[str]) -> bool:
    """Where a bank line's other side can go: expenses, income, liabilities, and assets
    that hold money (by their `open` constraint, else by the currencies `held` in their
    recent postings; not a fund's or a stock's units)."""
    root = info.name.split(":", 1)[0]
    if root in ("Expenses", "Income", "Liabilities"):
        return True
    if root != "Assets":
        return False
    return set(info.currencies or held) <= cash and bool(info.currencies or held)


def _account_row(info: AccountInfo, start: datetime.date | None, shown: set[str],
                 extra: str = "") -> str:
    notes = [extra] if extra else []
    if info.currencies and set(info.currencies) != shown:
        notes.append(", ".join(info.currencies))
    if start is not None and info.open > start:
        notes.append(f"opened {info.open}")
    if info.close is not None:
        notes.append(f"closes {info.close}")
    return f"- {info.name}" + (f" ({'; '.join(notes)})" if notes else "")


def ledger_facts(view: LedgerView, statements: Sequence[Statement],
                 review_account: str | None = None) -> str:
    """The ledger as the model needs it: its span and currencies, each statement's account
    with the counter-accounts of its recent history (how often, with what payees), the
    other open accounts a line could book to (in use lately, holding the statements'
    currencies), and how many accounts are not listed and how to list them."""
    accounts = view.accounts
    currencies = {st.currency for st in statements}
    cash = currencies | set(view.operating_currencies)
    ends = [d for st in statements for d in (st.end, st.closing_date) if d is not None]
    end = max(ends, default=view.end or datetime.date.today())
    starts = [st.start for st in statements if st.start is not None]
    start = min(starts, default=None)
    since = (start or end) - datetime.timedelta(days=RECENT_DAYS)
    span = f"Transactions from {view.start} to {view.end}" if view.start else "No transactions"
    lines = [f"{span}; operating currencies: "
             f"{', '.join(view.operating_currencies) or 'none'}; {len(accounts)} accounts."]
    if review_account:
        state = ("open" if review_account in accounts else "not open in the ledger yet: "
                 "the first entry that books to it also proposes its `open`")
        lines.append(f"Review account (where `engine.suggest` puts a line it can't place): "
                     f"{review_account}, {state}.")
    listed: dict[str, None] = {}
    budget = MAX_ACCOUNTS
    over: set[str] = set()  # would be named but for the cap
    for st in dict.fromkeys(st.account for st in statements):
        own = accounts.get(st)
        listed[st] = None
        history = _recent(view, st, end)
        used: Counter[str] = Counter(a for t in history for a in t.accounts if a != st)
        span = (f"{history[0].date}..{history[-1].date}" if history else "no entries")
        lines.append(f"\nStatement account {st}"
                     + (f" (opened {own.open})" if own else " (NOT open in the ledger)")
                     + f": its other accounts in {len(history)} recent entries ({span}), "
                     "with how many:")
        for name, count in used.most_common():
            info = accounts.get(name)
            if name in listed or info is None or (info.close is not None and info.close <= (
                    start or end)):
                continue
            if budget <= 0:
                over.add(name)
                continue
            listed[name] = None
            budget -= 1
            lines.append(_account_row(info, start, currencies, f"{count}×"))
        payees = Counter(t.payee or t.narration for t in history)
        common = ", ".join(quote(p) for p, _ in payees.most_common(MAX_PAYEES))
        lines.append(f"Frequent payees on {st}: {common or 'none'}")
    # one pass over the recent entries (a scan per account takes seconds on a big ledger)
    held: dict[str, set[str]] = {}
    for t in view.transactions(None, since):
        for p in t.postings:
            held.setdefault(p.account, set()).update([p.currency] if p.currency else [])
    others = [info for info in accounts.values() if info.name not in listed
              and info.name not in over and info.is_open(start or end)
              and (info.open >= since or info.name in held) and _holds(info, currencies)
              and _kind_fits(info, cash, held.get(info.name, set()))]
    lines.append(f"\nOther open accounts in use since {since} that a line could book to:"
                 + ("" if others else " none"))
    for info in others:
        if budget <= 0:
            over.add(info.name)
            continue
        listed[info.name] = None
        budget -= 1
        lines.append(_account_row(info, start, currencies))
    rest = len(accounts) - len([a for a in listed if a in accounts])
    more = f"; {len(over)} of them would fit but are over this list's cap" if over else ""
    if rest:
        lines.append(f"\n{rest} more accounts not shown (closed, unused since {since}, "
                     f"holding other commodities, or Equity{more}). A script lists every "
                     "account with `ledger.accounts` (name -> AccountInfo), e.g. "
                     "`print([a for a in ledger.accounts if a.startswith('Expenses:')])`.")
    else:
        lines.append(f"\nThose are all {len(accounts)} accounts (`ledger.accounts` in a "
                     "script).")
    return "\n".join(lines)


# --- the statements, quoted as data ------------------------------------------------------


def statement_summary(statements: Iterable[Statement]) -> str:
    """Each statement's facts, then its lines inside <statement-data>, one JSON object a
    line: `statement` and `line` are indexes (`statements[0].lines[8]` is
    `{"statement": 0, "line": 8}`, and `evidence` takes either form); descriptions are
    quoted and capped by `quote`; the file is named without its folders."""
    out = []
    for i, st in enumerate(statements):
        closing = ("none" if st.closing_balance is None
                   else f"{st.closing_balance} {st.currency} as of {st.closing_date}")
        out.append(f"statements[{i}]: {quote(file_name(st.file), 200)} ({st.format}) for "
                   f"{st.account} in {st.currency}, {len(st.lines)} lines "
                   f"{st.start}..{st.end}, closing balance {closing}")
        out.append("<statement-data>")
        for n, ln in enumerate(st.lines[:MAX_LINES]):
            out.append(f'{{"statement": {i}, "line": {n}, "date": "{ln.date}", '
                       f'"amount": "{ln.amount}", "description": {quote(ln.description)}}}')
        if len(st.lines) > MAX_LINES:
            out.append(f"… {len(st.lines) - MAX_LINES} more lines: read them in a script "
                       f"(statements[{i}].lines[{MAX_LINES}:])")
        out.append("</statement-data>")
    return "\n".join(out)
