"""Generated ledger shapes and proposals for the gate's differential test
(benchmarks/bench_gate_differential.py, tests/test_gate_differential.py).

A ledger has one to four files (main, includes or a globbed include) with comments and org
headings, flags on entries and postings, tags, links, metadata, strings spanning lines
whose lines look like comments, headings or directives, pushtag/pushmeta blocks, CRLF line
ends, no final newline, files out of date order, balances and pads, lots at cost, notes,
options (root names, booking method, a title spanning lines), plugins, and errors the
ledger already has (a failing balance, a sale of a lot nobody bought, an entry typed
twice). A round is one to four proposals on its accounts: transactions, balances right and
wrong, opens with a transaction on the new account, copies of existing entries, shares
moved without a cost, spending from a gift card a `closing:` posting drains; dated
anywhere (before the first entry, on an entry's or a balance's day, after the last).
Everything is drawn from a seeded random.Random: the same seed gives the same shapes.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from decimal import Decimal
from typing import Any

D = datetime.date
START = D(2024, 1, 1)
# Ledgers without plugins, pads or lots (`bench_gate_differential --plain`): the shapes the
# gate checks on the new entries' own scope (beanagent/sandbox/local.py).
PLAIN = False
DEFAULT_ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")
GERMAN_ROOTS = ("Aktiva", "Passiva", "Eigenkapital", "Ertrag", "Aufwand")
PLUGIN_SETS: tuple[tuple[str, ...], ...] = (
    (), (), (), (), ("noduplicates",), ("auto_accounts",), ("implicit_prices",),
    ("check_closing",), ("check_commodity",), ("leafonly",), ("noduplicates", "nounused"),
    ("close_tree",), ("sellgains",))
# What may end a line of text inside a string that spans lines: each is what a line scan
# would take for a comment, a heading, a posting or a directive.
STRING_LINES = ("* starred", "; semicolon", "  indented", "plain words", "2024-05-05 open X",
                "#hash", "pushtag #x", "")


@dataclasses.dataclass
class Group:
    """Accounts that live in one file, with their running balances."""

    name: str
    file: str
    bank: str
    card: str
    food: str
    salary: str
    broker: str | None = None
    gift: str | None = None
    balances: dict[str, Decimal] = dataclasses.field(default_factory=dict)
    dates: list[D] = dataclasses.field(default_factory=list)  # entries' dates
    lots: list[tuple[int, Decimal]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class LedgerShape:
    files: dict[str, str]  # relative path -> text (with its own newlines)
    groups: list[Group]
    roots: tuple[str, ...]
    plugins: tuple[str, ...]
    features: set[str]


class FileWriter:
    """One file's text, written in its own style."""

    def __init__(self, rng: random.Random, name: str):
        self.rng, self.name = rng, name
        self.chunks: list[str] = []
        self.crlf = rng.random() < 0.2
        self.final_newline = rng.random() < 0.8
        self.blank = rng.random() < 0.7  # blank lines between entries
        self.pushes = rng.random() < 0.2  # uses pushtag/pushmeta blocks
        self.features: set[str] = set()
        self.pushed: list[str] = []

    def add(self, text: str) -> None:
        rng = self.rng
        if rng.random() < 0.15:
            self.chunks.append(rng.choice(["; a comment\n", "* Heading\n", "** Sub\n",
                                           ";; note: 2024\n", "; * starred comment\n"]))
            self.features.add("comments")
        if self.pushes and rng.random() < 0.1 and not self.pushed:
            tag = f"trip{rng.randint(1, 9)}"
            kind = rng.choice(["pushtag", "pushmeta"])
            self.chunks.append(f"pushtag #{tag}\n" if kind == "pushtag" else
                               f'pushmeta where: "{tag}"\n')
            self.pushed.append("poptag #" + tag if kind == "pushtag" else "popmeta where:")
            self.features.add(kind)
        self.chunks.append(text)
        if self.pushed and rng.random() < 0.3:
            self.chunks.append(self.pushed.pop() + "\n")
        if self.blank:
            self.chunks.append("\n")

    def text(self) -> str:
        while self.pushed:
            self.chunks.append(self.pushed.pop() + "\n")
        text = "".join(self.chunks)
        if not self.final_newline:
            text = text.rstrip("\n")
            self.features.add("no-final-newline")
        if self.crlf:
            text = text.replace("\n", "\r\n")
            self.features.add("crlf")
        return text


def _string(rng: random.Random, words: str) -> str:
    if rng.random() < 0.15:
        return f"{words}\n{rng.choice(STRING_LINES)}"
    return words


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _transaction(rng: random.Random, out: FileWriter, date: D,
                 legs: list[tuple[str, Decimal | None, str]], payee: str,
                 cost: str = "", closing: str = "") -> str:
    """A transaction's text, with whatever a hand-written one may hold."""
    flag = rng.choice(["*", "*", "*", "!", "txn"])
    narration = _string(rng, rng.choice(["groceries", "lunch", "monthly", "refund"]))
    head = f"{date} {flag} {_quote(payee)} {_quote(narration)}"
    if "\n" in narration:
        out.features.add("multiline-string")
    if rng.random() < 0.1:
        head += " #" + rng.choice(["food", "work", "trip-1"])
        out.features.add("tags")
    if rng.random() < 0.05:
        head += " ^inv-" + str(rng.randint(1, 99))
    lines = [head]
    if rng.random() < 0.15:
        lines.append(f"  ref: {_quote(_string(rng, f'R-{rng.randint(1, 999)}'))}")
        out.features.add("metadata")
    for account, number, currency in legs:
        flag_ = rng.choice(["", "", "", "", "* ", "! "])
        if flag_:
            out.features.add("posting-flags")
        amount = "" if number is None else f"  {number} {currency}"
        lines.append(f"  {flag_}{account}{amount}{cost if account.endswith(':Broker') else ''}")
        if account == closing:
            lines.append("    closing: TRUE")
        if rng.random() < 0.08:
            lines.append(f"    memo: {_quote(_string(rng, 'paid'))}")
            out.features.add("metadata")
        if rng.random() < 0.06:
            lines.append("  ; " + rng.choice(["paid cash", "* starred", "check this"]))
            out.features.add("comments")
    return "\n".join(lines) + "\n"


def make_ledger(rng: random.Random) -> LedgerShape:
    """One ledger: options, plugins, one to four files, a few account groups per file."""
    roots = GERMAN_ROOTS if rng.random() < 0.15 else DEFAULT_ROOTS
    a, li, eq, inc, ex = roots
    plugins = () if PLAIN else rng.choice(PLUGIN_SETS)
    features = {f"plugin:{p}" for p in plugins}
    head = ['option "operating_currency" "USD"']
    if roots is GERMAN_ROOTS:
        head += [f'option "name_{k}" "{v}"' for k, v in zip(
            ("assets", "liabilities", "equity", "income", "expenses"), roots, strict=True)]
        features.add("root-names")
    if rng.random() < 0.2:
        head.append('option "booking_method" "FIFO"')
    if rng.random() < 0.1:
        head.append('option "title" "Books\n; of the family"')
        features.add("multiline-option")
    head += [f'plugin "beancount.plugins.{p}"' for p in plugins]
    # Options such as the root names hold in the main file only (beancount parses each
    # include on its own), so a ledger with its own root names stays in one file.
    names = ["main.beancount"] + [f"accounts/f{k}.beancount" for k in range(
        0 if roots is GERMAN_ROOTS else rng.randint(0, 3))]
    if len(names) > 1 and rng.random() < 0.4:
        head.append('include "accounts/*.beancount"')
        features.add("glob-include")
    elif len(names) > 1:
        head += [f'include "{n}"' for n in names[1:]]
        features.add("include")
    writers = {n: FileWriter(rng, n) for n in names}
    main = writers["main.beancount"]
    main.chunks.append("\n".join(head) + "\n\n")
    opens = [f"{START} open {eq}:Opening", f"{START} open {inc}:Other"]
    groups = []
    auto = "auto_accounts" in plugins
    for g in range(rng.randint(2, 4)):
        file = rng.choice(names)
        group = Group(f"G{g}", file, f"{a}:G{g}:Bank", f"{li}:G{g}:Card",
                      f"{ex}:G{g}:Food", f"{inc}:G{g}:Salary")
        own = [f"{START} open {group.bank} USD", f"{START} open {group.card} USD"]
        if not auto:
            own += [f"{START} open {group.food}", f"{START} open {group.salary}"]
        if rng.random() < 0.3 and not PLAIN:
            group.broker = f"{a}:G{g}:Broker"
            own.append(f"{START} open {group.broker}")
            features.add("lots")
        if "check_closing" in plugins and rng.random() < 0.7:
            group.gift = f"{a}:G{g}:Gift"
            own.append(f"{START} open {group.gift} USD")
        if "leafonly" in plugins:
            own.append(f"{START} open {ex}:G{g}")  # a parent that has a child
        if rng.random() < 0.5:
            opens += own
        else:
            writers[file].add("\n".join(own) + "\n")
        groups.append(group)
    main.add("\n".join(opens) + "\n")
    for group in groups:
        _fill(rng, writers[group.file], group, roots, plugins, list(writers.values()))
    files = {n: w.text() for n, w in writers.items()}
    for w in writers.values():
        features |= w.features
    return LedgerShape(files, groups, roots, plugins, features)


def _money(number: Decimal) -> str:
    return str(number.quantize(Decimal("0.01")))


def _fill(rng: random.Random, out: FileWriter, g: Group, roots: tuple[str, ...],
          plugins: tuple[str, ...], writers: list[FileWriter]) -> None:
    """A group's year: transactions in date order (or not), balances, pads, notes, lots;
    now and then an entry typed twice, in this file or another."""
    eq = roots[2]
    bal = g.balances
    day = START + datetime.timedelta(days=1)
    out.add(_transaction(rng, out, day, [(g.bank, Decimal("1000.00"), "USD"),
                                         (f"{eq}:Opening", None, "")], "Opening"))
    bal[g.bank] = Decimal("1000.00")
    g.dates.append(day)
    if g.gift:
        out.add(_transaction(rng, out, day, [(g.gift, Decimal("50.00"), "USD"),
                                             (f"{eq}:Opening", None, "")], "Gift card"))
        bal[g.gift] = Decimal("50.00")
    dates = sorted(START + datetime.timedelta(days=rng.randint(2, 360))
                   for _ in range(rng.randint(6, 16)))
    ordered = rng.random() > 0.1
    if not ordered:
        rng.shuffle(dates)
        out.features.add("not-in-date-order")
    floor = last = day  # nothing goes before a pad's balance; a balance after the last
    for date in dates:
        if ordered and date <= floor:
            continue
        kind = rng.random()
        if kind < 0.12 and ordered and date > last:
            number = bal.get(g.bank, Decimal(0))
            if rng.random() < 0.03:
                number += 1  # an assertion the ledger already fails
                out.features.add("existing-error")
            out.add(f"{date} balance {g.bank}  {_money(number)} USD\n")
            out.features.add("balance")
        elif kind < 0.18 and ordered and date > last and not PLAIN:
            target = bal.get(g.bank, Decimal(0)) + rng.randint(1, 50)
            out.add(f"{date} pad {g.bank} {eq}:Opening\n")
            floor = date + datetime.timedelta(days=1)
            out.add(f"{floor} balance {g.bank}  {_money(target)} USD\n")
            bal[g.bank] = target
            out.features.add("pad")
        elif kind < 0.23:
            out.add(f"{date} note {g.bank} {_quote(_string(rng, 'called the bank'))}\n")
        elif kind < 0.33 and g.broker:
            if g.lots and rng.random() < 0.4:
                units, paid = g.lots.pop(0)
                broken = rng.random() < 0.05  # sells a lot nobody bought
                out.features.update(["existing-error"] if broken else [])
                out.add(_transaction(rng, out, date, [(g.broker, Decimal(-units), "HOOL"),
                                                      (g.bank, None, "")], "Sell",
                                     cost=f" {{{paid + broken} USD}}"))
                bal[g.bank] = bal.get(g.bank, Decimal(0)) + (0 if broken else units * paid)
            else:
                units, price = rng.randint(1, 5), Decimal(rng.randint(90, 120))
                g.lots.append((units, price))
                out.add(_transaction(rng, out, date, [(g.broker, Decimal(units), "HOOL"),
                                                      (g.bank, -units * price, "USD")],
                                     "Buy", cost=f" {{{price} USD}}"))
                bal[g.bank] = bal.get(g.bank, Decimal(0)) - units * price
        elif kind < 0.38 and g.gift and bal.get(g.gift):
            left = bal[g.gift]
            out.add(_transaction(rng, out, date, [(g.gift, -left, "USD"), (g.food, None, "")],
                                 "Gift card used", closing=g.gift))
            bal[g.gift] = Decimal(0)
            out.features.add("check_closing")
        else:
            account = rng.choice([g.bank, g.bank, g.card])
            number = -Decimal(rng.randint(100, 9999)) / 100
            legs: list[tuple[str, Decimal | None, str]] = [(account, number, "USD"),
                                                           (g.food, None, "")]
            payee = rng.choice(["Deli", "Grocer", "Cafe", "Rent"])
            if rng.random() < 0.15:
                number, payee = Decimal(rng.randint(1000, 3000)), "Salary"
                legs = [(account, number, "USD"), (g.salary, None, "")]
            text = _transaction(rng, out, date, legs, payee)
            out.add(text)
            bal[account] = bal.get(account, Decimal(0)) + number
            if "noduplicates" in plugins and rng.random() < 0.08:
                twice = rng.choice(writers)  # typed twice, maybe in another file
                twice.add(text)
                out.features.add("cross-file-duplicate" if twice is not out else "duplicate")
                bal[account] += number
                out.features.add("existing-error")
        g.dates.append(date)
        last = max(last, date)


# --- proposals ------------------------------------------------------------------------


def _balance_at(entries: list[Any], account: str, currency: str, date: D,
                extra: list[dict[str, Any]]) -> Decimal:
    """What a `balance` of `account` on `date` must say: every posting before that day,
    the proposals of the round included."""
    total = Decimal(0)
    for entry in entries:
        if entry.date >= date or not hasattr(entry, "postings"):
            continue
        for p in entry.postings:
            if p.account == account and p.units is not None and p.units.currency == currency:
                total += p.units.number
    for raw in extra:
        if raw["kind"] == "transaction" and raw["date"] < date:
            total += sum((Decimal(p["number"]) for p in raw["postings"]
                          if p["account"] == account and p.get("number")), Decimal(0))
    return total


def make_round(rng: random.Random, shape: LedgerShape, entries: list[Any],
               serial: int) -> list[dict[str, Any]]:
    """One to four proposals on the ledger's accounts, dated anywhere (before the first
    entry, on an entry's or a balance's day, after the last), some meant to fail."""
    a, ex = shape.roots[0], shape.roots[4]
    raws: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 4)):
        g = rng.choice(shape.groups)
        date = rng.choice([*g.dates, START + datetime.timedelta(days=rng.randint(-3, 370))])
        date += datetime.timedelta(days=rng.choice([0, 0, 0, 1, -1]))
        kind = rng.random()
        account = rng.choice([g.bank, g.bank, g.card])
        if kind < 0.3:
            right = _balance_at(entries, account, "USD", date, raws)
            number = right + (0 if rng.random() < 0.6 else rng.choice([1, -5, 100]))
            raws.append({"kind": "balance", "date": date, "account": account,
                         "number": str(number), "currency": "USD"})
            continue
        counter: dict[str, Any] = {"account": g.food}
        if kind < 0.4:  # a new account, opened first
            name = f"{ex}:G{g.name[1:]}:New{serial}x{len(raws)}"
            raws.append({"kind": "open", "date": date - datetime.timedelta(
                days=rng.choice([0, 1, 30])), "account": name})
            counter = {"account": name}
        elif kind < 0.5 and g.broker:  # shares moved out without a cost
            name = f"{a}:G{g.name[1:]}:Elsewhere{serial}x{len(raws)}"
            raws.append({"kind": "open", "date": START, "account": name})
            raws.append(_txn(date, "Move", [(g.broker, str(-rng.randint(1, 3)), "HOOL"),
                                            (name, None, None)]))
            continue
        elif kind < 0.58 and g.gift:
            account = g.gift
        elif kind < 0.68:  # a copy of an entry the ledger has
            copy = _copy_of(rng, entries, g)
            if copy is not None:
                raws.append(copy)
                continue
        number = str(-Decimal(rng.randint(1, 20000)) / 100)
        raws.append(_txn(date, rng.choice(["Deli", "Cafe", "Shop"]),
                         [(account, number, "USD"), (counter["account"], None, None)]))
    return raws


def _txn(date: D, payee: str, legs: list[tuple[str, str | None, str | None]]
         ) -> dict[str, Any]:
    return {"kind": "transaction", "date": date, "payee": payee, "narration": "",
            "postings": [{"account": acc, "number": num, "currency": cur}
                         for acc, num, cur in legs]}


def _copy_of(rng: random.Random, entries: list[Any], g: Group) -> dict[str, Any] | None:
    mine = [e for e in entries if hasattr(e, "postings") and len(e.postings) == 2
            and e.postings[0].account in (g.bank, g.card) and e.flag in "*!"
            and "\n" not in (e.narration or "") and e.postings[0].cost is None]
    if not mine:
        return None
    e = rng.choice(mine)
    raw = _txn(e.date, e.payee or "", [(p.account, str(p.units.number), p.units.currency)
                                        for p in e.postings])
    raw.update(narration=e.narration or "", flag=e.flag)
    return raw
