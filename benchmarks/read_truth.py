"""What each statement file in `../shared/realworld` really holds: the truth bench_read
compares beanagent's readers against.

Truth is derived automatically wherever a peer project ships an expected result, else from
an independent oracle parser, else typed by hand from the file and checked by eye:

- beangulp: the `*.beancount` golden beside each test file (postings to its `;; Account:`
  or that account's `:Cash`, its `balance`); copies elsewhere matched by content hash.
- beancount-import: `testdata/source/<src>/test_basic|test_lots/import_results.beancount`,
  per `;; info:` file: postings to the source accounts its `; features:` and `balance`
  entries name (else the cash accounts its journal opens); the last balance is the closing
  when dated after the last line. Venmo is a column oracle instead (see `_venmo`).
- OFX/QFX/QBO without a golden (all of them): `ofxparse` 0.21 (benchmark-only, test
  extras), dates from the raw DTPOSTED/DTTRADE (ofxparse shifts them to UTC); investment
  statements: INVBANKTRAN amounts and the TOTAL of buys/sells/income/expenses.
- MT940: mt-940's pickled-YAML `*.yml` beside each `.sta` (a SafeLoader that maps the python
  tags to plain values), RC/RD signed per SWIFT, accounts and `:62F:` closings per `:20:`
  block of the .sta; `citi/mt940.txt` via mt-940 itself; the two ASNB files mt-940 can't
  parse by a regex over `:61:` (hand-checked).
- CAMT: an ElementTree walk over `Ntry` (ours), booking or value date; genkgo's
  `camt053*.json` are cut off (`__RECURSIVITY__`) and only cross-check the first entry.
- QIF: quiffen 4.0.1's reading, recorded in `QIF_TRUTH` (quiffen kept out of the project's
  environment; regenerate with `python -m benchmarks.read_truth --qif-oracle DIR`).
- fava import.csv: its ingest snapshot (checked by `fava_check`) plus the Saldo closing.
- hledger: examples/csv/*.csv typed by hand (`HAND`) from the file and its `.rules`;
  csv.test's stand-alone cases from the expected journal (`hledger_cases`).
- Column oracles (ours, explicit column names) where a layout has no golden: UTrade CSVs
  beyond the three with goldens, beangulp's example.csv, the Mint and Venmo copies in
  beancount-import/examples, its examples/data/importers CSVs.

Non-statements a user might pass (HTML orders, JSON exports, JPEG receipts, PDF payslips
and their text dumps, positions/balances CSVs, OFX without a statement) must be refused.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import functools
import hashlib
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

Kind = Literal["statement", "refuse"]


@dataclasses.dataclass(frozen=True)
class TLine:
    """One true statement line: signed from the account holder's side."""

    date: datetime.date
    amount: Decimal
    currency: str | None = None
    payee: str | None = None
    id: str | None = None  # FITID, when the format has one
    alt_date: datetime.date | None = None  # value date (MT940/CAMT), also acceptable


@dataclasses.dataclass
class TAccount:
    key: str
    lines: list[TLine]
    closings: set[Decimal] = dataclasses.field(default_factory=set)
    currency: str | None = None


@dataclasses.dataclass
class Truth:
    kind: Kind
    source: str
    accounts: list[TAccount] = dataclasses.field(default_factory=list)
    note: str = ""


@dataclasses.dataclass
class Item:
    path: Path
    rel: str
    source: str  # the realworld top directory
    fmt: str  # csv, ofx, mt940, camt, qif, html, json, jpg, pdf, txt
    truth: Callable[[], Truth]


def D(text: str) -> Decimal:
    return Decimal(text)


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def refuse(why: str) -> Callable[[], Truth]:
    return lambda: Truth("refuse", why)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- classify

_EXCLUDED_NAMES = {"accounts.txt", "training_examples.json", "errors.json", "meta.json",
                   "truth.json", "expected.json", "candidates.diff"}
_EXCLUDED_SUFFIXES = {".beancount": "ledger / golden (expected output), not an input",
                      ".rules": "hledger CSV rules (configuration), not a statement",
                      ".yml": "expected parse (mt940) or descriptor patterns (solyanka)",
                      ".md": "documentation", ".diff": "reconcile snapshot (expected output)",
                      ".test": "hledger shelltest script: its stand-alone CSV cases are "
                               "benchmarked one by one (csv.test#N), the rest need their rules"}
_EXCLUDED_DIRS = {"solyanka": "descriptor patterns (yml/json), no statements",
                  "smart_importer": "categorisation fixtures (ledgers + expected json)",
                  "beancount-import/testdata/reconcile": "reconcile snapshots (ledgers, diffs)",
                  "beancount-import/matching_test_inline_cases": "matching fixtures (ledgers)",
                  "beancount-import/testdata/matching_test": "matching fixtures (ledgers)",
                  "fava/tests/__snapshots__": "fava's expected ingest output (golden json)"}


def exclusion(rel: str) -> str | None:
    """Why a file is not in the benchmark, or None."""
    name = rel.rsplit("/", 1)[-1]
    for prefix, why in _EXCLUDED_DIRS.items():
        if rel.startswith(prefix + "/"):
            return why
    if name.startswith("LICENSE"):
        return "licence text"
    if name in _EXCLUDED_NAMES:
        return "test-harness metadata / expected output"
    if rel.startswith("camt/") and name.endswith(".json"):
        return "genkgo's expected parse (golden json)"
    for suffix, why in _EXCLUDED_SUFFIXES.items():
        if name.endswith(suffix):
            return why
    return None


def sniff(path: Path) -> str:
    """What a file is, by content first, extension second."""
    head = path.read_bytes()[:4096]
    text = head.decode("latin-1")
    low = text.lower()
    suffix = path.suffix.lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"%PDF"):
        return "pdf"
    if "ofxheader" in low or "<ofx>" in low:
        return "ofx"
    if ("camt.05" in low and "<?xml" in low[:200]) or suffix == ".xml":
        return "camt"
    if suffix in (".sta", ".mt940") or (
            re.search(r"^:20:", text, re.M) and re.search(r"^:(25|61|60F):", text, re.M)):
        return "mt940"
    if suffix == ".qif" or re.match(r"\s*!(type|account|option)", low):
        return "qif"
    if "<html" in low or "<!doctype html" in low:
        return "html"
    if suffix == ".json" or low.lstrip()[:1] in ("{", "["):
        return "json"
    if suffix in (".csv",):
        return "csv"
    if suffix in (".ofx", ".qfx", ".qbo"):
        return "ofx"
    return "txt"


# --------------------------------------------------------------------------- beangulp goldens

def _beancount_entries(path: Path) -> list[Any]:
    from beancount.parser import parser

    entries, _errors, _opts = parser.parse_file(str(path))
    return list(entries)


def beangulp_golden(golden: Path) -> Truth:
    """Postings to the golden's `;; Account:` (or its `:Cash` leg) and its balance."""
    from beancount.core import data
    from beancount.core.amount import Amount

    m = re.search(r"^;; Account: (\S+)", golden.read_text(), re.M)
    assert m, golden
    acct = m.group(1)
    keys = {acct, acct + ":Cash"}
    lines: list[TLine] = []
    closings: set[Decimal] = set()
    currency = None
    for e in _beancount_entries(golden):
        if isinstance(e, data.Transaction):
            for p in e.postings:
                units = p.units
                if p.account in keys and isinstance(units, Amount) and units.number is not None:
                    currency = units.currency
                    lines.append(TLine(e.date, units.number, units.currency, e.payee or None))
        elif isinstance(e, data.Balance) and e.account in keys and e.amount.number is not None:
            closings.add(e.amount.number)
    return Truth("statement", f"golden {golden.name}",
                 [TAccount(acct, lines, closings, currency)])


# --------------------------------------------------------------------------- beancount-import

@functools.cache
def bi_goldens(results: Path) -> dict[str, dict[str, TAccount]]:
    """import_results.beancount → {file name after <testdata>/: {account: lines}}.

    The source accounts of a file are those its `; features:` blocks and `balance`
    directives name (features are empty where the importer categorised a line itself);
    its lines are the postings to them in that account's currency. A balance is kept as
    the closing only when it is dated after the file's last line."""
    from beancount.core import data
    from beancount.core.amount import Amount
    from beancount.parser import parser

    blocks: list[tuple[str, list[Any]]] = []
    sources: dict[str, dict[str, str]] = {}
    balances: dict[str, dict[str, list[tuple[datetime.date, Decimal]]]] = {}
    for block in re.split(r"^(?=;; date: )", results.read_text(), flags=re.M):
        m = re.search(r"^;; info: (\{.*\})$", block, re.M)
        if not m:
            continue
        fname = str(json.loads(m.group(1)).get("filename", "")).replace("<testdata>/", "")
        src = sources.setdefault(fname, {})
        blines = block.splitlines()
        for i, ln in enumerate(blines):
            if ln.startswith("; features: "):
                raw = [ln[len("; features: "):]]
                for more in blines[i + 1:]:
                    if not more.startswith(";"):
                        break
                    raw.append(more[1:])
                for feat in json.loads("\n".join(raw)):
                    src[feat["source_account"]] = feat["amount"].split()[1]
        entries, _errors, _opts = parser.parse_string(block)
        for e in entries:
            if isinstance(e, data.Balance) and e.amount.number is not None:
                src.setdefault(e.account, e.amount.currency)
                balances.setdefault(fname, {}).setdefault(e.account, []).append(
                    (e.date, e.amount.number))
        blocks.append((fname, list(entries)))
    # Where neither names one: the cash accounts the test's journal opens (`…:Cash`, or an
    # account with the importer's id metadata and no `:Cash` child).
    opened: dict[str, dict[str, Any]] = {}
    journal = results.parent / "journal.beancount"
    if journal.exists():
        for e in parser.parse_file(str(journal))[0]:
            if isinstance(e, data.Open):
                opened[e.account] = dict(e.meta)
    fallback = {a for a, meta in opened.items()
                if a.endswith(":Cash") or (a + ":Cash" not in opened and any(
                    k.endswith(("_account", "_id")) and isinstance(v, str) and ":" not in v
                    for k, v in meta.items()))}
    out: dict[str, dict[str, TAccount]] = {}
    for fname, entries in blocks:
        accts = out.setdefault(fname, {})
        for e in entries:
            if not isinstance(e, data.Transaction):
                continue
            for p in e.postings:
                units = p.units
                if not isinstance(units, Amount) or units.number is None:  # elided (MISSING)
                    continue
                cur = sources.get(fname, {}).get(p.account)
                if cur is None and p.account in fallback and units.currency == "USD":
                    cur = "USD"
                if cur is None or units.currency != cur:
                    continue
                ta = accts.setdefault(p.account, TAccount(p.account, [], set(), cur))
                ta.lines.append(TLine(e.date, units.number, cur, e.payee or None))
    for fname, per in balances.items():
        for acct, bals in per.items():
            found = out.setdefault(fname, {}).get(acct)
            if found is None or not found.lines:
                continue
            last = max(bals)
            if last[0] > max(t.date for t in found.lines):
                found.closings.add(last[1])
    return out


def bi_truth(results: Path, fname: str) -> Truth:
    accts = bi_goldens(results).get(fname, {})
    used = [a for a in accts.values() if a.lines]
    src = f"golden {results.parent.parent.name}/{results.parent.name}/import_results.beancount"
    if not used:
        return Truth("statement", src, [], note="no lines in the golden")
    return Truth("statement", src, used)


# --------------------------------------------------------------------------- OFX via ofxparse

_OFX_NOT_STATEMENT = re.compile(r"<(STMTRS|CCSTMTRS|INVSTMTRS)>", re.I)


def _raw_dates(text: str) -> dict[str, datetime.date]:
    """FITID → the DTPOSTED (or DTTRADE) date as written (ofxparse converts to UTC)."""
    out: dict[str, datetime.date] = {}
    for block in re.split(r"<(?:STMTTRN|INVBANKTRAN|BUYSTOCK|SELLSTOCK|BUYMF|SELLMF|INCOME|"
                          r"INVEXPENSE|REINVEST|TRANSFER|BUYOTHER|SELLOTHER|BUYDEBT|SELLDEBT)>",
                          text, flags=re.I):
        fm = re.search(r"<FITID>\s*([^<\r\n]+)", block, re.I)
        dm = re.search(r"<(?:DTPOSTED|DTTRADE)>\s*(\d{8})", block, re.I)
        if fm and dm:
            with _suppress():
                out[fm.group(1).strip()] = datetime.datetime.strptime(dm.group(1), "%Y%m%d").date()
    return out


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ValueError)  # type: ignore[arg-type]


_CASH_INV = {"buymf", "buystock", "buydebt", "buyother", "buyopt", "sellmf", "sellstock",
             "selldebt", "sellother", "sellopt", "income", "invexpense", "margininterest",
             "retofcap", "jrnlfund"}


def ofx_truth(path: Path) -> Truth:
    import ofxparse  # type: ignore[import-untyped]  # benchmark-only oracle

    text = path.read_bytes().decode("latin-1")
    if not _OFX_NOT_STATEMENT.search(text):
        return Truth("refuse", "OFX without a statement (signon/profile/account list)")
    note = ""
    try:
        with path.open("rb") as fh:
            ofx = ofxparse.OfxParser.parse(fh)
    except ofxparse.OfxParserException as err:
        if "Empty ledger balance" not in str(err):
            raise
        with path.open("rb") as fh:  # the lines are fine; only the balance is empty
            ofx = ofxparse.OfxParser.parse(fh, fail_fast=False)
        note = "empty LEDGERBAL: no closing balance"
    raw_dates = _raw_dates(text)
    accounts: list[TAccount] = []
    for acct in ofx.accounts:
        st = acct.statement
        if st is None:
            continue
        lines: list[TLine] = []
        cur = (getattr(st, "currency", None) or "").upper() or None
        inv = acct.type == ofxparse.AccountType.Investment
        for t in st.transactions:
            if inv and not hasattr(t, "payee"):
                kind = str(getattr(t, "type", "")).lower()
                total = getattr(t, "total", None)
                if kind not in _CASH_INV or total in (None, 0):
                    continue
                d = raw_dates.get(t.id) or t.tradeDate.date()
                lines.append(TLine(d, Decimal(total), cur, None, t.id))
            else:
                d = raw_dates.get(t.id) or t.date.date()
                lines.append(TLine(d, Decimal(t.amount), cur, t.payee or None, t.id))
        closings: set[Decimal] = set()
        bal = getattr(st, "balance", None)
        if bal is not None and not inv and not note:
            closings.add(Decimal(bal))
        accounts.append(TAccount(str(acct.account_id), lines, closings, cur))
    src = "oracle ofxparse"
    if any(a.type == ofxparse.AccountType.Investment for a in ofx.accounts):
        src += " (investment: cash = INVBANKTRAN amounts and TOTAL of buys/sells/income/expenses)"
    return Truth("statement", src, accounts, note=note)


# --------------------------------------------------------------------------- MT940 via yml

def _yaml_loader() -> type:
    import yaml  # type: ignore[import-untyped]

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def obj(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Iterator[Any]:
        # A generator: the object exists before its fields, so the recursive anchors
        # (a transaction pointing back at its statement) resolve.
        out: dict[Any, Any] = {}
        yield out
        if isinstance(node, yaml.MappingNode):
            out.update(loader.construct_mapping(node, deep=True))

    def apply(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        args: Any
        if isinstance(node, yaml.SequenceNode):
            args = loader.construct_sequence(node, deep=True)
        else:
            args = loader.construct_mapping(node, deep=True)
        if suffix == "decimal.Decimal":
            return Decimal(args[0])
        if suffix in ("mt940.models.Date", "datetime.date"):
            b = args[0]
            return datetime.date(b[0] * 256 + b[1], b[2], b[3])
        return args

    Loader.add_multi_constructor("tag:yaml.org,2002:python/object/apply:", apply)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/object/new:", apply)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/object:", obj)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", obj)
    return Loader


def _mt940_blocks(sta: Path) -> list[tuple[str, int, set[Decimal]]]:
    """Per :20: block of the .sta: its :25: account, how many :61: lines, its :62F:/:62M:
    closing balances (the yml keeps only the last statement's)."""
    text = sta.read_text(encoding="latin-1").replace("\r\n", "\n")
    out: list[tuple[str, int, set[Decimal]]] = []
    for blk in re.split(r"(?m)^:20:", text)[1:]:
        am = re.search(r"(?m)^:25:(.*)$", blk)
        closings = set()
        for cm in re.finditer(r"(?m)^:62[FM]:([CD])\d{6}[A-Z]{3}([\d,]+)", blk):
            v = Decimal(cm.group(2).replace(",", ".").rstrip(".") or "0")
            closings.add(-v if cm.group(1) == "D" else v)
        out.append(((am.group(1).strip() if am else "?"), len(re.findall(r"(?m)^:61:", blk)),
                    closings))
    return out


def mt940_truth(yml: Path) -> Truth:
    """mt-940's expected parse. Reversals are signed as SWIFT defines them (RC = reversal
    of a credit = money out; RD = money in): the ymls were written by an older mt-940 that
    kept RC positive. Accounts and closing balances per :20: block from the .sta itself."""
    import yaml

    doc = yaml.load(yml.read_text(encoding="utf-8"), Loader=_yaml_loader())
    data = doc.get("data", {})
    lines: list[TLine] = []
    for t in doc.get("transactions", []):
        td = t.get("data", {})
        if "amount" not in td:
            continue
        amt = td["amount"]
        v = abs(Decimal(amt["amount"]))
        if str(td.get("status", "")).upper() in ("D", "RC"):
            v = -v
        d = td.get("entry_date") or td.get("date")
        lines.append(TLine(d, v, amt.get("currency"), None, None, td.get("date")))
    blocks = _mt940_blocks(yml.with_suffix(".sta"))
    accounts: dict[str, TAccount] = {}
    if sum(n for _a, n, _c in blocks) == len(lines):
        i = 0
        for acct, n, closings in blocks:
            ta = accounts.setdefault(acct, TAccount(acct, []))
            ta.lines.extend(lines[i:i + n])
            ta.closings |= closings
            i += n
    else:
        acct = str(data.get("account_identification") or "?")
        accounts[acct] = TAccount(acct, lines, {c for _a, _n, cs in blocks for c in cs})
    for ta in accounts.values():
        ta.currency = next((ln.currency for ln in ta.lines if ln.currency), None)
    return Truth("statement", f"golden {yml.name} (mt-940's expected parse; RC signed as debit)",
                 list(accounts.values()), note="booking (entry) date or value date both accepted")


# --------------------------------------------------------------------------- CAMT

def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: ET.Element, *path: str) -> ET.Element | None:
    cur: ET.Element | None = el
    for name in path:
        if cur is None:
            return None
        cur = next((c for c in cur if _local(c.tag) == name), None)
    return cur


def _date_of(el: ET.Element | None) -> datetime.date | None:
    if el is None:
        return None
    for c in el:
        if c.text and _local(c.tag) in ("Dt", "DtTm"):
            return datetime.date.fromisoformat(c.text.strip()[:10])
    return None


def camt_truth(path: Path) -> Truth:
    try:
        root = ET.fromstring(path.read_bytes())
    except ET.ParseError:
        return Truth("refuse", "oracle ElementTree: not well-formed XML")
    accounts: dict[str, TAccount] = {}
    body = next(iter(root), None)
    if body is None:
        return Truth("refuse", "empty XML")
    recs = [c for c in body if _local(c.tag) in ("Stmt", "Rpt", "Ntfctn")]
    if not recs:
        return Truth("refuse", "oracle ElementTree: no Stmt/Rpt/Ntfctn")
    for rec in recs:
        acct_el = _find(rec, "Acct")
        iban = _find(acct_el, "Id", "IBAN") if acct_el is not None else None
        other = _find(acct_el, "Id", "Othr", "Id") if acct_el is not None else None
        key = (iban.text if iban is not None else other.text if other is not None else "?") or "?"
        ta = accounts.setdefault(key.strip(), TAccount(key.strip(), []))
        for bal in (c for c in rec if _local(c.tag) == "Bal"):
            code = _find(bal, "Tp", "CdOrPrtry", "Cd")
            amt = _find(bal, "Amt")
            ind = _find(bal, "CdtDbtInd")
            if code is not None and code.text == "CLBD" and amt is not None and amt.text:
                v = Decimal(amt.text.strip())
                ta.closings.add(-v if ind is not None and ind.text == "DBIT" else v)
        for ntry in (c for c in rec if _local(c.tag) == "Ntry"):
            sts = _find(ntry, "Sts")
            code = _find(sts, "Cd") if sts is not None else None
            status = ((code.text if code is not None else sts.text if sts is not None else "")
                      or "").strip()
            if status == "PDNG":  # pending: not booked yet, may still change
                continue
            amt = _find(ntry, "Amt")
            ind = _find(ntry, "CdtDbtInd")
            assert amt is not None and amt.text is not None, path
            v = Decimal(amt.text.strip())
            if ind is not None and ind.text == "DBIT":
                v = -v
            rvsl = _find(ntry, "RvslInd")
            if rvsl is not None and (rvsl.text or "").strip().lower() == "true":
                v = -v
            booked = _date_of(_find(ntry, "BookgDt"))
            value = _date_of(_find(ntry, "ValDt"))
            d = booked or value
            if d is None:
                continue
            cur = amt.get("Ccy")
            ta.currency = ta.currency or cur
            ta.lines.append(TLine(d, v, cur, None, None, value))
    return Truth("statement", "oracle ElementTree over Ntry (ours; pending PDNG left out)",
                 list(accounts.values()), note="booking or value date both accepted")


def camt_json_check(xml: Path) -> str | None:
    """The first entry of genkgo's json against the oracle: a disagreement, or None."""
    js = xml.with_suffix(".json")
    if not js.exists():
        return None
    doc = json.loads(js.read_text())
    entries = doc.get("getEntries") or []
    truth = camt_truth(xml)
    lines = [ln for a in truth.accounts for ln in a.lines]
    for e in entries[:1]:
        d = day(e["getBookingDate"]["0"][:10])
        cents = Decimal(e["getAmount"]["getAmount"]).scaleb(-2)
        if not any(ln.date == d and ln.amount == cents for ln in lines):
            return f"{xml.name}: genkgo's first entry {d} {cents} not in the oracle's lines"
    return None


# --------------------------------------------------------------------------- QIF via quiffen

# quiffen 4.0.1's reading of each file (day-first when one date of the file can only be
# read so; date, amount, payee; one account each; its
# `!Type:Invst` records carry no cash amount and are left out), generated by `qif_oracle`
# below with quiffen installed apart (`pip install --target DIR quiffen==4.0.1`, then
# `python -m benchmarks.read_truth --qif-oracle DIR`): quiffen pins python-dateutil<3 and
# pulls in pydantic, so it stays out of the project's environment. A string: the reason
# the file holds no statement.
QIF_TRUTH: dict[str, str | list[tuple[str, str, str | None]]] = {
    'empty.qif': 'empty file',
    'test.qif': [
        ('2020-02-10', '0.00', 'Opening Balance'),
        ('2020-02-14', '67.50', 'T-Mobile'),
        ('2020-02-14', '32.00', 'US Post Office'),
        ('2020-02-12', '-10.00', 'Target'),
        ('2020-02-11', '-25.00', 'Walmart'),
        ('2020-02-10', '-100.00', 'Amazon.com'),
    ],
    'test_category_inherit.qif': 'oracle quiffen: no transactions (categories/classes only)',
    'test_category_override.qif': [
        ('2017-12-22', '1000.00', 'Income For January'),
        ('2018-01-01', '1100.00', 'Starting Balance'),
        ('2018-01-02', '-12.57', 'FOOD C LONDON VIS'),
        ('2018-01-02', '-9.99', 'GOUSTO.CO.UK - A LONDON  W3 VIS'),
    ],
    'test_circular_reference.qif': [
        ('2021-08-27', '-9.00', 'ANDREAS APOTHEKE'),
        ('2021-08-27', '-5.59', 'BROTHAUS GMBH'),
    ],
    'test_clear_autoswitch.qif': 'oracle quiffen: no transactions (categories/classes only)',
    'test_nosymbol.qif': 'oracle quiffen: no transactions (categories/classes only)',
    'test_option_autoswitch.qif': 'oracle quiffen: no transactions (categories/classes only)',
    'test_oth_a.qif': [
        ('2020-02-10', '0.00', 'Opening Balance'),
        ('2020-02-14', '67.50', 'T-Mobile'),
        ('2020-02-14', '32.00', 'US Post Office'),
        ('2020-02-12', '-10.00', 'Target'),
        ('2020-02-11', '-25.00', 'Walmart'),
        ('2020-02-10', '-100.00', 'Amazon.com'),
    ],
    'test_split.qif': [
        ('2000-01-01', '-10.00', 'A Payee'),
    ],
    'test_transaction_before_account_definition_1.qif': [
        ('2022-09-23', '-184.8', 'FIRST TRANSACTION'),
        ('2022-09-08', '-13.16', 'SECOND TRANSACTION'),
    ],
    'test_transaction_before_account_definition_2.qif': [
        ('2022-09-23', '-184.8', 'FIRST TRANSACTION'),
        ('2022-09-08', '-13.16', 'SECOND TRANSACTION'),
    ],
    'test_unknown_account_type.qif': 'oracle quiffen: no transactions (categories/classes only)',
}


def qif_truth(path: Path) -> Truth:
    got = QIF_TRUTH.get(path.name)
    if got is None:
        raise KeyError(f"no quiffen reading recorded for {path.name}")
    if isinstance(got, str):
        return Truth("refuse", got)
    lines = [TLine(day(d), D(a), None, p) for d, a, p in got]
    return Truth("statement", "oracle quiffen 4.0.1 (recorded)", [TAccount("-", lines)])


def qif_oracle(path: Path) -> Truth:
    """quiffen's reading of one file (quiffen importable): what QIF_TRUTH records."""
    import quiffen  # type: ignore[import-not-found,import-untyped,unused-ignore]

    text = path.read_text(errors="replace")
    if not text.strip():
        return Truth("refuse", "empty file")
    # quiffen reads each date on its own (13/01 day-first beside 02/01 month-first): tell it
    # the order once for the file, from a date whose first part can only be a day.
    day_first = any(int(m.group(1)) > 12 for m in re.finditer(r"(?m)^D\s*(\d{1,2})/", text))
    try:
        qif = quiffen.Qif.parse(str(path), day_first=day_first)
    except Exception as err:  # the oracle refusing is itself the truth
        return Truth("refuse", f"oracle quiffen refuses: {type(err).__name__}: {err}"[:160])
    accounts: list[TAccount] = []
    for name, acct in qif.accounts.items():
        lines: list[TLine] = []
        for _type, txns in acct.transactions.items():
            for t in txns:
                amount = getattr(t, "amount", None)
                d = getattr(t, "date", None)
                if amount is None or d is None:
                    continue
                if isinstance(d, datetime.datetime):
                    d = d.date()
                lines.append(TLine(d, Decimal(amount), None, getattr(t, "payee", None) or None))
        if lines:
            accounts.append(TAccount(str(name), lines))
    if not accounts:
        return Truth("refuse", "oracle quiffen: no transactions (categories/classes only)")
    return Truth("statement", "oracle quiffen", accounts)


def _print_qif_truth(root: Path) -> None:
    for p in sorted((root / "quiffen/test_files").glob("*.qif")):
        t = qif_oracle(p)
        if t.kind == "refuse":
            print(f"    {p.name!r}: {t.source!r},")
            continue
        print(f"    {p.name!r}: [")
        for a in t.accounts:
            for ln in a.lines:
                print(f"        ({str(ln.date)!r}, {str(ln.amount)!r}, {ln.payee!r}),")
        print("    ],")


# --------------------------------------------------------------------------- column oracles

def _money(text: str) -> Decimal | None:
    t = text.strip().replace("$", "").replace(",", "")
    neg = t.startswith("(") and t.endswith(")")
    t = t.strip("()").replace(" ", "")
    if t.startswith("-"):
        neg, t = not neg, t[1:]
    if not t:
        return None
    v = Decimal(t)
    return -v if neg else v


def column_oracle(path: Path, *, date: str, amount: str, fmt: str = "%Y-%m-%d",
                  skip: int = 0, balance: str | None = None,
                  payee: str | Callable[[dict[str, str], Decimal], str] | None = None,
                  account: str | None = None, sign: Callable[[dict[str, str]], int] | None = None,
                  how: str = "") -> Truth:
    """Lines from explicitly named columns (our per-layout oracle)."""
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO("\n".join(text.splitlines()[skip:]))))
    accts: dict[str, TAccount] = {}
    dated: list[tuple[datetime.date, Decimal]] = []
    for row in rows:
        raw = (row.get(date) or "").strip()
        if not raw or not raw[0].isdigit():  # blank, or a footer like ***END OF FILE***
            continue
        d = datetime.datetime.strptime(raw if "T" in fmt else raw.split()[0], fmt).date()
        v = _money(row.get(amount) or "")
        if v is None or v == 0:
            continue
        if sign is not None:
            v = abs(v) * sign(row)
        key = row.get(account, "") if account else "-"
        ta = accts.setdefault(key, TAccount(key, []))
        who = payee(row, v) if callable(payee) else row.get(payee) if payee else None
        ta.lines.append(TLine(d, v, None, who or None))
        if balance and (row.get(balance) or "").strip():
            b = _money(row[balance])
            if b is not None:
                dated.append((d, b))
    if balance and dated and len(accts) == 1:
        last = max(dated, key=lambda x: x[0])
        same = {b for d, b in dated if d == last[0]}
        next(iter(accts.values())).closings.update(same)
    return Truth("statement", f"column oracle (ours): {how or f'{date}/{amount}'}",
                 list(accts.values()))


# --------------------------------------------------------------------------- hand-checked

def _L(d: str, a: str, cur: str | None = None, payee: str | None = None) -> TLine:
    return TLine(day(d), D(a), cur, payee)


# Typed from the files and checked by eye against hledger's .rules beside them (which
# column is the amount, the date format, what is skipped). Multi-account exports list
# each account apart: a reading that merges them is wrong.
HAND: dict[str, tuple[str, list[TAccount]]] = {
    "hledger/examples/csv/apps/monefy.csv": (
        "hand-checked: 8 rows, 2 accounts (column 'account'), column 'amount', dates "
        "%d/%m/%Y per monefy.csv.rules (every date also fits m/d: must not guess m/d)",
        [TAccount("Cash", [_L("2021-12-06", "-55", "USD"), _L("2021-12-06", "-25", "USD"),
                           _L("2021-12-06", "1280.8", "USD"), _L("2021-12-06", "-200", "USD")],
                  currency="USD"),
         TAccount("Payment card", [_L("2021-12-06", "-180", "USD"), _L("2021-12-06", "4884", "USD"),
                                   _L("2021-12-06", "-12", "USD"), _L("2021-12-06", "200", "USD")],
                  currency="USD")]),
    "hledger/examples/csv/apps/ynab4-rtl.csv": (
        "hand-checked: 2 rows, 2 accounts (column 'Account'), Outflow in JOD with a "
        "right-to-left 'د.ا.' prefix, 3 decimals",
        [TAccount("checking1", [_L("2022-11-07", "-4.750", None, "shop1")]),
         TAccount("creditcard1", [_L("2022-12-11", "-93.210", None, "coffeeshop")])]),
    "hledger/examples/csv/banking/csb43.csv": (
        "hand-checked: 2 movements (fields 'date' col 24, 'amount' col 26 per csb43.csv.rules), "
        "EUR, final_balance 1000.00",
        [TAccount("1234567890",
                  [_L("2019-11-02", "1500.00", "EUR"), _L("2019-11-10", "-500.00", "EUR")],
                  {D("1000.00")}, "EUR")]),
    "hledger/examples/csv/other/stripe.csv": (
        "hand-checked: 2 rows, column 'net' (the balance moves by net), created_utc date, usd",
        [TAccount("stripe", [_L("2020-01-23", "12.00", "USD"), _L("2020-01-23", "-0.77", "USD")],
                  currency="USD")]),
    "hledger/examples/csv/other/paypal-custom.csv": (
        "hand-checked: 7 rows, column 'Net' per paypal-custom.csv.rules (amount1 %netamount; "
        "the fee row 10.00 gross, 9.41 net), USD; the Balance column is not cumulative",
        [TAccount("paypal", [_L("2019-10-01", "-6.99", "USD", "Calm Radio"),
                             _L("2019-10-01", "6.99", "USD"),
                             _L("2019-10-01", "-7.00", "USD", "Patreon"),
                             _L("2019-10-01", "7.00", "USD"),
                             _L("2019-10-19", "-2.00", "USD", "Wikimedia Foundation, Inc."),
                             _L("2019-10-19", "2.00", "USD"),
                             _L("2019-10-22", "9.41", "USD", "Noble Benefactor")],
                  currency="USD")]),
    "fava/tests/data/import.csv": (
        "fava's ingest snapshot (test_core_ingest-test_ingest_examplefile.json): 2 "
        "transactions (-100.00, -50.00 EUR; the third row is a Note); closing = Saldo of the "
        "latest row 4.467,89 (hand-checked)",
        [TAccount("ATXYZ123400000", [_L("2017-02-14", "-100.00", "EUR"),
                                     _L("2017-02-13", "-50.00", "EUR")],
                  {D("4467.89")}, "EUR")]),
}


def mt940_regex(path: Path) -> Truth:
    """ASNB files mt-940 can't parse (a :61: continued on the next line): the :61: value
    date, D/C mark and amount by regex, hand-checked: each day's 60F + lines = 62F."""
    text = path.read_text()
    lines: list[TLine] = []
    closings: set[Decimal] = set()
    for blk in text.split("{1:")[1:]:
        for m in re.finditer(r"^:61:(\d{6})(?:\d{4}|\s{4})?(R?[CD])(\d+,\d*)", blk, re.M):
            d = datetime.datetime.strptime(m.group(1), "%y%m%d").date()
            v = Decimal(m.group(3).replace(",", "."))
            lines.append(TLine(d, v if m.group(2).endswith("C") else -v, "EUR"))
        cm = re.search(r"^:62F:([CD])\d{6}EUR(\d+,\d*)", blk, re.M)
        if cm:
            v = Decimal(cm.group(2).replace(",", "."))
            closings.add(v if cm.group(1) == "C" else -v)
    return Truth("statement", "hand-checked (regex over :61:, opening + lines = closing "
                 "per day checked)", [TAccount("NL81ASNB9999999999", lines, closings, "EUR")])


def hand_truth(rel: str) -> Truth:
    how, accounts = HAND[rel]
    src = "golden fava snapshot" if rel.startswith("fava/") else "hand-checked"
    return Truth("statement", src, accounts, note=how)


def fava_check(root: Path) -> str | None:
    """The fava snapshot against the hand truth: a disagreement, or None."""
    snap = root / "fava/tests/__snapshots__/test_core_ingest-test_ingest_examplefile.json"
    got = sorted((e["date"], p["amount"]) for e in json.loads(snap.read_text())
                 if e.get("t") == "Transaction" for p in e["postings"]
                 if p["account"] == "Assets:Checking")
    want = [("2017-02-13", "-50.00 EUR"), ("2017-02-14", "-100.00 EUR")]
    return None if sorted(got) == want else f"fava snapshot gives {got}"


def mt940_oracle(path: Path) -> Truth:
    """MT940 files without a yml: the mt-940 library (the one that made the ymls)."""
    import mt940

    parsed = mt940.parse(str(path))
    lines: list[TLine] = []
    closings: set[Decimal] = set()
    for t in parsed:
        amt = t.data["amount"]
        lines.append(TLine(t.data.get("entry_date") or t.data["date"], Decimal(amt.amount),
                           amt.currency, None, None, t.data.get("date")))
    for key in ("final_closing_balance", "intermediate_closing_balance"):
        if key in parsed.data:
            closings.add(Decimal(parsed.data[key].amount.amount))
    acct = str(parsed.data.get("account_identification") or "?")
    return Truth("statement", "oracle mt-940 5.1.1 (no yml beside this file)",
                 [TAccount(acct, lines, closings)], note="booking or value date accepted")


# --------------------------------------------------------------------------- inventory

def _bi(root: Path, src: str, test: str = "test_basic") -> Path:
    return root / "beancount-import/testdata/source" / src / test / "import_results.beancount"


def _venmo(path: Path) -> Truth:
    """Venmo: one line per row, 'Amount (total)' signed; the payee is the other party, the
    one of From/To who is not the account holder (the name on most rows; a Charge the holder
    sends is money in from its To), or where neither is, To for money out, else From.
    beancount-import's golden also books a funding transfer for card-funded payments; those
    are not rows of the statement."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    names = collections.Counter(n for r in rows for n in (r.get("From"), r.get("To")) if n)
    holder = names.most_common(1)[0][0] if names else ""
    return column_oracle(
        path, date="Datetime", amount="Amount (total)", fmt="%Y-%m-%dT%H:%M:%S",
        payee=lambda row, v: (row["To"] if row["From"] == holder else row["From"]
                              if row["To"] == holder else row["To"] if v < 0 else row["From"]),
        how="Venmo: one line per row, 'Amount (total)' signed, payee the other party")


def _mint_sign(row: dict[str, str]) -> int:
    return -1 if row["Transaction Type"].strip().lower() == "debit" else 1


def truth_for(root: Path, rel: str, fmt: str) -> Callable[[], Truth]:
    """The truth of one included file (lazy: oracles are imported only when used)."""
    path = root / rel
    name = path.name
    if fmt in ("html", "json", "jpg", "pdf"):
        return refuse(f"not a statement ({fmt}: an order page, API export, receipt or payslip)")
    if fmt == "txt":
        return refuse("not a statement (text dump of a PDF payslip)")
    if rel in HAND:
        return lambda: hand_truth(rel)
    if rel.endswith("ofx-v102-empty-tags.ofx"):
        return lambda: Truth("statement", "hand-checked (one STMTTRN, 2018-05-07 +12.34; empty "
                             "CURDEF and BALAMT; ofxparse crashes on it)",
                             [TAccount("12345678", [_L("2018-05-07", "12.34")])])
    if fmt == "ofx":
        if rel.endswith(("fail_nice/date_missing.ofx", "fail_nice/decimal_error.ofx")):
            return refuse("a transaction without a valid date / amount: reading the others "
                          "silently would drop it")
        return lambda: ofx_truth(path)
    if rel.startswith("mt940/mt940_tests/ASNB/"):
        return lambda: mt940_regex(path)
    if fmt == "mt940":
        yml = path.with_suffix(".yml")
        if yml.exists():
            return lambda: mt940_truth(yml)
        return lambda: mt940_oracle(path)
    if fmt == "camt":
        return lambda: camt_truth(path)
    if fmt == "qif":
        return lambda: qif_truth(path)
    # CSV
    if rel.startswith("beangulp/"):
        golden = path.with_name(name + ".beancount")
        if golden.exists():
            return lambda: beangulp_golden(golden)
        for g in (root / "beangulp/examples/tests").rglob("*.csv"):
            if _md5(g) == _md5(path) and g.with_name(g.name + ".beancount").exists():
                gg = g.with_name(g.name + ".beancount")
                return lambda: beangulp_golden(gg)
        if "UTrade" in name:
            return lambda: column_oracle(path, date="DATE", amount="AMOUNT", balance="BALANCE",
                                         how="UTrade DATE/AMOUNT/BALANCE (as in its goldens)")
        if name == "example.csv":
            return lambda: column_oracle(path, date="DATE", amount="AMOUNT", fmt="%m/%d/%Y",
                                         how="DATE m/d/Y, AMOUNT (cash); footer ***END")
    bi = "beancount-import/testdata/source/"
    if rel.startswith(bi + "mint/"):
        return lambda: bi_truth(_bi(root, "mint"), "mint.csv")
    if rel.startswith(bi + "generic_importer/"):
        return lambda: bi_truth(_bi(root, "generic_importer"), "csv/generic_statement.csv")
    if rel.startswith(bi + "healthequity/"):
        if name.startswith("cash-transactions"):
            return lambda: bi_truth(_bi(root, "healthequity"), f"data/1234567/{name}")
        return refuse("holdings (fund shares) not cash: positions or share trades whose cash "
                      "side is in cash-transactions-*.csv")
    if rel.startswith(bi + "schwab_csv/"):
        if "/positions/" in rel:
            return refuse("positions / lots snapshot, not transactions")
        test = rel.split("/")[4]
        sub = rel.split(f"/{test}/", 1)[1]
        return lambda: bi_truth(_bi(root, "schwab_csv", test), f"{test}/{sub}")
    if name == "transactions.csv" and "venmo" in rel:
        return lambda: _venmo(path)
    if name == "balances.csv":
        return refuse("balances per period, not transactions")
    if rel == "beancount-import/examples/data/mint/mint.csv":
        return lambda: column_oracle(path, date="Date", amount="Amount", fmt="%m/%d/%Y",
                                     account="Account Name", sign=_mint_sign,
                                     how="Mint: Amount signed by Transaction Type, "
                                         "per Account Name")
    if rel == "beancount-import/examples/data/importers/bank.csv":
        return lambda: column_oracle(path, date="Date", amount="Amount",
                                     how="Date/Amount (as the generic_importer golden)")
    if rel == "beancount-import/examples/data/importers/creditcard.csv":
        return lambda: column_oracle(path, date="Date", amount="Amount", skip=1,
                                     balance="Balance",
                                     how="after a 1-line preamble, Date/Amount/Balance")
    if rel == "fava/tests/data/example-balances.csv":
        return refuse("account balances (query output), not transactions")
    raise KeyError(f"no truth for {rel}")


_HL_RULES = {"fields", "date-format", "currency", "account1", "account2", "skip", "separator",
             "description", "date", "amount", "amount-in", "amount-out", "balance", "comment",
             "newest-first"}


def _hl_amount(text: str) -> Decimal:
    m = re.search(r"\d[\d,]*(\.\d+)?", text)
    assert m, text
    v = Decimal(m.group(0).replace(",", ""))
    return -v if "-" in text[:m.start()] else v


def _same(truth: Truth) -> Truth:
    return truth


def hledger_cases(root: Path) -> list[tuple[str, str, Truth]]:
    """The shelltest cases of hledger/test/csv.test whose CSV stands alone: rules that only
    name columns, the date format, a header to skip, a separator or a currency (no `if`
    blocks, sign tricks, numbered amounts or costs), exit status 0. Truth: the first
    (account1) posting of each transaction in hledger's expected journal."""
    text = (root / "hledger/hledger/test/csv.test").read_text(encoding="utf-8")
    out: list[tuple[str, str, Truth]] = []
    for case in re.split(r"(?m)^# \*\* ", text)[1:]:
        num = case.split(".", 1)[0]
        m = re.search(r"(?ms)^<\n(.*?)^RULES\n(.*?)^\$\s+\./csvtest\.sh[^\n]*\n(.*?)^>=\s*(\d+)",
                      case)
        if not m or m.group(4) != "0":
            continue
        csv_text, rules, journal = m.group(1), m.group(2), m.group(3)
        kws = {ln.split()[0] for ln in rules.splitlines()
               if ln.strip() and not ln.lstrip().startswith("#")}
        fields = next((ln for ln in rules.splitlines() if ln.startswith("fields")), "")
        if (kws - _HL_RULES or "account1" not in kws or "@@" in rules
                or not re.search(r"\bamount(-in|-out)?\b", fields)
                or re.search(r"(?m)^amount\S*\s+-", rules)):
            continue
        lines: list[TLine] = []
        for tm in re.finditer(r"(?m)^(\d{4}-\d\d-\d\d)[^\n]*\n(\s+)(\S[^\n]*)$", journal):
            post = re.split(r"\s{2,}", tm.group(3).strip(), maxsplit=1)
            if len(post) < 2:
                continue
            amount = post[1].split("=")[0].strip()
            lines.append(TLine(day(tm.group(1)), _hl_amount(amount)))
        if lines:
            out.append((num, csv_text, Truth(
                "statement", "golden hledger csv.test (expected journal, account1 postings)",
                [TAccount("account1", lines)],
                note="the CSV without its rules: refusing is right when it can't stand alone")))
    return out


def inventory(root: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """Every file under root: the included ones with their truth, the excluded with why."""
    items: list[Item] = []
    excluded: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.count("/") == 0:
            excluded.append((rel, "top-level manifest"))
            continue
        why = exclusion(rel)
        if why:
            excluded.append((rel, why))
            continue
        fmt = sniff(path)
        if fmt == "mt940":
            text = path.read_text(encoding="latin-1")
            if ":20:" not in text or ":25:" not in text:
                excluded.append((rel, "MT940 tag snippet (mt-940's per-tag test: no :20:/:25:), "
                                      "not a statement"))
                continue
        items.append(Item(path, rel, rel.split("/", 1)[0], fmt, truth_for(root, rel, fmt)))
    test = root / "hledger/hledger/test/csv.test"
    if test.exists():
        cache = Path(__file__).resolve().parent / ".data" / "hledger_csvtest"
        cache.mkdir(parents=True, exist_ok=True)
        for num, text, truth in hledger_cases(root):
            path = cache / f"case{num}.csv"
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                # Atomically: parallel test workers may build the same inventory.
                tmp = path.with_name(f".{path.name}.{os.getpid()}")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
            items.append(Item(path, f"hledger/hledger/test/csv.test#{num}", "hledger-csv.test",
                              "csv", functools.partial(_same, truth)))
    return items, excluded


def self_checks(root: Path) -> list[str]:
    """Oracles cross-checked against the peers' own expectations where both exist."""
    out: list[str] = []
    for xml in sorted((root / "camt/test/data").glob("camt053*.xml")):
        msg = camt_json_check(xml)
        if msg:
            out.append(msg)
    msg = fava_check(root)
    if msg:
        out.append(msg)
    return out


def iter_lines(truth: Truth) -> Iterable[TLine]:
    for a in truth.accounts:
        yield from a.lines


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--qif-oracle":
        sys.path.append(sys.argv[2])
        _print_qif_truth(Path(__file__).resolve().parents[2] / "shared" / "realworld")
    else:
        print("usage: python -m benchmarks.read_truth --qif-oracle DIR (quiffen installed in DIR)")
