"""OFX / QFX / QBO bank and credit-card statements (OFX 1.x SGML and 2.x XML), and the cash
of investment statements (ofx_invest.py).

The tag soup is parsed by ofxtools' `TreeBuilder` (it copes with OFX 1.x's optional end
tags), but two parts of ofxtools are deliberately not used, because they reject files
that real banks send and that are perfectly readable:

* `ofxtools.header.parse_header` fails on a missing header (some banks send only the
  `<OFX>` body), on more than eight leading blank lines, on header values outside the
  spec's list (CHARSET:UTF-8), and its TreeBuilder rejects bytes after `</OFX>` (a NUL
  in QBO files). We only need the header for the character set, so we locate and cut
  out the `<OFX>...</OFX>` body ourselves.
* `OFXTree.convert()` validates against the spec models and refuses, among others, a
  BANKID longer than 9 characters, a statement without LEDGERBAL, a file without a
  SIGNON block, and it recurses without end on investment files. We read the handful
  of fields we need straight from the element tree instead, converting values with
  ofxtools' own `Types` converters.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import decimal
import pathlib
import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from ofxtools import Types
from ofxtools.Parser import ParseError, TreeBuilder

from beanagent.errors import BadInputError
from beanagent.statements.model import (
    RawStatement,
    Ref,
    StatementLine,
    amount_problem,
    date_problem,
)
from beanagent.text import line_breaker, one_line

_STATEMENT_TAGS = ("STMTRS", "CCSTMTRS")
# Same tag alphabet as ofxtools' TreeBuilder regex, so that our count of opening tags
# matches the elements it builds, one for one.
_OPEN_TAG = re.compile(r"<([A-Z0-9./_ ]+?)>")
_OFX_START = re.compile(r"<OFX>", re.IGNORECASE)
_OFX_END = re.compile(r"</OFX>", re.IGNORECASE)
_NEWLINE = re.compile(r"\r\n|\r|\n")
_POSITION = re.compile(r"position=\[(\d+):")
_SNIFF_BYTES = 8192

_decimal_type = Types.Decimal()
_string_type = Types.String()


def parse_ofx(path: pathlib.Path, display: str) -> list[RawStatement]:
    """One RawStatement per bank (STMTRS) or credit-card (CCSTMTRS) statement in the file,
    and one per investment statement (INVSTMTRS) that moves cash: its cash lines only
    (ofx_invest.py says what is left out).

    Raises BadInputError (naming `display`, and the line when known) for a file that is
    not OFX, is truncated, carries a server error instead of a statement, or only holds
    investment statements without cash transactions.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise BadInputError(f"cannot read file: {err.strerror or err}", file=display) from err
    text = _decode(raw)
    doc = _Document(text, display)
    root = doc.parse()

    statements = [el for el in root.iter() if el.tag in (*_STATEMENT_TAGS, "INVSTMTRS")]
    if not statements:
        _raise_no_statement(root, doc)
    out = []
    left_out: list[str] = []
    for el in statements:
        if el.tag == "INVSTMTRS":
            from beanagent.statements.ofx_invest import investment_statement, securities

            invest = investment_statement(el, doc, securities(root))
            if invest.lines:  # a brokerage account without cash movements is no statement
                out.append(invest)
            else:  # its notes after the first say what was left out
                left_out += [note.split(": ", 1)[-1] for note in invest.notes[1:]]
        else:
            out.append(_statement(el, doc))
    if not out:
        why = f" ({'; '.join(left_out)})" if left_out else ""
        raise doc.error(f"this OFX file only holds investment statements without cash "
                        f"transactions{why}; beanagent reconciles bank, card and brokerage "
                        "cash, not holdings (lots at cost are not read)")
    return out


def _decode(raw: bytes) -> str:
    """Decode the whole file, header included, so that line numbers stay physical.

    Banks often declare CHARSET:1252 and send UTF-8 (or the reverse), so the header is
    only a hint: strict UTF-8 is tried first (non-ASCII cp1252 text is practically never
    valid UTF-8), then the declared charset, then cp1252 and latin-1, which never fails.
    """
    head = raw[:_SNIFF_BYTES].decode("latin-1")
    candidates = ["utf-8-sig"]
    declared = re.search(r"CHARSET:\s*([\w-]+)", head) or re.search(
        r"encoding=[\"']([\w.-]+)[\"']", head
    )
    if declared:
        name = declared.group(1)
        candidates.append(f"cp{name}" if name.isdigit() else name)
    candidates += ["cp1252", "latin-1"]
    for codec in candidates:
        try:
            return raw.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    raise AssertionError("latin-1 decodes any byte string")  # pragma: no cover


class _Builder(TreeBuilder):
    """ofxtools' TreeBuilder, tolerant of the end-tag sloppiness of real OFX 1.x files.

    ElementTree's builder only asserts on a mismatched end tag (and not at all under
    `python -O`), so end tags are checked here: an end tag for an element that is not
    open is ignored (data elements close themselves in OFX 1.x, and some producers add
    their end tags in the wrong place), an end tag for an outer element closes the
    inner aggregates someone forgot to close, as SGML would, and `<TAG/>` is empty.
    """

    def __init__(self) -> None:
        super().__init__()
        self.open_tags: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        if tag.endswith("/"):
            # An XML-style empty element (`<BALAMT/>`) in an SGML file: ofxtools' regex
            # takes the slash as part of the name and would leave it open.
            elem = super().start(tag[:-1], attrs)
            super().end(tag[:-1])
            return elem
        self.open_tags.append(tag)
        return super().start(tag, attrs)

    # None for an end tag of no open element: ofxtools' parser ignores what end() returns.
    def end(self, tag: str) -> ET.Element | None:  # type: ignore[override]
        if tag not in self.open_tags:
            return None
        while True:
            top = self.open_tags.pop()
            closed = super().end(top)
            if top == tag:
                return closed


@dataclasses.dataclass
class _Document:
    """The decoded file text plus what is needed to map elements back to lines."""

    text: str
    display: str
    body_start: int = 0
    _line_starts: list[int] = dataclasses.field(default_factory=list)
    _lines: dict[ET.Element, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._line_starts = [0] + [m.end() for m in _NEWLINE.finditer(self.text)]

    def line_at(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset)

    def line_of(self, elem: ET.Element) -> int | None:
        return self._lines.get(elem)

    def error(self, message: str, elem: ET.Element | None = None) -> BadInputError:
        return BadInputError(
            message, file=self.display, line=None if elem is None else self.line_of(elem)
        )

    def parse(self) -> ET.Element:
        start = _OFX_START.search(self.text)
        if start is None:
            raise BadInputError(
                "not an OFX file (no <OFX> tag); expected an OFX/QFX/QBO bank or card statement",
                file=self.display,
            )
        end = _OFX_END.search(self.text, start.end())
        if end is None:
            raise BadInputError(
                "OFX file is truncated (no closing </OFX> tag); download it again",
                file=self.display,
                line=self.line_at(len(self.text.rstrip())),
            )
        self.body_start = start.start()
        # Anything after </OFX> (trailing NULs, a second copy) is not ours to parse.
        body = self.text[self.body_start : end.end()]
        builder = _Builder()
        try:
            builder.feed(body)
        except ParseError as err:
            where = _POSITION.search(str(err))
            line = self.line_at(self.body_start + int(where.group(1))) if where else None
            reason = str(err).split(" - position=")[0].split(" in <")[0]
            raise BadInputError(f"malformed OFX: {reason}", file=self.display, line=line) from err
        except ET.ParseError as err:  # raised by ElementTree's own builder, without a position
            raise BadInputError(f"malformed OFX: {err}", file=self.display) from err
        if builder.open_tags:
            # Only reachable when </OFX> itself is unbalanced, e.g. <OFX> nested twice.
            raise BadInputError(
                f"malformed OFX: <{builder.open_tags[-1]}> is never closed", file=self.display
            )
        root = builder.close()
        if root is None:
            raise BadInputError(
                "no OFX elements found (OFX tags are upper case, like <STMTRS>)",
                file=self.display,
            )
        self._index_lines(root, body)
        return root

    def _index_lines(self, root: ET.Element, body: str) -> None:
        """Map each element to the physical line of its opening tag: the k-th element
        named X in document order is the k-th `<X>` in the text (ofxtools builds one
        element per opening tag). Tags whose counts disagree (CDATA holding markup)
        are left without lines rather than guessed."""
        offsets: dict[str, list[int]] = {}
        for m in _OPEN_TAG.finditer(body):
            offsets.setdefault(m.group(1).rstrip("/"), []).append(self.body_start + m.start())
        elements: dict[str, list[ET.Element]] = {}
        for el in root.iter():
            elements.setdefault(el.tag, []).append(el)
        for tag, els in elements.items():
            found = offsets.get(tag, [])
            if len(found) == len(els):
                for el, off in zip(els, found, strict=True):
                    self._lines[el] = self.line_at(off)


def _raise_no_statement(root: ET.Element, doc: _Document) -> None:
    for status in root.iter("STATUS"):
        code = _text(status, "CODE")
        severity = (_text(status, "SEVERITY") or "").upper()
        if (code and code != "0") or severity == "ERROR":
            message = _text(status, "MESSAGE") or "no message"
            raise doc.error(
                f"the bank's OFX server sent an error instead of a statement: {message} "
                f"(code {code or '?'}); download the statement again",
                status,
            )
    raise doc.error("no bank or credit-card statement (STMTRS/CCSTMTRS) in this OFX file")


def _statement(stmt: ET.Element, doc: _Document) -> RawStatement:
    account_id = _text(stmt, "BANKACCTFROM/ACCTID") or _text(stmt, "CCACCTFROM/ACCTID")
    closing_balance: Decimal | None = None
    closing_date: datetime.date | None = None
    # Searched anywhere below the statement: some files close BANKTRANLIST late, which
    # puts LEDGERBAL inside it.
    ledger = stmt.find(".//LEDGERBAL")
    # An entirely empty LEDGERBAL (no amount, no date) is how some banks say "no
    # balance"; one with a date but no amount is broken and reported.
    if ledger is not None and (_text(ledger, "BALAMT") or _text(ledger, "DTASOF")):
        closing_balance = _amount(ledger, "BALAMT", doc, required=True)
        closing_date = _date(ledger, "DTASOF", doc, required=False)
    lines = [_line(trn, doc) for trn in stmt.iter("STMTTRN")]
    # sorted() is stable, so same-day lines keep the bank's order.
    lines.sort(key=lambda ln: ln.date)
    return RawStatement(
        file=doc.display,
        format="ofx",
        lines=tuple(lines),
        currency=_text(stmt, "CURDEF"),
        account_id=account_id,
        closing_balance=closing_balance,
        closing_date=closing_date,
    )


def _line(trn: ET.Element, doc: _Document) -> StatementLine:
    name = _collapse(_text(trn, "NAME") or _text(trn, "PAYEE/NAME"))
    memo = _collapse(_text(trn, "MEMO"))
    amount = _amount(trn, "TRNAMT", doc, required=True)
    assert amount is not None  # required=True raised otherwise
    posted = _date(trn, "DTPOSTED", doc, required=True)
    assert posted is not None
    return StatementLine(
        ref=Ref(file=doc.display, line=doc.line_of(trn), id=_text(trn, "FITID")),
        date=posted,
        amount=amount,
        description=_describe(name, memo) or (_text(trn, "TRNTYPE") or "").lower(),
        payee=name or None,
        check=_text(trn, "CHECKNUM") or None,
    )


def _describe(name: str, memo: str) -> str:
    """NAME, plus MEMO when it adds something. NAME is limited to 32 characters, so
    banks often repeat it in full in MEMO; then MEMO alone is the better description."""
    if not memo or memo.casefold() in name.casefold():
        return name
    if not name or memo.casefold().startswith(name.casefold()):
        return memo
    return f"{name} / {memo}"


def _text(elem: ET.Element, path: str) -> str | None:
    """The text of a data element below `elem`, entities unescaped; None when absent
    or empty (OFX 1.x files write empty values as `<TAG></TAG>`). A value holding a
    control, bidi or separator character is put on one line with those made visible
    (`text.one_line`): a MEMO is the bank's, or anyone's, text."""
    child = elem.find(path)
    if child is None or not child.text:
        return None
    value = _string_type.convert(child.text.strip())
    if line_breaker(value) is not None:  # otherwise as it was: FITIDs stay byte-identical
        value = one_line(value)
    return value or None


def _collapse(value: str | None) -> str:
    return " ".join((value or "").split())


def _amount(elem: ET.Element, tag: str, doc: _Document, *, required: bool) -> Decimal | None:
    child = elem.find(tag)
    value = None if child is None else (child.text or "").strip()
    if not value:
        if required:
            raise doc.error(f"<{elem.tag}> has no {tag} amount", elem)
        return None
    try:
        number = _decimal_type.convert(value)
    except decimal.InvalidOperation:
        number = None
    if not isinstance(number, Decimal) or not number.is_finite():
        raise doc.error(f"<{elem.tag}> has an invalid {tag} amount {value!r}", elem)
    problem = amount_problem(number)
    if problem:
        shown = value if len(value) <= 24 else value[:24] + "…"
        raise doc.error(f"<{elem.tag}> {tag} amount {shown!r} {problem}", elem)
    return number


def _date(elem: ET.Element, tag: str, doc: _Document, *, required: bool) -> datetime.date | None:
    """The calendar date the bank wrote. Only the leading YYYYMMDD is used: ofxtools
    would shift a timestamp with a zone offset to UTC, which moves late-evening (or,
    east of Greenwich, early-morning) transactions to another day."""
    value = _text(elem, tag)
    if value is None:
        if required:
            raise doc.error(f"<{elem.tag}> has no {tag} date", elem)
        return None
    m = re.match(r"(\d{4})(\d{2})(\d{2})", value)
    try:
        if m is None:
            raise ValueError(value)
        day = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise doc.error(
            f"<{elem.tag}> has an invalid {tag} date {value!r} (expected YYYYMMDD...)", elem
        ) from None
    problem = date_problem(day)
    if problem:  # 9999-12-31 would overflow the matching window's arithmetic
        raise doc.error(f"<{elem.tag}> {tag} date {day} {problem}", elem)
    return day
