"""What the user reviews, as plain data and text: a unified diff of every file the proposals
change, the proposals table's cells and widths, the decisions the user comes back with, and
their edits held to the proposals' rules. render.py puts it on the terminal."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from beanagent import proposals
from beanagent.errors import BadInputError
from beanagent.ledger import AccountInfo
from beanagent.load import Ledger
from beanagent.proposals import ProposalError
from beanagent.report import display_path
from beanagent.stage import Item, Stage, split_lines
from beanagent.statements.model import Ref, Statement, StatementLine


def _range(start: int, length: int) -> str:
    """Unified-diff range from a 0-based start (empty ranges name the line before)."""
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def _file_diff(name: str, new_lines: list[str], line_map: list[int | str],
               context: int) -> list[str]:
    # Written from the stage's own line map rather than with difflib: staging only
    # inserts, so the hunks are known exactly, and difflib's matcher takes seconds on a
    # 60,000-line ledger.
    groups: list[list[int]] = []
    for i, where in enumerate(line_map):
        if not isinstance(where, str):
            continue
        lo, hi = max(0, i - context), min(len(line_map) - 1, i + context)
        if groups and lo <= groups[-1][1] + 1:
            groups[-1][1] = max(groups[-1][1], hi)
        else:
            groups.append([lo, hi])
    if not groups:
        return []
    out = [f"--- a/{name}\n", f"+++ b/{name}\n"]
    for lo, hi in groups:
        olds = [w for w in line_map[lo : hi + 1] if isinstance(w, int)]
        if olds:
            old_start, old_len = olds[0] - 1, len(olds)
        else:
            old_start = next((w for w in reversed(line_map[:lo]) if isinstance(w, int)), 0)
            old_len = 0
        out.append(f"@@ -{_range(old_start, old_len)} +{_range(lo, hi - lo + 1)} @@\n")
        for j in range(lo, hi + 1):
            text = new_lines[j].rstrip("\r\n") + "\n"
            out.append(("+" if isinstance(line_map[j], str) else " ") + text)
    return out


def format_diff(ledger: Ledger, stage: Stage, context: int = 2) -> str:
    chunks: list[str] = []
    for path, new in sorted(stage.new_bytes.items()):
        staged = stage.staged[path]
        chunks.extend(_file_diff(display_path(path), split_lines(new.decode("utf-8")),
                                 stage.line_maps[staged], context))
    return "".join(chunks)


# --- decisions and edits ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Decision:
    """The user's answer on one proposal.

    `text` is the entry as the user edited it (None: as proposed). The UI only returns an
    edit that `Reviser` accepted, and the workflow runs it through the reviser again before
    staging it: what comes back from the UI is held to the rules like what comes back
    from the sandbox."""

    id: str
    accepted: bool
    text: str | None = None


def decide_all(items: list[Item], accepted: bool = True) -> list[Decision]:
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
    """Turns the user's edit of a proposal into a new `Item`, through the rulebook the
    agent's proposals go through (`proposals.validate`: accounts open on the date,
    postings that balance, Decimal amounts, allowed kinds and fields), or raises
    ProposalError with a message for the user. The edited entry is rendered again with
    beancount's printer; comments in the edit are not kept."""

    def __init__(self, accounts: Callable[[], Mapping[str, AccountInfo]], items: list[Item]):
        self._load_accounts = accounts  # the ledger's accounts, computed on the first edit
        self._accounts: Mapping[str, AccountInfo] | None = None
        # accounts each proposal opens (its own and those of its accepted edits): an
        # entry may use an account another proposal opens; the gate checks the final set
        self._opens: dict[str, set[tuple[str, datetime.date]]] = {
            i.id: {(i.spec.account, i.spec.date)} for i in items
            if i.spec.kind == "open" and i.spec.account}

    def __call__(self, item: Item, text: str) -> Item:
        kind = item.spec.kind
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


def same_entry(a: Item, b: Item) -> bool:
    """Whether two versions of a proposal write the same directive (an item's text may be
    restyled to its file's alignment, so the texts themselves are not compared)."""
    return proposals.format_directive(a.spec) == proposals.format_directive(b.spec)


def apply_decisions(items: list[Item], decisions: list[Decision],
                    revise: Callable[[Item, str], Item]) -> tuple[list[Item], list[str]]:
    """The accepted items, in proposal order, with their edits applied, and the ids of those
    the user edited. An edit that no longer passes the rules is a BadInputError."""
    by_id = {d.id: d for d in decisions}
    unknown = sorted(set(by_id) - {i.id for i in items})
    if unknown:
        raise BadInputError(f"decisions name unknown proposals: {', '.join(unknown)}")
    chosen: list[Item] = []
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
"""


def format_for_edit(item: Item, text: str | None = None, error: str | None = None) -> str:
    """What the editor opens: a short header, then the entry (or the user's last attempt,
    with the reason it was refused)."""
    body = item.text if text is None else text
    lines = body.split("\n")
    while lines and lines[0].startswith(";"):  # our header from the previous attempt
        lines.pop(0)
    head = _EDIT_HEADER.format(id=item.id, kind=item.spec.kind)
    if error:
        head += "".join(f"; NOT ACCEPTED: {row}\n" for row in error.splitlines())
    return head + "\n".join(lines).rstrip("\n") + "\n"


# --- the proposals table: its cells and column widths (render.py lays it out) ----------

LOW_CONFIDENCE = Decimal("0.6")  # below this a proposal is highlighted (config's default)


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


_BY_REF: list[tuple[list[Statement], dict[Ref, list[StatementLine]]]] = []


def evidence_lines(item: Item, statements: list[Statement]) -> list[StatementLine]:
    # An index per statements list (the last one asked about): a table of 10k proposals
    # otherwise scans every line for every row.
    if not _BY_REF or _BY_REF[0][0] is not statements:
        index: dict[Ref, list[StatementLine]] = {}
        for st in statements:
            for ln in st.lines:
                index.setdefault(ln.ref, []).append(ln)
        _BY_REF[:] = [(statements, index)]
    index = _BY_REF[0][1]
    return [ln for ref in dict.fromkeys(item.spec.evidence) for ln in index.get(ref, ())]


def is_low(item: Item) -> bool:
    spec = item.spec
    return spec.flag == "!" or (spec.confidence is not None
                                and spec.confidence < LOW_CONFIDENCE)


def _evidence_cell(item: Item, statements: list[Statement]) -> tuple[str, str]:
    """Where the evidence is (file:line) and what it says."""
    refs = item.spec.evidence
    if not refs:
        return "no statement line", ""
    first = refs[0]  # the statement's full path is in the lines above the table
    where = Path(first.file).name + (f":{first.line}" if first.line else "") \
        + (f" #{first.id}" if first.id and not first.line else "")
    lines = evidence_lines(item, statements)
    more = f" (+{len(refs) - 1} more)" if len(refs) > 1 else ""
    return where, f"{more} {lines[0].description if lines else ''}".rstrip()


def fit_evidence(where: str, rest: str, width: int) -> str:
    """The evidence cell in `width`: the description is cut first, then the middle of
    the file name, so that the line number stays visible."""
    if len(where) <= width:
        return where + rest
    name, colon, line = where.rpartition(":")
    if not colon or width < len(line) + 3:
        return where
    return name[:width - len(line) - 2] + "…:" + line


def _label(item: Item) -> str:
    spec = item.spec
    return (spec.payee or spec.narration) if spec.kind == "transaction" else spec.kind


TABLE_COLUMNS = (("", "left"), ("date", "left"), ("payee", "left"), ("amount", "right"),
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


def table_row(item: Item, statements: list[Statement]) -> tuple[list[str], tuple[str, str]]:
    """The proposal's cells in TABLE_COLUMNS order (flagged or low-confidence ids marked
    `!`), the last one left empty: the evidence comes apart, as (where, what it says), for
    `fit_evidence` once the column's width is known."""
    spec = item.spec
    cells = [item.id + (" !" if is_low(item) else ""), str(spec.date), _label(item),
             _amount(item, statements), _counter(item, statements),
             "" if spec.confidence is None else f"{spec.confidence:.2f}", ""]
    return cells, _evidence_cell(item, statements)
