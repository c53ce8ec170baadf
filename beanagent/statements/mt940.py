"""SWIFT MT940 (and MT942) account statements, as European banks export them (.sta, .mt940).

The tags are parsed by the `mt-940` package (import `mt940`), which knows the banks'
dialects (German GVC `?20` sub-fields, Sparkassen line breaks, mBank, ING); every one of its
opt-in fixes is switched on (reversals signed right, the counterparty IBAN kept apart from
the name). Two things are done here rather than there:

* The file is split into statements at each `:20:` ourselves (as `mt940.parse_statements`
  does), so that every statement keeps its own balances and every `:61:` its physical line.
  Statements of the same account (and currency) become one RawStatement; each other account
  gets its own, tied to the ledger by the `:25:` account id (`account:`/`iban:` metadata).
* What a line means is read from mt-940's fields:
  - date: the **booking (entry) date** of `:61:` where the bank gives one, with mt-940's
    year correction at a year boundary; else the value date (the only date then written).
  - amount: signed from the holder's view (D and RC negative, C and RD positive).
  - payee: the counterparty's name from a structured `:86:` (GVC `?32`/`?33`, or SWIFT
    `/NAME/`), else its IBAN; description: the remittance information (`SVWZ+`, `?20`..,
    `/REMI/`) plus the counterparty's IBAN, else the whole `:86:` text on one line.
  - bank id: the `:61:` bank reference (`//...`), else the customer reference, unless it is
    a placeholder (NONREF) or repeats within the statement.
  - closing balance: the last statement's `:62F:` (or `:62M:`), as of its date.
A statement whose lines do not lead from its opening to its closing balance is read, with a
note: some lines may be missing from the export.
"""

from __future__ import annotations

import bisect
import datetime
import logging
import pathlib
import re
from decimal import Decimal
from typing import Any

from beanagent.errors import BadInputError
from beanagent.statements.common import (
    bank_id,
    clean,
    decode_text,
    read_bytes,
    unique_ids,
)
from beanagent.statements.model import (
    RawStatement,
    Ref,
    StatementLine,
    amount_problem,
    date_problem,
)

MT940_SUFFIXES = frozenset({".sta", ".mt940", ".940", ".mt942"})

_TAG20 = re.compile(r"(?m)^:20:")
_TAG61 = re.compile(r"(?m)^:61:")
_FIRST_TAGS = re.compile(r"(?m)^:(?:20|25|28C?|60[FM]):")
# SWIFT structured :86: sub-fields (`/NAME/ACME/REMI/Invoice 12/`).
_SWIFT_FIELD = re.compile(r"/(NAME|REMI|IBAN|CNTP|BENM|ORDP|EREF|ADDR|ISDT|CSID|MARF|"
                          r"RTRN|PREF|SVCL|ULTB|ULTD|PURP|TRCD|BIC)/")


def looks_like_mt940(head: bytes) -> bool:
    """A `:20:` statement reference and another statement tag at the start of lines (or a
    SWIFT `{4:` text block)."""
    text = head.decode("latin-1")
    tags = {m.group(0) for m in _FIRST_TAGS.finditer(text)}
    return (":20:" in tags and len(tags) >= 2) or ("{4:" in text and ":20:" in text)


def parse_mt940(path: pathlib.Path, display: str) -> list[RawStatement]:
    """One RawStatement per account (and currency) in the file; see the module docstring."""
    text = _indexed(decode_text(read_bytes(path, display)))
    starts = [m.start() for m in _TAG20.finditer(text)]
    if not starts:
        raise BadInputError("not an MT940 statement (no :20: tag at the start of a line); "
                            "expected a SWIFT MT940 export", file=display)
    groups: dict[tuple[str | None, str | None], list[_Block]] = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        block = _parse_block(text, start, end, display)
        groups.setdefault((block.account_id, block.currency), []).append(block)
    out = [_statement(blocks, display) for blocks in groups.values()
           if any(b.lines for b in blocks)]
    if not out:
        raise BadInputError("no statement lines (:61:) in this MT940 file", file=display)
    return out


class _Block:
    """One `:20:` statement: its lines and balances."""

    def __init__(self, account_id: str | None, currency: str | None,
                 lines: list[StatementLine], opening: tuple[Decimal, datetime.date] | None,
                 closing: tuple[Decimal, datetime.date] | None,
                 final: tuple[Decimal, datetime.date] | None, first_line: int) -> None:
        self.account_id = account_id
        self.currency = currency
        self.lines = lines
        self.opening = opening
        self.closing = closing  # final or intermediate (:62M:), to check the lines add up
        self.final = final  # only a final closing balance (:62F:) is asserted
        self.first_line = first_line


class _Text(str):
    """The file's text, with its line ends indexed once (a long file has thousands of
    lines to number)."""

    newlines: list[int]


def _indexed(text: str) -> _Text:
    out = _Text(text)
    out.newlines = [m.start() for m in re.finditer("\n", text)]
    return out


def _line_at(text: _Text, offset: int) -> int:
    return bisect.bisect_left(text.newlines, offset) + 1


def _quiet_parse(block: str) -> Any:
    import mt940

    # mt-940 logs the whole tag pattern on a parse failure; the error we raise says enough.
    logger = logging.getLogger("mt940")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return mt940.parse(block, options=mt940.Options.all())


def _parse_block(text: _Text, start: int, end: int, display: str) -> _Block:
    block = text[start:end]
    first_line = _line_at(text, start)
    try:
        parsed = _quiet_parse(block)
    except Exception as err:  # mt-940 raises RuntimeError, ValueError, KeyError, ...
        raise _block_error(err, text, start, block, display) from None
    data: dict[str, Any] = parsed.data
    final = _balance(data, "final_closing_balance", "closing_balance")
    opening = _balance(data, "final_opening_balance", "opening_balance",
                       "intermediate_opening_balance")
    closing = final or _balance(data, "intermediate_closing_balance")
    currency = next((b[2] for b in (closing, opening) if b and b[2]), None)
    tags61 = [start + m.start() for m in _TAG61.finditer(block)]
    transactions = list(parsed.transactions)
    if len(tags61) != len(transactions):
        tags61 = []  # a dialect that splits lines otherwise: no line numbers, not wrong ones
    lines = []
    for k, trn in enumerate(transactions):
        where = _line_at(text, tags61[k]) if tags61 else None
        lines.append(_line(trn.data, display, where))
        cur = trn.data.get("currency")
        if currency is None:
            currency = cur
        elif cur and cur != currency:
            raise BadInputError(f"MT940 line in {cur} in a statement in {currency}; beanagent "
                                "reads one currency per statement", file=display, line=where)
    account_id = clean(data.get("account_identification")) or None
    return _Block(account_id, currency, lines, opening[:2] if opening else None,
                  closing[:2] if closing else None, final[:2] if final else None, first_line)


def _block_error(err: Exception, text: _Text, start: int, block: str,
                 display: str) -> BadInputError:
    """Where mt-940 stopped: the line holding the value it could not parse, if found."""
    message = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    line = _line_at(text, start)
    tag = ""
    m = re.search(r"from '(.+?)(?:\\n|')", message)
    if m:
        found = block.find(m.group(1)[:40])
        if found >= 0:
            line = _line_at(text, start + found)
            tag_m = re.match(r":(\w+):", block[block.rfind("\n", 0, found) + 1:])
            tag = f" :{tag_m.group(1)}:" if tag_m else ""
    return BadInputError(f"unreadable MT940{tag} field (not in the SWIFT layout mt-940 "
                         "knows); export the statement again, or as CAMT.053 or CSV",
                         file=display, line=line)


def _balance(data: dict[str, Any], *keys: str) -> tuple[Decimal, datetime.date, str | None] | None:
    for key in keys:
        bal = data.get(key)
        money = getattr(bal, "amount", None)
        amount = getattr(money, "amount", None)
        day = getattr(bal, "date", None)
        if isinstance(amount, Decimal) and isinstance(day, datetime.date):
            currency = getattr(money, "currency", None)
            return amount, datetime.date(day.year, day.month, day.day), \
                currency if isinstance(currency, str) else None
    return None


def _line(data: dict[str, Any], display: str, where: int | None) -> StatementLine:
    amount = getattr(data.get("amount"), "amount", None)
    if not isinstance(amount, Decimal):
        raise BadInputError("MT940 :61: line without an amount", file=display, line=where)
    problem = amount_problem(amount)
    if problem:
        raise BadInputError(f"MT940 amount {amount} {problem}", file=display, line=where)
    day = data.get("entry_date") or data.get("guessed_entry_date") or data.get("date")
    if not isinstance(day, datetime.date):
        raise BadInputError("MT940 :61: line without a date", file=display, line=where)
    day = datetime.date(day.year, day.month, day.day)
    problem = date_problem(day)
    if problem:
        raise BadInputError(f"MT940 date {day} {problem}", file=display, line=where)
    payee, description = _counterparty(data)
    ref_id = bank_id(data.get("bank_reference")) or bank_id(data.get("customer_reference"))
    return StatementLine(
        ref=Ref(display, where, ref_id),
        date=day,
        amount=amount,
        description=description or clean(data.get("id")) or "mt940",
        payee=payee,
    )


def _counterparty(data: dict[str, Any]) -> tuple[str | None, str]:
    """(payee, description) from the fields mt-940 read out of `:86:`."""
    name = clean(data.get("applicant_name"))
    iban = clean(data.get("applicant_iban"))
    purpose = clean(" ".join(str(data.get(k) or "") for k in ("purpose", "additional_purpose")))
    posting = clean(data.get("posting_text"))
    details = str(data.get("transaction_details") or "")
    fields = _swift_fields(details) if details.strip().startswith("/") else {}
    if not (name or purpose or iban) and {"NAME", "REMI", "CNTP"} & fields.keys():
        cntp = fields.get("CNTP", "").split("/")
        name = clean(fields.get("NAME") or (cntp[2] if len(cntp) > 2 else ""))
        iban = clean(fields.get("IBAN") or cntp[0])
        purpose = clean(fields.get("REMI", "").removeprefix("USTD//").removeprefix("STRD/"))
        details = name
    text = purpose or posting or clean(details) or clean(data.get("non_swift_text")) or \
        clean(data.get("extra_details"))
    if iban and iban not in text:
        text = f"{text} / {iban}" if text else iban
    return (name or iban or None), text


def _swift_fields(details: str) -> dict[str, str]:
    """`/NAME/ACME BV/REMI/USTD//Invoice 12/` → {"NAME": "ACME BV", "REMI": "USTD//Invoice 12"}."""
    flat = details.replace("\n", "")
    out: dict[str, str] = {}
    marks = list(_SWIFT_FIELD.finditer(flat))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(flat)
        out.setdefault(m.group(1), flat[m.end():end].strip("/ "))
    return out


def _statement(blocks: list[_Block], display: str) -> RawStatement:
    notes = []
    lines: list[StatementLine] = []
    for block in blocks:
        lines.extend(block.lines)
        if block.opening and block.closing:
            moved = sum((ln.amount for ln in block.lines), Decimal(0))
            if block.opening[0] + moved != block.closing[0]:
                notes.append(
                    f"{display}:{block.first_line}: the statement's lines add up to {moved}, "
                    f"but its balance goes from {block.opening[0]} to {block.closing[0]}: "
                    "some lines may be missing from this export")
    finals = [b.final for b in blocks if b.final]
    closing = max(reversed(finals), key=lambda c: c[1]) if finals else None  # last of a day
    lines.sort(key=lambda ln: ln.date)
    if closing and lines and lines[-1].date > closing[1]:
        notes.append(f"{display}: the last final closing balance (:62F:) is dated {closing[1]}, "
                     f"before the last line ({lines[-1].date}); no balance is asserted")
        closing = None
    return RawStatement(
        file=display,
        format="mt940",
        lines=unique_ids(lines),
        currency=blocks[0].currency,
        account_id=blocks[0].account_id,
        closing_balance=closing[0] if closing else None,
        closing_date=closing[1] if closing else None,
        notes=tuple(notes),
    )
