"""Bank statement formats the scenario generator writes (benchmarks/scenarios.py): BofA CSV
with a summary preamble and running balance, German `;` CSV, Chase CSV (newest first), a
debit/credit-column CSV, and OFX 1.x for a bank or a card account; and the layouts of
issue 13: a German export with the payee in its own counterparty column and only noise in
the purpose ("Referenz 145377"), an English one with "Name" and a "Memo" of bill-pay ids,
a Mint-style export (unsigned amounts and a debit/credit "Transaction Type"), a CSV with a
currency on every row, and a brokerage's cash activity. Each writer fills in every row's
`key`: how a report's evidence names the line (FITID, or "file:line")."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import io
from collections.abc import Callable, Sequence
from decimal import Decimal


@dataclasses.dataclass
class Row:
    """One statement line and the real-world event it belongs to."""

    date: datetime.date
    amount: Decimal
    name: str  # the merchant as the bank names it
    description: str
    event: str
    key: str = ""  # how a report's evidence names it: FITID, or "file:line"
    payee: str = ""  # the counterparty as a bank's name column holds it (mixed case)





def _csv(rows: Sequence[Sequence[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _fitid(row: Row, seq: int) -> str:
    digest = hashlib.sha256(f"{row.date}|{row.amount}|{row.description}|{seq}".encode())
    return f"{row.date:%Y%m%d}{int(digest.hexdigest()[:10], 16) % 10**10:010d}"


def write_bofa(rows: list[Row], opening: Decimal, name: str, _acct: str) -> str:
    closing = opening + sum((r.amount for r in rows), Decimal(0))
    first, last = rows[0].date, rows[-1].date
    table = [["Description", "", "Summary Amt."],
             [f"Beginning balance as of {first:%m/%d/%Y}", "", f"{opening:,.2f}"],
             [f"Ending balance as of {last:%m/%d/%Y}", "", f"{closing:,.2f}"], [],
             ["Date", "Description", "Amount", "Running Bal."]]
    running = opening
    for r in rows:
        running += r.amount
        table.append([f"{r.date:%m/%d/%Y}", r.description, f"{r.amount:.2f}", f"{running:,.2f}"])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_de(rows: list[Row], opening: Decimal, name: str, _acct: str) -> str:
    def de(n: Decimal) -> str:
        return f"{n:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")

    table = [["Buchungstag", "Valuta", "Umsatztext", "Betrag", "Saldo", "Waehrung"]]
    running = opening
    for r in rows:
        running += r.amount
        table.append([f"{r.date:%d.%m.%Y}", f"{r.date:%d.%m.%Y}", r.description, de(r.amount),
                      de(running), "USD"])
        r.key = f"{name}:{len(table)}"
    return _csv(table, ";")


def write_chase(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    table = [["Transaction Date", "Post Date", "Description", "Category", "Type", "Amount",
              "Memo"]]
    for r in reversed(rows):  # newest first, as Chase exports
        kind = "Payment" if r.amount > 0 else "Sale"
        table.append([f"{r.date:%m/%d/%Y}", f"{r.date:%m/%d/%Y}", r.description, "", kind,
                      f"{r.amount:.2f}", ""])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_debit_credit(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    table = [["Date", "Description", "Debit", "Credit"]]
    for r in rows:
        debit, credit = (f"{-r.amount:.2f}", "") if r.amount < 0 else ("", f"{r.amount:.2f}")
        table.append([r.date.isoformat(), r.description, debit, credit])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_ofx(rows: list[Row], opening: Decimal, _name: str, acct: str) -> str:
    card = acct.startswith("Liabilities")
    closing = opening + sum((r.amount for r in rows), Decimal(0))

    def when(day: datetime.date) -> str:
        return f"{day:%Y%m%d}120000"

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    msgs, rs = ("CREDITCARDMSGSRSV1", "CCSTMTRS") if card else ("BANKMSGSRSV1", "STMTRS")
    acct_from = (["<CCACCTFROM>", "<ACCTID>4417000012345678", "</CCACCTFROM>"] if card else
                 ["<BANKACCTFROM>", "<BANKID>026009593", "<ACCTID>00234-48574897",
                  "<ACCTTYPE>CHECKING", "</BANKACCTFROM>"])
    out = ["OFXHEADER:100", "DATA:OFXSGML", "VERSION:102", "SECURITY:NONE", "ENCODING:USASCII",
           "CHARSET:1252", "COMPRESSION:NONE", "OLDFILEUID:NONE", "NEWFILEUID:NONE", "",
           "<OFX>", "<SIGNONMSGSRSV1>", "<SONRS>", "<STATUS>", "<CODE>0", "<SEVERITY>INFO",
           "</STATUS>", f"<DTSERVER>{when(rows[-1].date)}", "<LANGUAGE>ENG", "</SONRS>",
           "</SIGNONMSGSRSV1>", f"<{msgs}>", f"<{rs[:-2]}TRNRS>" if card else "<STMTTRNRS>",
           "<TRNUID>0", "<STATUS>", "<CODE>0", "<SEVERITY>INFO", "</STATUS>", f"<{rs}>",
           "<CURDEF>USD", *acct_from, "<BANKTRANLIST>", f"<DTSTART>{when(rows[0].date)}",
           f"<DTEND>{when(rows[-1].date)}"]
    for seq, r in enumerate(rows):
        r.key = _fitid(r, seq)
        out += ["<STMTTRN>", f"<TRNTYPE>{'CREDIT' if r.amount > 0 else 'DEBIT'}",
                f"<DTPOSTED>{when(r.date)}", f"<TRNAMT>{r.amount:.2f}", f"<FITID>{r.key}",
                f"<NAME>{esc(r.name[:32])}", f"<MEMO>{esc(r.description)}", "</STMTTRN>"]
    out += ["</BANKTRANLIST>", "<LEDGERBAL>", f"<BALAMT>{closing:.2f}",
            f"<DTASOF>{when(rows[-1].date)}", "</LEDGERBAL>", f"</{rs}>",
            f"</{rs[:-2]}TRNRS>" if card else "</STMTTRNRS>", f"</{msgs}>", "</OFX>"]
    return "\n".join(out) + "\n"


def _noise(row: Row, seq: int) -> int:
    digest = hashlib.sha256(f"{row.date}|{row.amount}|{row.name}|{seq}".encode())
    return int(digest.hexdigest()[:8], 16)


def write_counterparty_de(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    """A German bank's export: payee in "Auftraggeber / Begünstigter", the purpose holding
    only references, amounts `1.234,56`."""
    def de(n: Decimal) -> str:
        return f"{n:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")

    table = [["Buchungstag", "Valutadatum", "Auftraggeber / Begünstigter", "Verwendungszweck",
              "Betrag", "Währung"]]
    for seq, r in enumerate(rows):
        n = _noise(r, seq)
        purpose = (f"Referenz {n % 1000000}" if seq % 2 else
                   f"SEPA-LASTSCHRIFT Mandat M{n % 99999:05d} Referenz {n % 1000000}")
        table.append([f"{r.date:%d.%m.%Y}", f"{r.date:%d.%m.%Y}", r.payee or r.name, purpose,
                      de(r.amount), "USD"])
        r.key = f"{name}:{len(table)}"
    return _csv(table, ";")


def write_name_memo(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    """An online bank's export: the payee in "Name", a "Memo" of bill-pay and card ids."""
    table = [["Date", "Name", "Memo", "Amount"]]
    for seq, r in enumerate(rows):
        n = _noise(r, seq)
        memo = (f"BILL PAY ID:{n % 10**9:09d}" if seq % 2 else
                f"CARD {n % 10000:04d} AUTH {n % 999999:06d}")
        table.append([f"{r.date:%m/%d/%Y}", r.payee or r.name, memo, f"{r.amount:.2f}"])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_mint(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    """Mint's export: unsigned amounts, the sign in "Transaction Type" (debit/credit)."""
    table = [["Date", "Description", "Original Description", "Amount", "Transaction Type",
              "Category", "Account Name", "Labels", "Notes"]]
    for r in rows:
        kind = "debit" if r.amount < 0 else "credit"
        table.append([f"{r.date:%m/%d/%Y}", r.payee or r.name, r.description,
                      f"{abs(r.amount):.2f}", kind, "Uncategorized", "Card", "", ""])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_currency(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    """A currency on every row (all in the account's own currency here)."""
    table = [["Date", "Description", "Amount", "Currency"]]
    for r in rows:
        table.append([r.date.isoformat(), r.description, f"{r.amount:.2f}", "USD"])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


def write_brokerage(rows: list[Row], _opening: Decimal, name: str, _acct: str) -> str:
    """A brokerage's cash activity (trades, dividends, transfers), newest first."""
    table = [["Date", "Action", "Description", "Amount"]]
    for r in reversed(rows):
        action = ("Buy" if "BUY" in r.name else "Dividend" if "DIVIDEND" in r.name
                  else "Journal")
        table.append([f"{r.date:%m/%d/%Y}", action, r.description, f"{r.amount:.2f}"])
        r.key = f"{name}:{len(table)}"
    return _csv(table)


WRITERS: dict[str, tuple[str, Callable[[list[Row], Decimal, str, str], str]]] = {
    "bofa-csv": ("csv", write_bofa), "de-csv": ("csv", write_de),
    "chase-csv": ("csv", write_chase), "debit-credit-csv": ("csv", write_debit_credit),
    "ofx": ("ofx", write_ofx), "counterparty-csv": ("csv", write_counterparty_de),
    "name-memo-csv": ("csv", write_name_memo), "type-csv": ("csv", write_mint),
    "currency-csv": ("csv", write_currency), "brokerage-csv": ("csv", write_brokerage),
}

