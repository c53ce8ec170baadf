"""Generate the sample ledger, the November 2025 statements and their answer key.

Run `python ledgers/generate.py` (from anywhere) to regenerate every file in `ledgers/`.
The output is deterministic: a fixed seed, no clock, no network, so two runs give
byte-identical files.

How it works: one list of real-world events (the "truth") is built for 2025-01-01 to
2025-11-30. The ledger is the truth minus a few November lines (the ones the user forgot
to book), plus one ledger-only duplicate, with two card purchases booked on their post
date instead of their transaction date. The statements are rendered from the truth, so
they show what the bank saw. `statements/TRUTH.json` records every difference. The two
CSV exports arrive in `inbox/` (where a bare `beanagent reconcile sample.beancount` finds
them); the OFX copy of the checking month stays in `statements/`, out of the inbox, as one
run must not hold the same month of an account twice.
"""

from __future__ import annotations

import calendar
import csv
import dataclasses
import datetime
import hashlib
import io
import json
import random
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from beancount.core import amount, data
from beancount.parser import printer

SEED = 20251130
HERE = Path(__file__).resolve().parent
STATEMENTS = HERE / "statements"
INBOX = HERE / "inbox"
CUR = "USD"
YEAR = 2025
FIRST_MONTH = 1
LAST_MONTH = 11  # the ledger covers 2025-01-01 .. 2025-11-30
STMT_MONTH = 11  # the statements cover November 2025
STMT_START = datetime.date(YEAR, STMT_MONTH, 1)
STMT_END = datetime.date(YEAR, STMT_MONTH, 30)
ASSERT_DATE = STMT_END + datetime.timedelta(days=1)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# Accounts -------------------------------------------------------------------------------
CHECKING = "Assets:US:BofA:Checking"
SAVINGS = "Assets:US:BofA:Savings"
K401 = "Assets:US:Vanguard:401k"
CARD = "Liabilities:US:Chase:Sapphire"
SALARY = "Income:US:Acme:Salary"
INTEREST = "Income:US:BofA:Interest"
OPENING = "Equity:Opening-Balances"
TAX_FED = "Expenses:Taxes:Federal"
TAX_SS = "Expenses:Taxes:SocialSecurity"
TAX_MED = "Expenses:Taxes:Medicare"
HEALTH = "Expenses:Health:Insurance"
RENT = "Expenses:Housing:Rent"
ELECTRICITY = "Expenses:Utilities:Electricity"
INTERNET = "Expenses:Utilities:Internet"
PHONE = "Expenses:Utilities:Phone"
GROCERIES = "Expenses:Food:Groceries"
RESTAURANTS = "Expenses:Food:Restaurants"
COFFEE = "Expenses:Food:Coffee"
GAS = "Expenses:Transport:Gas"
RIDESHARE = "Expenses:Transport:Rideshare"
SHOPPING = "Expenses:Shopping"
STREAMING = "Expenses:Entertainment:Streaming"
FEES = "Expenses:Bank:Fees"

CHECKING_ID = "00234-48574897"
SAVINGS_ID = "00234-48578821"
CARD_ID = "4417123456789113"
BOFA_ROUTING = "026009593"

OPEN_META: dict[str, dict[str, str]] = {
    CHECKING: {"account": CHECKING_ID, "institution": "Bank of America"},
    SAVINGS: {"account": SAVINGS_ID, "institution": "Bank of America"},
    CARD: {"account": CARD_ID, "institution": "JPMorgan Chase"},
    K401: {"institution": "Vanguard"},
    SALARY: {"employer": "Acme Corp"},
}
ACCOUNTS: tuple[str, ...] = (
    CHECKING, SAVINGS, K401, CARD, OPENING, SALARY, INTEREST,
    TAX_FED, TAX_SS, TAX_MED, HEALTH, RENT, ELECTRICITY, INTERNET, PHONE,
    GROCERIES, RESTAURANTS, COFFEE, GAS, RIDESHARE, SHOPPING, STREAMING, FEES,
)  # fmt: skip

# Statement descriptions (Bank of America ACH style) ------------------------------------
DESC_PAYROLL = "ACME CORP DES:PAYROLL ID:XXXXX45 INDN:DOE,JANE CO ID:XXXXX11 PPD"
DESC_RENT = "PARKSIDE APTS DES:WEB PMTS ID:XXXXX8812 INDN:JANE DOE CO ID:XXXXX4470 WEB"
DESC_CONED = "CON ED OF NY DES:INTELL CK ID:XXXXX3301 INDN:JANE DOE CO ID:XXXXX0011 WEB"
DESC_VERIZON = "VERIZON WIRELESS DES:PAYMENTREC ID:XXXXX2291 INDN:JANE DOE CO ID:XXXXX6131 WEB"
DESC_CARDPAY = "CHASE CREDIT CRD DES:EPAY ID:XXXXX9482 INDN:JANE DOE CO ID:XXXXX7501 WEB"
DESC_FEE = "MONTHLY MAINTENANCE FEE"
CHASE_PAYMENT_DESC = "Payment Thank You - Web"


def d2(cents: int) -> Decimal:
    """An exact two-place Decimal from an integer number of cents."""
    return Decimal(cents).scaleb(-2)


def money(rng: random.Random, lo: str, hi: str) -> Decimal:
    """A random amount with cents in [lo, hi]."""
    return d2(rng.randint(int(Decimal(lo) * 100), int(Decimal(hi) * 100)))


def pct(base: Decimal, rate: str) -> Decimal:
    return (base * Decimal(rate)).quantize(CENT, rounding=ROUND_HALF_UP)


def month_end(month: int) -> datetime.date:
    return datetime.date(YEAR, month, calendar.monthrange(YEAR, month)[1])


def weekday_on_or_after(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


def weekday_on_or_before(day: datetime.date) -> datetime.date:
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return day


def next_business_day(day: datetime.date) -> datetime.date:
    return weekday_on_or_after(day + datetime.timedelta(days=1))


@dataclasses.dataclass(frozen=True)
class BankLine:
    """How the event shows on the BofA checking statement."""

    description: str
    trntype: str  # OFX TRNTYPE


@dataclasses.dataclass(frozen=True)
class CardLine:
    """How the event shows on the Chase card statement (its date is the event's date)."""

    description: str
    category: str
    type: str
    post_date: datetime.date


@dataclasses.dataclass
class Event:
    """One real-world transaction. `legs` sum to zero."""

    date: datetime.date
    payee: str | None
    narration: str
    legs: list[tuple[str, Decimal]]
    bank: BankLine | None = None
    card: CardLine | None = None
    kind: str = ""
    missing: bool = False  # happened, but not booked in the ledger
    shifted: bool = False  # booked in the ledger on the card post date
    ledger_only: bool = False  # booked in the ledger, never happened

    @property
    def ledger_date(self) -> datetime.date:
        if self.shifted:
            assert self.card is not None
            return self.card.post_date
        return self.date

    def amount_in(self, account: str) -> Decimal:
        return sum((n for acc, n in self.legs if acc == account), ZERO)

    def counter_account(self, account: str) -> str:
        others = [acc for acc, _ in self.legs if acc != account]
        assert len(others) == 1, (self, account)
        return others[0]


# Truth ----------------------------------------------------------------------------------


class Truth:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[Event] = []

    def add(self, ev: Event) -> Event:
        assert sum(n for _, n in ev.legs) == 0, ev
        self.events.append(ev)
        return ev

    def balance(self, account: str, before: datetime.date, *, ledger: bool = False) -> Decimal:
        """Sum of `account` over events dated before `before` (start-of-day balance)."""
        total = ZERO
        for ev in self.events:
            if ledger:
                if ev.missing:
                    continue
                if ev.ledger_date < before:
                    total += ev.amount_in(account)
            elif not ev.ledger_only and ev.date < before:
                total += ev.amount_in(account)
        return total

    # --- builders ---------------------------------------------------------------------

    def build(self) -> None:
        self.opening()
        for month in range(FIRST_MONTH, LAST_MONTH + 1):
            self.checking_month(month)
            if month == STMT_MONTH:
                self.card_november()
            else:
                self.card_month(month)
        # Card payments need the previous month's card balance, interest the savings one.
        for month in range(FIRST_MONTH, LAST_MONTH + 1):
            self.card_payment(month)
        for month in range(FIRST_MONTH, LAST_MONTH + 1):
            self.savings_interest(month)
        self.events.sort(key=lambda ev: ev.date)  # stable: same-day order is build order

    def opening(self) -> None:
        day = datetime.date(YEAR, 1, 1)
        legs = [
            (CHECKING, Decimal("4218.37")),
            (SAVINGS, Decimal("12500.00")),
            (K401, Decimal("38452.19")),
            (CARD, Decimal("-1187.42")),
        ]
        legs.append((OPENING, -sum((n for _, n in legs), ZERO)))
        self.add(Event(day, None, "Opening balances", legs, kind="opening"))

    def checking_month(self, month: int) -> None:
        rng = self.rng
        first = datetime.date(YEAR, month, 1)
        # Rent by ACH on the first business day (January 1 is a bank holiday).
        rent_day = weekday_on_or_after(first if month != 1 else datetime.date(YEAR, 1, 2))
        self.add(Event(
            rent_day, "Parkside Apartments", f"{calendar.month_name[month]} rent",
            [(RENT, Decimal("2450.00")), (CHECKING, Decimal("-2450.00"))],
            bank=BankLine(DESC_RENT, "DEBIT"), kind="rent",
        ))  # fmt: skip

        # Internet: debit card, recurring on the 8th, posts the next business day.
        nominal = datetime.date(YEAR, month, 8)
        price = Decimal("79.99") if month < 9 else Decimal("84.99")  # price rise in September
        ref = "".join(rng.choice("0123456789") for _ in range(23))
        self.add(Event(
            next_business_day(nominal), "Spectrum", "Internet service",
            [(INTERNET, price), (CHECKING, -price)],
            bank=BankLine(
                f"CHECKCARD {nominal:%m%d} SPECTRUM 855-707-7328 NY {ref} RECURRING", "POS"
            ),
            kind="internet",
        ))  # fmt: skip

        # Payroll on the 15th and the last day (previous business day on weekends).
        for pay_day in (datetime.date(YEAR, month, 15), month_end(month)):
            self.payroll(weekday_on_or_before(pay_day))

        if month in TRANSFERS:
            conf = rng.randint(10000, 99999)
            xfer = TRANSFERS[month]
            self.add(Event(
                weekday_on_or_after(datetime.date(YEAR, month, 17)), "Bank of America",
                "Transfer to savings", [(SAVINGS, xfer), (CHECKING, -xfer)],
                bank=BankLine(
                    f"Online Banking transfer to SAV 8821 Confirmation# XXXXX{conf}", "XFER"
                ),
                kind="transfer",
            ))  # fmt: skip

        elec = ELECTRIC_BASE[month] + d2(rng.randint(-900, 900))
        self.add(Event(
            weekday_on_or_after(datetime.date(YEAR, month, 18)), "Con Edison", "Electric bill",
            [(ELECTRICITY, elec), (CHECKING, -elec)],
            bank=BankLine(DESC_CONED, "DEBIT"), kind="electricity",
        ))  # fmt: skip

        phone = Decimal("85.00") + d2(rng.randint(180, 460))
        self.add(Event(
            weekday_on_or_after(datetime.date(YEAR, month, 21)), "Verizon Wireless",
            "Mobile phone bill", [(PHONE, phone), (CHECKING, -phone)],
            bank=BankLine(DESC_VERIZON, "DEBIT"), kind="phone",
        ))  # fmt: skip

        if month in FEE_MONTHS:
            fee = Decimal("12.00")
            self.add(Event(
                weekday_on_or_before(month_end(month)), "Bank of America",
                "Monthly maintenance fee", [(FEES, fee), (CHECKING, -fee)],
                bank=BankLine(DESC_FEE, "SRVCHG"), kind="fee",
            ))  # fmt: skip

    def payroll(self, day: datetime.date) -> None:
        gross = Decimal("4166.67")
        fed, ss, med = pct(gross, "0.137"), pct(gross, "0.062"), pct(gross, "0.0145")
        health, k401 = Decimal("142.50"), pct(gross, "0.06")
        net = gross - fed - ss - med - health - k401
        self.add(Event(
            day, "Acme Corp", "Payroll",
            [
                (CHECKING, net), (K401, k401), (TAX_FED, fed), (TAX_SS, ss),
                (TAX_MED, med), (HEALTH, health), (SALARY, -gross),
            ],
            bank=BankLine(DESC_PAYROLL, "DIRECTDEP"), kind="payroll",
        ))  # fmt: skip

    def card(
        self,
        day: datetime.date,
        lag: int,
        merchant: Merchant,
        amt: Decimal,
        narration: str | None = None,
        *,
        description: str | None = None,
        refund: bool = False,
    ) -> Event:
        post = day + datetime.timedelta(days=lag)
        sign = -1 if refund else 1
        desc = description or merchant.description
        if merchant.payee == "Lyft":
            desc = f"LYFT   *RIDE {day:%a}".upper() + f" {self.rng.randint(7, 11)}PM"
        return self.add(Event(
            day, merchant.payee, narration or merchant.narration(self.rng),
            [(merchant.account, sign * amt), (CARD, -sign * amt)],
            card=CardLine(desc, merchant.category, "Return" if refund else "Sale", post),
            kind="card",
        ))  # fmt: skip

    def amazon_desc(self) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
        return "AMAZON MKTPL*" + "".join(self.rng.choice(alphabet) for _ in range(9))

    def card_month(self, month: int) -> None:
        rng = self.rng
        last = month_end(month).day

        def day_lag() -> tuple[datetime.date, int]:
            lag = rng.choice((1, 1, 2))
            return datetime.date(YEAR, month, rng.randint(1, last - lag)), lag

        self.card(datetime.date(YEAR, month, 3), 1, NETFLIX, Decimal("17.99"))
        self.card(datetime.date(YEAR, month, 12), 1, SPOTIFY, Decimal("11.99"))
        for _ in range(5):
            shop = WHOLE_FOODS if rng.randrange(100) < 60 else TRADER_JOES
            self.card(*day_lag(), shop, money(rng, "38.00", "165.00"))
        for _ in range(4):
            self.card(*day_lag(), rng.choice(RESTAURANT_POOL), money(rng, "14.00", "96.00"))
        for _ in range(5):
            shop = STARBUCKS if rng.randrange(100) < 55 else BLUE_BOTTLE
            self.card(*day_lag(), shop, money(rng, "4.25", "7.95"))
        for _ in range(2):
            self.card(*day_lag(), SHELL, money(rng, "32.00", "61.00"))
        for _ in range(3):
            ride = UBER if rng.randrange(100) < 60 else LYFT
            self.card(*day_lag(), ride, money(rng, "11.00", "41.00"))
        bought: list[tuple[Decimal, str, str]] = []
        for _ in range(2):
            price, narration = money(rng, "12.99", "149.99"), rng.choice(AMAZON_ITEMS)
            desc = self.amazon_desc()
            bought.append((price, narration, desc))
            self.card(*day_lag(), AMAZON, price, narration, description=desc)
        if month == 6:  # one return: the first June order goes back
            price, narration, desc = bought[0]
            self.card(
                datetime.date(YEAR, 6, 27),
                1,
                AMAZON,
                price,
                f"Return: {narration.lower()}",
                description=desc,
                refund=True,
            )

    def card_november(self) -> None:
        """November by hand, so that the statement's twists are exact."""
        nov = STMT_MONTH

        def day(n: int) -> datetime.date:
            return datetime.date(YEAR, nov, n)

        c = self.card
        c(day(1), 2, TRADER_JOES, Decimal("67.42"))
        c(day(2), 1, STARBUCKS, Decimal("5.85"))
        c(day(3), 1, NETFLIX, Decimal("17.99"))
        c(day(4), 1, BLUE_BOTTLE, Decimal("6.75")).missing = True
        c(day(6), 2, WHOLE_FOODS, Decimal("112.38")).shifted = True
        c(day(7), 1, UBER, Decimal("23.16"))
        c(day(8), 1, JOES_PIZZA, Decimal("34.60"), "Dinner").missing = True
        c(day(9), 1, AMAZON, Decimal("42.99"), "USB-C charger", description=self.amazon_desc())
        c(day(10), 1, SHELL, Decimal("48.27"))
        c(day(11), 1, SWEETGREEN, Decimal("16.85"), "Lunch")
        starbucks = c(day(12), 1, STARBUCKS, Decimal("6.45"))
        c(day(12), 1, SPOTIFY, Decimal("11.99"))
        c(day(14), 2, LYFT, Decimal("18.42")).shifted = True
        c(day(15), 1, WHOLE_FOODS, Decimal("89.04"))
        c(day(16), 2, SHAKE_SHACK, Decimal("28.73"), "Dinner")
        c(day(18), 1, BLUE_BOTTLE, Decimal("5.95"))
        c(day(19), 1, KALE_AND_CO, Decimal("18.75"), "Lunch").missing = True
        c(day(21), 1, UBER, Decimal("27.84")).missing = True
        c(day(22), 2, TRADER_JOES, Decimal("58.19"))
        c(day(23), 1, AMAZON, Decimal("129.99"), "Winter jacket", description=self.amazon_desc())
        c(day(24), 1, LOS_TACOS, Decimal("24.50"), "Dinner")
        c(day(25), 1, STARBUCKS, Decimal("6.10"))
        c(day(26), 2, WHOLE_FOODS, Decimal("143.67"), "Thanksgiving groceries")
        c(day(28), 1, SHELL, Decimal("45.90"))
        # The user typed the 11/12 Starbucks in again the next morning: a ledger-only duplicate.
        dup = dataclasses.replace(
            starbucks, date=day(13), card=None, ledger_only=True, kind="duplicate"
        )
        self.add(dup)

        # November's checking twists: three lines never booked.
        for ev in self.events:
            if ev.date.month == nov and ev.kind in ("phone", "transfer", "fee"):
                ev.missing = True

    def card_payment(self, month: int) -> None:
        # Pay last month's balance in full (January: the opening balance, booked on the 1st).
        cutoff = datetime.date(YEAR, month, 1) + datetime.timedelta(days=1 if month == 1 else 0)
        due = -self.balance(CARD, cutoff)
        assert due > 0
        day = weekday_on_or_after(datetime.date(YEAR, month, 20))
        self.add(Event(
            day, "Chase Card Payment", "Credit card payment",
            [(CARD, due), (CHECKING, -due)],
            bank=BankLine(DESC_CARDPAY, "DEBIT"),
            card=CardLine(CHASE_PAYMENT_DESC, "", "Payment", day),
            kind="card_payment",
        ))  # fmt: skip

    def savings_interest(self, month: int) -> None:
        day = month_end(month)
        bal = self.balance(SAVINGS, day)
        interest = (bal * Decimal("0.0004") / 12).quantize(CENT, rounding=ROUND_HALF_UP)
        self.add(Event(
            day, "Bank of America", "Interest paid", [(SAVINGS, interest), (INTEREST, -interest)],
            kind="interest",
        ))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Merchant:
    payee: str
    description: str
    account: str
    category: str
    narrations: tuple[str, ...]

    def narration(self, rng: random.Random) -> str:
        return self.narrations[0] if len(self.narrations) == 1 else rng.choice(self.narrations)


WHOLE_FOODS = Merchant("Whole Foods", "WHOLEFDS MKT #10234", GROCERIES, "Groceries", ("Groceries",))
TRADER_JOES = Merchant("Trader Joe's", "TRADER JOE S #554", GROCERIES, "Groceries", ("Groceries",))
STARBUCKS = Merchant("Starbucks", "STARBUCKS STORE 11482", COFFEE, "Food & Drink", ("Coffee",))
BLUE_BOTTLE = Merchant(
    "Blue Bottle Coffee", "SQ *BLUE BOTTLE COFFEE", COFFEE, "Food & Drink", ("Coffee",)
)
SHELL = Merchant("Shell", "SHELL OIL 57442", GAS, "Gas", ("Gas",))
UBER = Merchant("Uber", "UBER   *TRIP", RIDESHARE, "Travel", ("Ride",))
LYFT = Merchant("Lyft", "LYFT   *RIDE", RIDESHARE, "Travel", ("Ride",))
AMAZON = Merchant("Amazon", "AMAZON MKTPL", SHOPPING, "Shopping", ("Order",))
NETFLIX = Merchant("Netflix", "NETFLIX.COM", STREAMING, "Entertainment", ("Netflix subscription",))
SPOTIFY = Merchant("Spotify", "SPOTIFY USA", STREAMING, "Entertainment", ("Spotify Premium",))
MEALS = ("Lunch", "Dinner")
JOES_PIZZA = Merchant("Joe's Pizza", "TST* JOE'S PIZZA", RESTAURANTS, "Food & Drink", MEALS)
SWEETGREEN = Merchant("Sweetgreen", "SWEETGREEN BROADWAY", RESTAURANTS, "Food & Drink", MEALS)
SHAKE_SHACK = Merchant("Shake Shack", "SHAKE SHACK 1024", RESTAURANTS, "Food & Drink", MEALS)
LOS_TACOS = Merchant("Los Tacos No. 1", "TST* LOS TACOS NO 1", RESTAURANTS, "Food & Drink", MEALS)
XIAN = Merchant("Xi'an Famous Foods", "XIAN FAMOUS FOODS", RESTAURANTS, "Food & Drink", MEALS)
KALE_AND_CO = Merchant("Kale & Co", "SQ *KALE & CO", RESTAURANTS, "Food & Drink", MEALS)
RESTAURANT_POOL = (JOES_PIZZA, SWEETGREEN, SHAKE_SHACK, LOS_TACOS, XIAN)
AMAZON_ITEMS = (
    "Household supplies", "Paper towels and detergent", "Books", "Phone case",
    "Kitchen scale", "Desk lamp", "Vitamins", "HDMI cable", "Running socks", "Bath towels",
)  # fmt: skip
TRANSFERS: dict[int, Decimal] = {
    2: Decimal("2000.00"), 4: Decimal("2500.00"), 6: Decimal("2000.00"),
    8: Decimal("3000.00"), 9: Decimal("1500.00"), 11: Decimal("1000.00"),
}  # fmt: skip
FEE_MONTHS = (3, 11)
ELECTRIC_BASE: dict[int, Decimal] = {
    1: Decimal("118.00"), 2: Decimal("109.00"), 3: Decimal("92.00"), 4: Decimal("78.00"),
    5: Decimal("74.00"), 6: Decimal("96.00"), 7: Decimal("142.00"), 8: Decimal("151.00"),
    9: Decimal("117.00"), 10: Decimal("83.00"), 11: Decimal("88.00"),
}  # fmt: skip


# Ledger ---------------------------------------------------------------------------------

META_FILE = "ledgers/generate.py"


def posting(account: str, number: Decimal) -> data.Posting:
    return data.Posting(account, amount.Amount(number, CUR), None, None, None, None)


def to_transaction(ev: Event) -> data.Transaction:
    return data.Transaction(
        data.new_metadata(META_FILE, 0),
        ev.ledger_date,
        "*",
        ev.payee,
        ev.narration,
        frozenset(),
        frozenset(),
        [posting(acc, n) for acc, n in ev.legs],
    )


def ledger_text(truth: Truth) -> tuple[str, int]:
    start = datetime.date(YEAR, 1, 1)
    opens: list[data.Directive] = [
        data.Open(data.new_metadata(META_FILE, 0, OPEN_META.get(acc)), start, acc, [CUR], None)
        for acc in ACCOUNTS
    ]
    booked = [ev for ev in truth.events if not ev.missing]
    txns: list[data.Directive] = [to_transaction(ev) for ev in booked]
    balances: list[data.Directive] = []
    for month in (4, 7, 10, 11):
        day = datetime.date(YEAR, month, 1)
        for acc in (CHECKING, CARD) + ((SAVINGS,) if month == 11 else ()):
            bal = truth.balance(acc, day, ledger=True)
            balances.append(data.Balance(
                data.new_metadata(META_FILE, 0), day, acc, amount.Amount(bal, CUR), None, None
            ))  # fmt: skip
    entries = sorted(txns + balances, key=data.entry_sortkey)

    out = io.StringIO()
    out.write("; Sample personal ledger for beanagent: Jane Doe, 2025-01-01 .. 2025-11-30.\n")
    out.write("; Generated by ledgers/generate.py; do not edit by hand, rerun the script.\n")
    out.write("\n")
    out.write('option "title" "Jane Doe - Personal Finances"\n')
    out.write(f'option "operating_currency" "{CUR}"\n')
    out.write("\n; Accounts\n\n")
    for entry in opens:
        out.write(printer.format_entry(entry))
    current = ""
    for entry in entries:
        label = f"{entry.date:%Y-%m}"
        if label != current:
            current = label
            out.write(f"\n; {calendar.month_name[entry.date.month]} {YEAR}\n\n")
        elif not isinstance(entry, data.Balance):
            out.write("\n")
        out.write(printer.format_entry(entry))
    return out.getvalue(), len(txns)


# Statements -----------------------------------------------------------------------------


def comma(n: Decimal) -> str:
    return f"{n:,.2f}"


def plain(n: Decimal) -> str:
    return f"{n:.2f}"


def us_date(day: datetime.date) -> str:
    return f"{day:%m/%d/%Y}"


def csv_text(rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def checking_lines(truth: Truth) -> list[Event]:
    return [
        ev for ev in truth.events
        if ev.bank is not None and STMT_START <= ev.date <= STMT_END
    ]  # fmt: skip


def card_lines(truth: Truth) -> list[Event]:
    lines = [ev for ev in truth.events if ev.card is not None and STMT_START <= ev.date <= STMT_END]
    for ev in lines:
        assert ev.card is not None and ev.card.post_date <= STMT_END
    return lines


def bofa_csv(truth: Truth, lines: list[Event]) -> tuple[str, list[int], Decimal, Decimal]:
    opening = truth.balance(CHECKING, STMT_START)
    credits = sum((ev.amount_in(CHECKING) for ev in lines if ev.amount_in(CHECKING) > 0), ZERO)
    debits = sum((ev.amount_in(CHECKING) for ev in lines if ev.amount_in(CHECKING) < 0), ZERO)
    closing = opening + credits + debits
    begin = f"Beginning balance as of {us_date(STMT_START)}"
    rows: list[list[str]] = [
        ["Description", "", "Summary Amt."],
        [begin, "", comma(opening)],
        ["Total credits", "", comma(credits)],
        ["Total debits", "", comma(debits)],
        [f"Ending balance as of {us_date(STMT_END)}", "", comma(closing)],
        [],
        ["Date", "Description", "Amount", "Running Bal."],
        [us_date(STMT_START), begin, "", comma(opening)],
    ]
    running = opening
    line_numbers: list[int] = []
    for ev in lines:
        assert ev.bank is not None
        running += ev.amount_in(CHECKING)
        rows.append(
            [us_date(ev.date), ev.bank.description, plain(ev.amount_in(CHECKING)), comma(running)]
        )
        line_numbers.append(len(rows))
    assert running == closing
    return csv_text(rows), line_numbers, opening, closing


def chase_csv(lines: list[Event]) -> tuple[str, dict[int, int]]:
    rows: list[list[str]] = [
        ["Transaction Date", "Post Date", "Description", "Category", "Type", "Amount", "Memo"]
    ]
    line_of: dict[int, int] = {}
    for ev in reversed(lines):  # newest first
        assert ev.card is not None
        c = ev.card
        rows.append([
            us_date(ev.date), us_date(c.post_date), c.description, c.category, c.type,
            plain(ev.amount_in(CARD)), "",
        ])  # fmt: skip
        line_of[id(ev)] = len(rows)
    return csv_text(rows), line_of


def fitid(ev: Event, seq: int) -> str:
    digest = hashlib.sha256(
        f"{ev.date}|{ev.amount_in(CHECKING)}|{ev.bank and ev.bank.description}|{seq}".encode()
    ).hexdigest()
    return f"{ev.date:%Y%m%d}{int(digest[:12], 16) % 10**12:012d}"


def sgml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ofx_name(ev: Event) -> str:
    """The OFX NAME (at most 32 characters): the ACH originator, or the card merchant."""
    assert ev.bank is not None
    desc = ev.bank.description
    if " DES:" in desc:
        name = desc.split(" DES:")[0]
    elif desc.startswith("CHECKCARD "):
        name = " ".join(desc.split()[2:5])  # drop "CHECKCARD MMDD", keep merchant words
    else:
        name = desc
    if len(name) > 32:  # cut at a word boundary
        name = name[:33].rsplit(" ", 1)[0]
    return name


def bofa_ofx(lines: list[Event], closing: Decimal) -> tuple[str, list[str]]:
    def when(day: datetime.date) -> str:
        return f"{day:%Y%m%d}120000.000[-5:EST]"

    out = [
        "OFXHEADER:100", "DATA:OFXSGML", "VERSION:102", "SECURITY:NONE", "ENCODING:USASCII",
        "CHARSET:1252", "COMPRESSION:NONE", "OLDFILEUID:NONE", "NEWFILEUID:NONE", "",
        "<OFX>", "<SIGNONMSGSRSV1>", "<SONRS>",
        "<STATUS>", "<CODE>0", "<SEVERITY>INFO", "</STATUS>",
        f"<DTSERVER>{when(ASSERT_DATE)}", "<LANGUAGE>ENG",
        "<FI>", "<ORG>HAN", "<FID>5959", "</FI>",
        "</SONRS>", "</SIGNONMSGSRSV1>",
        "<BANKMSGSRSV1>", "<STMTTRNRS>", "<TRNUID>0",
        "<STATUS>", "<CODE>0", "<SEVERITY>INFO", "</STATUS>",
        "<STMTRS>", f"<CURDEF>{CUR}",
        "<BANKACCTFROM>", f"<BANKID>{BOFA_ROUTING}", f"<ACCTID>{CHECKING_ID}",
        "<ACCTTYPE>CHECKING", "</BANKACCTFROM>",
        "<BANKTRANLIST>", f"<DTSTART>{when(STMT_START)}", f"<DTEND>{when(STMT_END)}",
    ]  # fmt: skip
    ids: list[str] = []
    for seq, ev in enumerate(lines):
        assert ev.bank is not None
        fid = fitid(ev, seq)
        ids.append(fid)
        out += [
            "<STMTTRN>",
            f"<TRNTYPE>{ev.bank.trntype}",
            f"<DTPOSTED>{when(ev.date)}",
            f"<TRNAMT>{plain(ev.amount_in(CHECKING))}",
            f"<FITID>{fid}",
            f"<NAME>{sgml(ofx_name(ev))}",
            f"<MEMO>{sgml(ev.bank.description)}",
            "</STMTTRN>",
        ]
    assert len(set(ids)) == len(ids)
    out += [
        "</BANKTRANLIST>",
        "<LEDGERBAL>", f"<BALAMT>{plain(closing)}", f"<DTASOF>{when(STMT_END)}", "</LEDGERBAL>",
        "<AVAILBAL>", f"<BALAMT>{plain(closing)}", f"<DTASOF>{when(STMT_END)}", "</AVAILBAL>",
        "</STMTRS>", "</STMTTRNRS>", "</BANKMSGSRSV1>", "</OFX>",
    ]  # fmt: skip
    return "\n".join(out) + "\n", ids


# Answer key -----------------------------------------------------------------------------


def iso(day: datetime.date) -> str:
    return day.isoformat()


def line_record(ev: Event, account: str) -> dict[str, Any]:
    if ev.missing:
        status = "missing"
    elif ev.kind == "card_payment":
        status = "card_payment"
    elif ev.shifted:
        status = "date_shifted"
    else:
        status = "matched"
    rec: dict[str, Any] = {
        "date": iso(ev.date),
        "amount": plain(ev.amount_in(account)),
        "description": ev.card.description if account == CARD and ev.card else "",
        "status": status,
        "payee": ev.payee,
        "narration": ev.narration,
        "ledger_date": None if ev.missing else iso(ev.ledger_date),
        "accounts": [acc for acc, _ in ev.legs if acc != account],
    }
    if account == CHECKING:
        assert ev.bank is not None
        rec["description"] = ev.bank.description
    else:
        assert ev.card is not None
        rec["post_date"] = iso(ev.card.post_date)
        rec["type"] = ev.card.type
    return rec


def missing_record(ev: Event, account: str) -> dict[str, Any]:
    rec = line_record(ev, account)
    return {
        "date": rec["date"],
        "amount": rec["amount"],
        "description": rec["description"],
        "account": ev.counter_account(account),
        "payee": ev.payee,
        "narration": ev.narration,
        "novel_payee": ev.payee == KALE_AND_CO.payee,
    }


def statement_record(
    truth: Truth,
    *,
    path: str,
    fmt: str,
    account: str,
    account_id: str,
    lines: list[Event],
    opening: Decimal,
    closing: Decimal,
    line_numbers: list[int],
    fitids: list[str] | None = None,
) -> dict[str, Any]:
    records = []
    for i, ev in enumerate(lines):
        rec = line_record(ev, account)
        rec["line"] = line_numbers[i]
        if fitids is not None:
            rec["fitid"] = fitids[i]
            rec["name"] = ofx_name(ev)
        records.append(rec)
    ledger_only = [
        ev for ev in truth.events
        if ev.ledger_only and STMT_START <= ev.date <= STMT_END and ev.amount_in(account) != 0
    ]  # fmt: skip
    missing = [ev for ev in lines if ev.missing]
    as_is = truth.balance(account, ASSERT_DATE, ledger=True)
    after_missing = as_is + sum((ev.amount_in(account) for ev in missing), ZERO)
    after_both = after_missing - sum((ev.amount_in(account) for ev in ledger_only), ZERO)
    assert after_both == closing, (account, after_both, closing)
    return {
        "path": path,
        "format": fmt,
        "account": account,
        "account_id": account_id,
        "currency": CUR,
        "period": {"start": iso(STMT_START), "end": iso(STMT_END)},
        "order": "newest_first" if account == CARD else "oldest_first",
        "opening_balance": plain(opening),
        "opening_date": iso(STMT_START),
        "closing_balance": plain(closing),
        "closing_date": iso(STMT_END),
        "balance_assertion": {"date": iso(ASSERT_DATE), "amount": plain(closing)},
        "line_count": len(lines),
        "missing": [missing_record(ev, account) for ev in missing],
        "ledger_only": [
            {
                "date": iso(ev.ledger_date),
                "amount": plain(ev.amount_in(account)),
                "payee": ev.payee,
                "narration": ev.narration,
                "account": ev.counter_account(account),
                "duplicate_of": iso(ev.date - datetime.timedelta(days=1)),
            }
            for ev in ledger_only
        ],
        "date_shifted": [
            {
                "date": iso(ev.date),
                "post_date": iso(ev.card.post_date),
                "ledger_date": iso(ev.ledger_date),
                "amount": plain(ev.amount_in(account)),
                "description": ev.card.description,
                "payee": ev.payee,
                "account": ev.counter_account(account),
            }
            for ev in lines
            if ev.shifted and ev.card is not None
        ],
        "ledger_balance": {
            "date": iso(ASSERT_DATE),
            "as_is": plain(as_is),
            "after_adding_missing": plain(after_missing),
            "after_adding_missing_and_removing_ledger_only": plain(after_both),
        },
        "lines": records,
    }


# Main -----------------------------------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def main() -> None:
    truth = Truth(SEED)
    truth.build()
    for acc in (CHECKING, SAVINGS):  # never overdrawn at the end of any day
        days = {ev.date + datetime.timedelta(days=1) for ev in truth.events}
        assert min(truth.balance(acc, day) for day in days) >= 0, acc

    ledger, n_txns = ledger_text(truth)
    write(HERE / "sample.beancount", ledger)

    checking = checking_lines(truth)
    card = card_lines(truth)
    bofa_text, bofa_line_numbers, chk_open, chk_close = bofa_csv(truth, checking)
    chase_text, chase_line_of = chase_csv(card)
    ofx_text, fitids = bofa_ofx(checking, chk_close)
    write(INBOX / "bofa-checking-2025-11.csv", bofa_text)
    write(INBOX / "chase-sapphire-2025-11.csv", chase_text)
    write(STATEMENTS / "bofa-checking-2025-11.ofx", ofx_text)

    card_open = truth.balance(CARD, STMT_START)
    card_close = truth.balance(CARD, ASSERT_DATE)
    assert card_close == card_open + sum((ev.amount_in(CARD) for ev in card), ZERO)

    rel, inbox = "ledgers/statements/", "ledgers/inbox/"
    statements = {
        "bofa-checking-2025-11.csv": statement_record(
            truth, path=inbox + "bofa-checking-2025-11.csv", fmt="csv", account=CHECKING,
            account_id=CHECKING_ID, lines=checking, opening=chk_open, closing=chk_close,
            line_numbers=bofa_line_numbers,
        ),
        "bofa-checking-2025-11.ofx": statement_record(
            truth, path=rel + "bofa-checking-2025-11.ofx", fmt="ofx", account=CHECKING,
            account_id=CHECKING_ID, lines=checking, opening=chk_open, closing=chk_close,
            line_numbers=[0] * len(checking), fitids=fitids,
        ),
        "chase-sapphire-2025-11.csv": statement_record(
            truth, path=inbox + "chase-sapphire-2025-11.csv", fmt="csv", account=CARD,
            account_id=CARD_ID, lines=card, opening=card_open, closing=card_close,
            line_numbers=[chase_line_of[id(ev)] for ev in card],
        ),
    }  # fmt: skip
    for rec in statements["bofa-checking-2025-11.ofx"]["lines"]:
        rec["line"] = None  # OFX has no meaningful line numbers

    (pay,) = [ev for ev in checking if ev.kind == "card_payment"]
    assert pay in card and pay.card is not None and pay.bank is not None
    pay_amount = pay.amount_in(CARD)
    truth_json = {
        "about": (
            "Answer key for ledgers/sample.beancount and the November 2025 statements. "
            "Amounts are strings, signed as the statement account sees them (money in is "
            "positive, a card purchase is negative). Card dates are transaction dates. "
            "Closing balances are as of the end of closing_date; the balance assertion "
            "goes on the next day."
        ),
        "generator": "ledgers/generate.py",
        "seed": SEED,
        "ledger": "ledgers/sample.beancount",
        "currency": CUR,
        "accounts": {"checking": CHECKING, "savings": SAVINGS, "card": CARD},
        "counts": {
            "ledger_transactions": n_txns,
            "truth_transactions": sum(1 for ev in truth.events if not ev.ledger_only),
            "missing": {name: len(s["missing"]) for name, s in statements.items()},
            "ledger_only": {name: len(s["ledger_only"]) for name, s in statements.items()},
            "date_shifted": {name: len(s["date_shifted"]) for name, s in statements.items()},
            "statement_lines": {name: s["line_count"] for name, s in statements.items()},
        },
        "statements": statements,
        "card_payment": {
            "ledger_date": iso(pay.ledger_date),
            "amount": plain(pay_amount),
            "payee": pay.payee,
            "narration": pay.narration,
            "from_account": CHECKING,
            "to_account": CARD,
            "checking": {
                "files": [inbox + "bofa-checking-2025-11.csv", rel + "bofa-checking-2025-11.ofx"],
                "date": iso(pay.date),
                "amount": plain(pay.amount_in(CHECKING)),
                "description": pay.bank.description,
                "fitid": fitids[checking.index(pay)],
            },
            "card": {
                "file": inbox + "chase-sapphire-2025-11.csv",
                "date": iso(pay.date),
                "post_date": iso(pay.card.post_date),
                "amount": plain(pay_amount),
                "description": pay.card.description,
            },
        },
    }
    write(STATEMENTS / "TRUTH.json", json.dumps(truth_json, indent=2) + "\n")


if __name__ == "__main__":
    main()
