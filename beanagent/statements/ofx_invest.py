"""The cash of an investment OFX statement (INVSTMTRS), as a statement of the brokerage's
cash account: what reconciles against `Assets:Broker:Cash`.

Read, one line per transaction that moves cash, from the account's view:
* `INVBANKTRAN`: its STMTTRN, as in a bank statement (deposits, withdrawals, interest).
* buys and sells (`BUY*`/`SELL*`): their `TOTAL` (negative for a buy, positive for a
  sale: price times units, commission, fees and taxes included), dated on the trade date.
* `INCOME` (dividends, interest, capital gains paid out) and `RETOFCAP`: their `TOTAL`.
* `INVEXPENSE` and `MARGININTEREST`: minus their `TOTAL` whatever sign the broker wrote
  (an expense never brings cash in).
Left out, said in a note on the statement:
* the securities themselves: units, lots at cost, prices, positions (`INVPOSLIST`),
  and transactions that move no cash (`REINVEST`: the income is reinvested, its cash in and
  out cancel; `TRANSFER`, `SPLIT`, `JRNLSEC`, `JRNLFUND`, `CLOSUREOPT`). A later issue may
  reconcile holdings; today only the cash account is.
* trades funded from outside the cash (a 401(k) contribution source, `SUBACCTFUND` OTHER).
* lines in another currency than `CURDEF`.
* the closing balance: `INVBAL/AVAILCASH` counts sweep money-market funds as cash (Fidelity's
  equals its "Total Money Markets"), which a ledger usually holds as a security, so it is not
  asserted.
The account id is `INVACCTFROM/ACCTID`; the currency `CURDEF`.
"""

from __future__ import annotations

import datetime
import decimal
import xml.etree.ElementTree as ET
from decimal import Decimal

from beanagent.statements.model import RawStatement, Ref, StatementLine, amount_problem
from beanagent.statements.ofx import _date, _Document, _line, _text

_TRADES = ("BUYDEBT", "BUYMF", "BUYOPT", "BUYOTHER", "BUYSTOCK",
           "SELLDEBT", "SELLMF", "SELLOPT", "SELLOTHER", "SELLSTOCK")
_INCOME = ("INCOME", "RETOFCAP")
_EXPENSE = ("INVEXPENSE", "MARGININTEREST")
_NO_CASH = ("REINVEST", "TRANSFER", "SPLIT", "JRNLSEC", "JRNLFUND", "CLOSUREOPT")
_WORDS = {"INCOME": "income", "RETOFCAP": "return of capital", "INVEXPENSE": "expense",
          "MARGININTEREST": "margin interest"}
_MAX_DECIMALS = Decimal("1e-8")


def securities(root: ET.Element) -> dict[str, str]:
    """UNIQUEID → ticker (else name), from the file's SECLIST."""
    out = {}
    for info in root.iter("SECINFO"):
        uid = _text(info, "SECID/UNIQUEID")
        label = _text(info, "TICKER") or _text(info, "SECNAME")
        if uid and label:
            out[uid] = label
    return out


def investment_statement(stmt: ET.Element, doc: _Document,
                         names: dict[str, str]) -> RawStatement:
    """The cash lines of one INVSTMTRS; see the module docstring."""
    currency = _text(stmt, "CURDEF")
    lines: list[StatementLine] = []
    skipped: dict[str, int] = {}
    rounded = 0
    tranlist = stmt.find(".//INVTRANLIST")
    for trn in [] if tranlist is None else list(tranlist):
        tag = trn.tag
        if tag == "INVBANKTRAN":
            bank = trn.find("STMTTRN")
            if bank is None:
                continue
            if _foreign(bank, currency):
                skipped["in another currency"] = skipped.get("in another currency", 0) + 1
                continue
            lines.append(_line(bank, doc))
            continue
        if tag in _NO_CASH:
            skipped["moving no cash (" + tag + ")"] = skipped.get(
                "moving no cash (" + tag + ")", 0) + 1
            continue
        if tag not in _TRADES + _INCOME + _EXPENSE:
            continue  # DTSTART, DTEND
        node = trn.find("INVBUY") if tag.startswith("BUY") else (
            trn.find("INVSELL") if tag.startswith("SELL") else trn)
        if node is None:
            continue
        reason = _not_cash(trn, node, currency)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        total, was_rounded = _total(node, doc)
        rounded += was_rounded
        if tag in _EXPENSE:
            total = -abs(total)
        lines.append(_trade_line(tag, trn, node, total, doc, names))
    notes = [f"{doc.display}: investment statement: only its cash is read (lots at cost, "
             "positions and prices are left out); the cash balance (AVAILCASH) is not "
             "asserted, it may count money-market funds"]
    for reason, count in skipped.items():
        notes.append(f"{doc.display}: {count} investment transaction(s) left out: {reason}")
    if rounded:
        notes.append(f"{doc.display}: {rounded} TOTAL(s) with more than 8 decimals rounded "
                     "to 8")
    lines.sort(key=lambda ln: ln.date)
    return RawStatement(file=doc.display, format="ofx", lines=tuple(lines), currency=currency,
                        account_id=_text(stmt, "INVACCTFROM/ACCTID"), notes=tuple(notes))


def _foreign(elem: ET.Element, currency: str | None) -> bool:
    symbol = _text(elem, "CURRENCY/CURSYM")
    return bool(symbol and currency and symbol.strip() != currency)


def _not_cash(trn: ET.Element, node: ET.Element, currency: str | None) -> str | None:
    if node.find("INV401KSOURCE") is not None or trn.find("INV401KSOURCE") is not None:
        return "funded from a 401(k) contribution source (not cash)"
    fund = (_text(node, "SUBACCTFUND") or "").upper()
    if fund == "OTHER":
        return "funded from SUBACCTFUND OTHER (not cash)"
    if _foreign(node, currency):
        return "in another currency"
    return None


def _total(node: ET.Element, doc: _Document) -> tuple[Decimal, int]:
    value = (_text(node, "TOTAL") or "").replace(",", ".")
    if not value:
        raise doc.error(f"<{node.tag}> has no TOTAL amount", node)
    try:
        number = Decimal(value)
    except decimal.InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise doc.error(f"<{node.tag}> has an invalid TOTAL amount {value[:24]!r}", node)
    rounded = 0
    if number != number.quantize(_MAX_DECIMALS, rounding=decimal.ROUND_HALF_EVEN):
        number, rounded = number.quantize(_MAX_DECIMALS, rounding=decimal.ROUND_HALF_EVEN), 1
    problem = amount_problem(number)
    if problem:
        raise doc.error(f"<{node.tag}> TOTAL amount {value[:24]!r} {problem}", node)
    return number, rounded


def _trade_line(tag: str, trn: ET.Element, node: ET.Element, total: Decimal,
                doc: _Document, names: dict[str, str]) -> StatementLine:
    inv = node.find("INVTRAN")
    if inv is None:
        raise doc.error(f"<{tag}> has no INVTRAN", trn)
    day = _date(inv, "DTTRADE", doc, required=True)
    assert isinstance(day, datetime.date)  # required=True raised otherwise
    uid = _text(node, "SECID/UNIQUEID") or ""
    security = names.get(uid, uid)
    units = _text(node, "UNITS")
    if tag in _TRADES:
        verb = "buy" if tag.startswith("BUY") else "sell"
        shown = f"{abs(Decimal(units)).normalize():f} " if units and _is_number(units) else ""
        what = f"{verb} {shown}{security}".strip()
    else:
        kind = _text(node, "INCOMETYPE")
        what = " ".join(x for x in (_WORDS[tag], kind.lower() if kind else "", security) if x)
    memo = _text(inv, "MEMO")
    return StatementLine(
        ref=Ref(doc.display, doc.line_of(trn), _text(inv, "FITID")),
        date=day,
        amount=total,
        description=f"{what} / {memo}" if memo else what,
    )


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except decimal.InvalidOperation:
        return False
