"""Reconciliation scenarios with an answer key: a perturbed ledger, two bank statements in
real formats, and a truth file saying what a perfect reconciler would do.

The source ledger (the bundled sample, or a `bean-example` ledger) is taken as the real
world for a two-month period: every posting on the checking and the card account in that
period is something the bank saw. Then the ledger is damaged the way real books are:

- entries removed (the reconciler must propose them, with the right counter-account),
  two of them seen on the statement under a payee the ledger has never seen;
- a card payment removed from both sides (on both statements, to be proposed once);
- a duplicate booked one day after the real entry (to be flagged, never matched);
- a one-cent typo in a booked amount (not to be proposed again: the ledger needs a fix);
- a booked entry whose account posting is split in two (still matched);
- a purchase the bank shows as two lines (both matched to the one entry);
- two identical purchases on one day, only one booked (the other proposed);
- bank dates one to three days after the booked date (pending → posted);
- bank-style descriptions ("SQ *", "TST*", store numbers, ACH "DES:… ID:… PPD" tails);
- (bean-example) a recurring multi-leg paycheck removed: to be proposed with all its legs;
- (bean-example) a third statement, the brokerage's cash: its share purchases removed (a
  cash line can't say how many shares at what cost: to be flagged to the review account,
  never booked as cash into the stock's account), and its dividends.

Usage: python -m benchmarks.scenarios OUT_DIR [--source sample|example] [--seed N]
[--checking-format F] [--card-format F]. `score()` grades a `--json` report against the
truth file; benchmarks/bench_accuracy.py runs the grid.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.bank_formats import WRITERS, Row
from benchmarks.grading import Score, score

__all__ = ["CARD_FORMATS", "CHECKING_FORMATS", "SOURCES", "Score", "build", "scenarios",
           "score"]

REPO = Path(__file__).resolve().parent.parent
CENT = Decimal("0.01")
CHECKING_FORMATS = ("bofa-csv", "ofx", "de-csv", "counterparty-csv", "currency-csv")
CARD_FORMATS = ("chase-csv", "ofx", "debit-credit-csv", "type-csv", "name-memo-csv")
BROKERAGE_FORMAT = "brokerage-csv"
REVIEW = "Expenses:FIXME"
NOVEL = ("NORTHWIND GRILL 0042", "BLUE HERON BAKERY", "QUANTUM LAUNDROMAT 77",
         "ZEPHYR BIKE REPAIR", "MARIGOLD FLORIST 12")


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    checking: str
    card: str
    start: datetime.date
    end: datetime.date
    brokerage: str | None = None  # a cash account whose activity includes share purchases

    @property
    def accounts(self) -> tuple[str, ...]:
        return (self.checking, self.card) + ((self.brokerage,) if self.brokerage else ())


SOURCES = {
    "sample": Source("sample", "Assets:US:BofA:Checking", "Liabilities:US:Chase:Sapphire",
                     datetime.date(2025, 9, 1), datetime.date(2025, 10, 31)),
    "example": Source("example", "Assets:US:BofA:Checking", "Liabilities:US:Chase:Slate",
                      datetime.date(2024, 10, 1), datetime.date(2024, 12, 31),
                      "Assets:US:ETrade:Cash"),
}


@dataclasses.dataclass
class Event:
    id: str
    kind: str
    propose: bool  # a perfect reconciler proposes exactly one entry for it
    counter: str | None = None  # the main counter-account of that entry
    seen: bool = False  # its payee is in the (damaged) ledger's history
    # multi-leg entries: every leg as [account, number, currency], graded all together
    legs: list[list[str]] | None = None


@dataclasses.dataclass
class Entry:
    """A transaction of the source ledger: where its text is, and its legs."""

    date: datetime.date
    payee: str
    narration: str
    legs: list[tuple[str, Decimal]]
    start: int  # 0-based index of its first text line
    stop: int
    currencies: list[str] = dataclasses.field(default_factory=list)  # of each leg
    at_cost: bool = False  # a leg holds units at cost (a purchase of shares)

    def amount(self, account: str) -> Decimal:
        return sum((n for a, n in self.legs if a == account), Decimal(0))

    def counter(self, account: str) -> str:
        others = [(a, n) for a, n in self.legs if a != account]
        return max(others, key=lambda x: abs(x[1]))[0]

    @property
    def simple(self) -> bool:
        return len(self.legs) == 2


# ---------------------------------------------------------------------- the source


def source_text(source: str, work: Path, seed: int) -> str:
    if source == "sample":
        return (REPO / "ledgers" / "sample.beancount").read_text()
    path = work / f"bean-example-{seed}.beancount"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run([Path(sys.executable).parent / "bean-example", "--date-begin",
                        "2023-01-01", "--date-end", "2025-01-01", "--date-birth", "1980-01-01",
                        "--seed", str(seed), "-o", str(path)],
                       check=True, capture_output=True)
    return path.read_text()


def read_entries(text: str) -> list[Entry]:
    from beancount import loader
    from beancount.core import data

    entries, errors, _ = loader.load_string(text)
    if errors:
        raise SystemExit(f"source ledger has errors: {errors[0].message}")
    lines = text.splitlines()
    out = []
    for e in entries:
        if not isinstance(e, data.Transaction) or e.meta.get("filename") != "<string>":
            continue
        start = e.meta["lineno"] - 1
        stop = start + 1
        while stop < len(lines) and lines[stop][:1] in (" ", "\t"):
            stop += 1
        legs = [(p.account, p.units.number) for p in e.postings]
        out.append(Entry(e.date, e.payee or "", e.narration or "", legs, start, stop,
                         [p.units.currency for p in e.postings],
                         any(p.cost is not None for p in e.postings)))
    return out


# ------------------------------------------------------------- bank-style descriptions


def bank_name(entry: Entry) -> str:
    base = (entry.payee or entry.narration).upper().replace(":", " ")
    return " ".join(base.split())[:22].strip()


def bank_description(entry: Entry, account: str, rng: random.Random) -> str:
    name = bank_name(entry)
    store = rng.randint(100, 99999)
    if (account.startswith("Assets") and entry.amount(account) > 0) or len(entry.legs) > 2:
        return (f"{name} DES:{rng.choice(('PAYROLL', 'DIR DEP', 'TRANSFER'))} "
                f"ID:XXXXX{rng.randint(1000, 9999)} INDN:DOE,JANE CO ID:XXXXX{store % 10000} PPD")
    if account.startswith("Assets"):
        shapes = ("{n} DES:WEB PMTS ID:XXXXX{s} INDN:JANE DOE WEB",
                  "CHECKCARD {md} {n} NEW YORK NY", "{n}")
    else:
        shapes = ("SQ *{n}", "TST* {n}", "{n} #{s}", "{n} {s} NEW YORK NY", "POS {n}", "{n}")
    md = f"{entry.date:%m%d}"
    return rng.choice(shapes).format(n=name, s=store, md=md)


# ---------------------------------------------------------------------- the damage


@dataclasses.dataclass
class Damage:
    """Text edits to the source ledger, by entry."""

    remove: set[int] = dataclasses.field(default_factory=set)  # entry index
    replace: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    after: dict[int, list[str]] = dataclasses.field(default_factory=dict)  # entry -> block


def _period_rows(entries: list[Entry], account: str, src: Source) -> list[tuple[int, Entry]]:
    return [(i, e) for i, e in enumerate(entries)
            if src.start <= e.date <= src.end and e.amount(account) != 0]


def _cents(n: Decimal) -> bool:
    return n.as_tuple().exponent == -2


def _amount_text(line: str, old: Decimal, new: Decimal) -> str:
    # Column alignment is kept: the new number is padded to the old one's width.
    text = f"{old}"
    assert text in line, (line, old)
    repl = f"{new:.{max(0, -old.as_tuple().exponent)}f}".rjust(len(text))  # type: ignore[operator]
    at = line.rindex(text)
    head = line[:at]
    if len(repl) > len(text) and head.endswith(" "):
        head = head[: len(text) - len(repl)]
    return head + repl + line[at + len(text):]


def build(source: str, seed: int, out: Path, checking_format: str = "bofa-csv",
          card_format: str = "chase-csv") -> dict[str, Any]:
    """Write ledger.beancount, two statements, beanagent.toml and truth.json into `out`."""
    src = SOURCES[source]
    rng = random.Random(f"{source}:{seed}")
    text = source_text(source, out.parent / ".sources", seed)
    lines = text.splitlines()
    entries = read_entries(text)
    events: dict[str, Event] = {}
    damage = Damage()
    rows: dict[str, list[Row]] = {a: [] for a in src.accounts}
    row_of: dict[tuple[int, str], Row] = {}
    truth: dict[str, Any] = {"source": source, "seed": seed, "duplicates": [], "typos": []}

    for account in src.accounts:
        for i, e in _period_rows(entries, account, src):
            ev = events.setdefault(f"E{i}", Event(f"E{i}", "booked", False))
            desc = (bank_name(e) if account == src.brokerage
                    else bank_description(e, account, rng))
            row = Row(e.date, e.amount(account), bank_name(e), desc, ev.id,
                      payee=e.payee or e.narration)
            rows[account].append(row)
            row_of[(i, account)] = row

    def pick(account: str, n: int, want: Callable[[Entry], bool]) -> list[int]:
        taken = {int(ev.id[1:]) for ev in events.values() if ev.kind != "booked"}
        pool = [i for i, e in _period_rows(entries, account, src)
                if i not in taken and want(e) and (i, account) in row_of
                and not any(a in src.accounts and a != account for a, _ in e.legs)]
        return sorted(rng.sample(pool, min(n, len(pool))))

    # The card payment, removed from the books: on both statements, proposed once.
    both = [i for i, e in _period_rows(entries, src.checking, src) if e.amount(src.card)]
    if both:
        i = rng.choice(both)
        damage.remove.add(i)
        events[f"E{i}"] = Event(f"E{i}", "transfer", True, src.card, True)
    # Entries missing from the books; two of them under a payee never seen.
    for account, share in ((src.checking, 0.25), (src.card, 0.20)):
        n = max(3, round(share * len(rows[account])))
        for i in pick(account, n, lambda e: True):
            damage.remove.add(i)
            events[f"E{i}"] = Event(f"E{i}", "missing", True, entries[i].counter(account))
    # A recurring multi-leg entry (a paycheck with taxes and deductions) removed.
    for i in pick(src.checking, 1, lambda e: len(e.legs) > 3 and e.amount(src.checking) > 0):
        damage.remove.add(i)
        e = entries[i]
        events[f"E{i}"] = Event(f"E{i}", "multileg", True, e.counter(src.checking), legs=[
            [a, str(n), c] for (a, n), c in zip(e.legs, e.currencies, strict=True)])
    # The brokerage's cash lines: its share purchases and dividends removed.
    if src.brokerage:
        for i, e in _period_rows(entries, src.brokerage, src):
            if len(e.legs) > 1 and not any(a in src.accounts and a != src.brokerage
                                           for a, _ in e.legs):
                damage.remove.add(i)
                kind, counter = (("brokerage", REVIEW) if e.at_cost
                                 else ("missing", e.counter(src.brokerage)))
                # a purchase's text recurs ("Buy shares of VEA"): it is always seen
                events[f"E{i}"] = Event(f"E{i}", kind, True, counter, e.at_cost)
    missing = [ev for ev in events.values() if ev.kind == "missing"
               and (int(ev.id[1:]), src.card) in row_of]
    for ev, novel in zip(rng.sample(missing, min(2, len(missing))), NOVEL, strict=False):
        ev.kind = "novel"
        row = row_of[(int(ev.id[1:]), src.card)]
        row.name = row.description = row.payee = novel
    # A duplicate: a booked card purchase entered again one day later.
    for i in pick(src.card, 1, lambda e: e.simple and e.date < src.end):
        e = entries[i]
        events[f"E{i}"].kind = "duplicated"
        dup = lines[e.start:e.stop]
        dup[0] = (e.date + datetime.timedelta(days=1)).isoformat() + dup[0][10:]
        damage.after[i] = dup
        truth["duplicates"].append({"account": src.card, "amount": str(e.amount(src.card)),
                                    "date": (e.date + datetime.timedelta(days=1)).isoformat()})
    # A one-cent typo in a booked checking payment.
    for i in pick(src.checking, 1, lambda e: e.simple and e.amount(src.checking) < 0
                  and _cents(e.amount(src.checking))):
        e = entries[i]
        events[f"E{i}"].kind = "typo"
        block = lines[e.start:e.stop]
        for k, line in enumerate(block):
            for acc, n in e.legs:
                if line.split()[:1] == [acc]:
                    block[k] = _amount_text(line, n, n + (CENT if acc == src.checking else -CENT))
        damage.replace[i] = block
        truth["typos"].append({"account": src.checking, "date": e.date.isoformat(),
                               "statement": str(e.amount(src.checking)),
                               "ledger": str(e.amount(src.checking) + CENT)})
    # A booked card purchase whose card posting is split in two.
    for i in pick(src.card, 1, lambda e: e.simple and abs(e.amount(src.card)) > 10
                  and _cents(e.amount(src.card))):
        e = entries[i]
        events[f"E{i}"].kind = "split"
        block = lines[e.start:e.stop]
        n = e.amount(src.card)
        part = (n / 3).quantize(CENT)
        k = next(k for k, ln in enumerate(block) if ln.split()[:1] == [src.card])
        block[k:k + 1] = [_amount_text(block[k], n, part), _amount_text(block[k], n, n - part)]
        damage.replace[i] = block
    # A purchase the bank charged in two parts.
    for i in pick(src.card, 1, lambda e: abs(e.amount(src.card)) > 20):
        events[f"E{i}"].kind = "grouped"
        row = row_of[(i, src.card)]
        part = (row.amount * Decimal("0.4")).quantize(CENT)
        twin = dataclasses.replace(row, amount=row.amount - part)
        row.amount = part
        rows[src.card].append(twin)
    # Two identical purchases on one day, only one booked.
    for i in pick(src.card, 1, lambda e: e.simple):
        events[f"E{i}"].kind = "identical"
        row = row_of[(i, src.card)]
        events[f"X{i}"] = Event(f"X{i}", "identical-twin", True,
                                entries[i].counter(src.card))
        rows[src.card].append(dataclasses.replace(row, event=f"X{i}"))
    # Same amount, different shop, a day or two apart: one booked, one missing.
    card_missing = [ev for ev in events.values() if ev.kind == "missing"
                    and (int(ev.id[1:]), src.card) in row_of]
    for ev in rng.sample(card_missing, min(2, len(card_missing))):
        row = row_of[(int(ev.id[1:]), src.card)]
        near = [r for r in rows[src.card] if events[r.event].kind == "booked"
                and 0 < abs((r.date - row.date).days) <= 2 and r.name != row.name
                and (r.amount < 0) == (row.amount < 0)]
        if near:
            ev.kind = "same-amount"
            row.amount = rng.choice(near).amount
    # Pending → posted: the bank's date is 1-4 days after the booked one.
    for account in rows:
        booked = [r for r in rows[account] if events[r.event].kind == "booked"]
        for r in rng.sample(booked, len(booked) // 8):
            r.date = min(src.end, r.date + datetime.timedelta(days=rng.randint(1, 4)))
    ledger = _damaged(text.splitlines(), entries, damage, src)

    # Which payees the damaged ledger still knows, by account.
    remaining = [e for i, e in enumerate(entries) if i not in damage.remove]
    for ev in events.values():
        if ev.propose and ev.kind not in ("novel", "brokerage"):
            idx = int(ev.id[1:])
            e = entries[idx]
            # the brokerage's entries have no payee: their narration recurs instead
            text = ((lambda x: x.payee or x.narration) if e.amount(src.brokerage or "")
                    else (lambda x: x.payee))
            ev.seen = any(text(x) == text(e) and x.counter(acc) == ev.counter
                          for x in remaining for acc in src.accounts
                          if x.amount(acc) and text(e))
    out.mkdir(parents=True, exist_ok=True)
    (out / "ledger.beancount").write_text(ledger)
    statements = []
    toml = [f'review_account = "{REVIEW}"\n']
    layouts = [(src.checking, checking_format, "checking"), (src.card, card_format, "card")]
    if src.brokerage:
        layouts.append((src.brokerage, BROKERAGE_FORMAT, "brokerage"))
    for account, fmt, stem in layouts:
        kind, writer = WRITERS[fmt]
        name = f"{stem}.{kind}"
        st_rows = sorted(rows[account], key=lambda r: r.date)
        opening = sum((e.amount(account) for e in entries if e.date < src.start), Decimal(0))
        (out / name).write_text(writer(st_rows, opening, name, account))
        closing = opening + sum((r.amount for r in st_rows), Decimal(0))
        statements.append({"file": name, "account": account, "format": fmt,
                           "closing_balance": str(closing),
                           "rows": [{"key": r.key, "event": r.event} for r in st_rows]})
        toml.append(f'\n[[statement]]\nmatch = "{name}"\naccount = "{account}"\n')
    (out / "beanagent.toml").write_text("".join(toml))
    truth["statements"] = statements
    truth["review_account"] = REVIEW
    truth["events"] = {ev.id: dataclasses.asdict(ev) for ev in events.values()}
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def _damaged(lines: list[str], entries: list[Entry], damage: Damage, src: Source) -> str:
    drop: set[int] = set()
    put: dict[int, list[str]] = {}
    for i in damage.remove:
        drop.update(range(entries[i].start, entries[i].stop))
    for i, block in damage.replace.items():
        drop.update(range(entries[i].start, entries[i].stop))
        put[entries[i].start] = block
    out: list[str] = []
    for i, block in damage.after.items():
        put.setdefault(entries[i].stop, []).extend(["", *block])
    for k, line in enumerate(lines):
        if k in put:
            out.extend(put[k])
        if k in drop:
            continue
        # Assertions after the damage would fail (a removed transfer touches a third
        # account): a clean ledger keeps the grading about the reconciler alone.
        if line[:4].isdigit() and line[:10] >= src.start.isoformat() and (
                " balance " in line or " pad " in line):
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def scenarios(sources: Sequence[str], seeds: Sequence[int]) -> Iterator[tuple[str, int, str, str]]:
    """The grid: every checking format and every card format appear for each source."""
    for source in sources:
        for seed in seeds:
            for k, fmt in enumerate(CHECKING_FORMATS):
                yield source, seed, fmt, CARD_FORMATS[(k + seed) % len(CARD_FORMATS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", choices=sorted(SOURCES), default="sample")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--checking-format", choices=CHECKING_FORMATS, default="bofa-csv")
    ap.add_argument("--card-format", choices=CARD_FORMATS, default="chase-csv")
    args = ap.parse_args()
    truth = build(args.source, args.seed, args.out, args.checking_format, args.card_format)
    todo = sum(ev["propose"] for ev in truth["events"].values())
    print(f"{args.out}: {len(truth['events'])} events, {todo} to propose")


if __name__ == "__main__":
    main()
