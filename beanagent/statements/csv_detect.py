"""Low-level detection for bank CSV exports: encoding, delimiter, header names, date and
number formats. `csv.py` puts these together; nothing here knows about rows or files
beyond the text it is given, so each rule can be tested on its own.
"""

from __future__ import annotations

import codecs
import collections
import csv
import dataclasses
import datetime
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

# --------------------------------------------------------------------------- encoding


class NotTextError(ValueError):
    """The bytes do not look like a text file at all."""


def decode_bytes(data: bytes, encoding: str | None) -> str:
    """Bytes to text. Banks export UTF-8 (often with a BOM, which Excel needs) or the
    Windows code page; UTF-8 decoding of cp1252 text almost always fails, so trying UTF-8
    first and falling back is safe. Raises NotTextError / LookupError / UnicodeError."""
    if encoding:
        text = data.decode(encoding)
    elif data.startswith(codecs.BOM_UTF8):
        text = data[len(codecs.BOM_UTF8) :].decode("utf-8")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with a BOM, usually tab-separated.
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                # cp1252 leaves five bytes undefined; latin-1 maps every byte, and the
                # control-character check below still rejects real binary data.
                text = data.decode("latin-1")
    text = text.removeprefix("\ufeff")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n")
    if "\x00" in text or controls > max(2, len(text) // 100):
        raise NotTextError("binary data")
    return text


# -------------------------------------------------------------------------- delimiter

DELIMITERS = (",", ";", "\t")


def detect_delimiter(text: str) -> str:
    """Pick the delimiter that gives the most rows with the same (>= 2) field count.

    csv.Sniffer is not used: it wants the whole sample to be uniform, so the summary
    block some banks put above the header (a few rows with a different field count)
    makes it fail or pick a letter; and it ignores that a ';' file's decimal commas
    make the comma split inconsistently. Counting the modal field count per candidate
    over quote-aware parses tolerates preambles and trailers."""
    best: tuple[int, int, int] = (0, 0, 0)
    choice = ","
    for rank, delim in enumerate(DELIMITERS):
        counts: collections.Counter[int] = collections.Counter()
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=False)
        try:
            for n, row in enumerate(reader):
                if n >= 500:
                    break
                if any(cell.strip() for cell in row):
                    counts[len(row)] += 1
        except csv.Error:
            continue
        wide = [(rows, width) for width, rows in counts.items() if width >= 2]
        if not wide:
            continue
        rows, width = max(wide)
        # Ties go to the wider split (a tab file whose descriptions hold one comma
        # each), then to the order of DELIMITERS.
        score = (rows, width, -rank)
        if score > best:
            best, choice = score, delim
    return choice


# ---------------------------------------------------------------------------- headers

# Role -> normalised header names, best first. Only the first column of the best-ranked
# name is taken, so "Transaction Date" beats "Posting Date" when a bank gives both.
# fmt: off
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "date": (
        "transaction date", "trans date", "txn date", "date", "datum", "booking date",
        "buchungstag", "buchungsdatum", "transaktionsdatum", "started date",
        "posting date", "post date", "posted date", "posted on", "posted", "completed date",
        "value date", "valuta", "valutadatum", "wertstellung",
    ),
    "amount": (
        "amount", "transaction amount", "amt", "betrag", "umsatz", "buchungsbetrag",
        "amount total", "total amount",
    ),
    "debit": (
        "debit", "debits", "debit amount", "withdrawal", "withdrawals", "paid out",
        "money out", "soll", "outflow", "ausgang", "ausgaben",
    ),
    "credit": (
        "credit", "credits", "credit amount", "deposit", "deposits", "paid in", "money in",
        "haben", "inflow", "eingang", "einnahmen",
    ),
    "description": (
        "description", "transaction description", "transaction details", "details",
        "memo", "narrative", "particulars", "verwendungszweck", "umsatztext", "buchungstext",
        "beschreibung", "text", "purpose", "payment reference", "payment details",
        "remittance information", "mededelingen", "omschrijving", "note", "notes",
        "item title", "subject", "vorgang/verwendungszweck",
    ),
    "payee": (
        "payee", "name", "payee name", "merchant", "merchant name", "counterparty",
        "counterparty name", "beguenstigter/zahlungspflichtiger",
        "auftraggeber/empfaenger", "empfaenger", "zahlungsempfaenger",
        "name zahlungsbeteiligter", "beguenstigter", "zahlungspflichtiger",
        "empfaenger/zahlungspflichtiger", "zahlungspflichtiger/empfaenger",
        "auftraggeber/beguenstigter", "beguenstigter/auftraggeber", "empfaenger/auftraggeber",
        "auftraggeber", "zahlungsbeteiligter",
        "gegenpartei", "naam/omschrijving", "naam", "beneficiary", "recipient",
        "payer/payee", "payee/payer", "other party", "counter party",
    ),
    "balance": (
        "balance", "running bal", "running balance", "saldo", "kontostand", "balance after",
    ),
    "id": (
        "transaction id", "reference", "ref", "id", "fitid", "reference number", "ref no",
        "transaction reference", "referenz", "transaktions id", "kundenreferenz",
    ),
    "currency": ("currency", "ccy", "curr", "waehrung", "currency code"),
    # The holder's account, in exports covering several (Mint, YNAB, Monefy); not a
    # counterparty's account number (DKB's "Kontonummer"), which is left alone.
    "account": ("account name", "account", "auftragskonto"),
    # The two sides of a transfer (Venmo): the payee is the one that isn't the holder.
    "from": ("from",),
    "to": ("to",),
}
# fmt: on

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_HEADER_CURRENCY = re.compile(r"\s*(?:\(\s*([a-z]{3}|[€$£])\s*\)|\s+in\s+([a-z]{3}|€))\s*$")
_SYMBOL_CODES = {"€": "EUR", "£": "GBP"}  # "$" is left out: USD, CAD, AUD... all use it


def normalize_header(cell: str) -> tuple[str, str | None]:
    """('Amount (USD)' -> ('amount', 'USD')): a comparable name and a currency hint."""
    s = cell.strip().casefold().translate(_UMLAUTS)
    hint = None
    m = _HEADER_CURRENCY.search(s)
    # A code is written in capitals ("Amount (EUR)"); Venmo's "Amount (fee)" is a word.
    original = cell.strip()[m.start():] if m and len(cell.strip()) == len(s) else ""
    if m and (not (m.group(1) or m.group(2) or "").isalpha()
              or any(ch.isupper() for ch in original)):
        raw = m.group(1) or m.group(2)
        hint = _SYMBOL_CODES.get(raw, raw.upper() if raw.isalpha() else None)
        s = s[: m.start()]
    s = s.replace("(s)", "s").replace("_", " ")
    s = re.sub(r"\s*/\s*", "/", re.sub(r"[^\w/#]+", " ", s))
    return " ".join(s.split()), hint


def header_rank(role: str, name: str) -> int | None:
    """Position of `name` among the role's names (lower is better), None if no match.
    Balance and id also match names merely ending in them ("Net Cash Balance"), last."""
    names = HEADER_NAMES[role]
    if name in names:
        return names.index(name)
    # Statement-level figures repeated on every row are not a running balance.
    fixed = ("initial", "opening", "start", "beginning", "final", "closing", "ending")
    if role == "balance" and name.endswith((" balance", " saldo")) and not name.startswith(fixed):
        return len(names)
    if role == "id" and name.endswith(" transaction id"):  # Stripe's balance_transaction_id
        return len(names)
    return None


def header_roles(cells: Iterable[str]) -> set[str]:
    roles: set[str] = set()
    for cell in cells:
        name, _ = normalize_header(cell)
        roles.update(role for role in HEADER_NAMES if header_rank(role, name) is not None)
    return roles


# ------------------------------------------------------------------------------ dates

_TIME = (
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp]\.?[Mm]\.?)?"
    r"\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?"
)
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january januar jän jänner",
        "feb february februar",
        "mar march mär märz maerz mrz",
        "apr april",
        "may mai",
        "jun june juni",
        "jul july juli",
        "aug august",
        "sep sept september",
        "oct october okt oktober",
        "nov november",
        "dec december dez dezember",
    ),
    start=1,
):
    _MONTHS.update(dict.fromkeys(_names.split(), _number))

_MON = r"(?P<mon>[^\W\d_]{3,9})\.?"
# strptime-style name shown to users -> pattern. Pairs that differ only in day/month
# order are listed in AMBIGUOUS so both fitting every value is reported, not guessed.
DATE_SHAPES: dict[str, re.Pattern[str]] = {
    name: re.compile(r"\s*" + pattern + _TIME + r"\s*", re.IGNORECASE)
    for name, pattern in {
        "%Y-%m-%d": r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
        "%Y/%m/%d": r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})",
        "%Y.%m.%d": r"(?P<y>\d{4})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})",
        "%Y%m%d": r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})",
        "%m/%d/%Y": r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})",
        "%d/%m/%Y": r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})",
        "%m/%d/%y": r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{2})",
        "%d/%m/%y": r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{2})",
        "%d.%m.%Y": r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})",
        "%d.%m.%y": r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{2})",
        "%d-%m-%Y": r"(?P<d>\d{1,2})-(?P<m>\d{1,2})-(?P<y>\d{4})",
        "%m-%d-%Y": r"(?P<m>\d{1,2})-(?P<d>\d{1,2})-(?P<y>\d{4})",
        "%d %b %Y": r"(?P<d>\d{1,2})[ -]" + _MON + r",?[ -](?P<y>\d{4}|\d{2})",
        "%b %d %Y": _MON + r"[ -](?P<d>\d{1,2}),?[ -](?P<y>\d{4})",
    }.items()
}
AMBIGUOUS = (("%m/%d/%Y", "%d/%m/%Y"), ("%m/%d/%y", "%d/%m/%y"), ("%m-%d-%Y", "%d-%m-%Y"))


def parse_date_shape(value: str, shape: str) -> datetime.date | None:
    m = DATE_SHAPES[shape].fullmatch(value)
    if not m:
        return None
    parts = m.groupdict()
    month = _MONTHS.get(parts["mon"].casefold()) if parts.get("mon") else int(parts["m"])
    year = int(parts["y"])
    if len(parts["y"]) == 2:
        year += 2000 if year < 70 else 1900
    # Plausible statement years only, so 8-digit ids are not taken for YYYYMMDD dates.
    if month is None or not 1900 <= year <= 2100:
        return None
    try:
        return datetime.date(year, month, int(parts["d"]))
    except ValueError:
        return None


def parse_date_format(value: str, fmt: str) -> datetime.date | None:
    """A user-given strptime format; a trailing time part is tolerated."""
    text = value.strip()
    for candidate in (text, re.split(r"[ T]", text, maxsplit=1)[0]):
        try:
            return datetime.datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    return None


def date_shapes_of(value: str) -> set[str]:
    return {shape for shape in DATE_SHAPES if parse_date_shape(value, shape) is not None}


@dataclasses.dataclass(frozen=True)
class DateVerdict:
    """Outcome of looking at every value of a date column."""

    shape: str | None  # the chosen shape, None when no value is a date at all
    ambiguous: tuple[str, str] | None = None  # both orders fit every value
    example: str | None = None  # a value showing the ambiguity


def choose_date_shape(values: Sequence[str]) -> DateVerdict:
    """Decide one shape from ALL values. When no shape fits them all, the one fitting
    most wins and the caller reports the first value it does not fit."""
    fits = [date_shapes_of(v) for v in values]
    common = set(DATE_SHAPES).intersection(*fits) if fits else set()
    for a, b in AMBIGUOUS:
        if a in common and b in common:
            return DateVerdict(shape=a, ambiguous=(a, b), example=values[0])
    if common:
        return DateVerdict(shape=next(s for s in DATE_SHAPES if s in common))
    counts = collections.Counter(shape for f in fits for shape in f)
    if not counts:
        return DateVerdict(shape=None)
    top = max(counts.values())
    return DateVerdict(shape=next(s for s in DATE_SHAPES if counts[s] == top))


# ---------------------------------------------------------------------------- amounts

_GROUP_CHARS = "'’ \u00a0\u202f\u2009"  # never decimal marks, only digit grouping
_CORE = re.compile(r"\d(?:[\d.,'’ \u00a0\u202f\u2009]*\d)?")
_ASCII_CURRENCY = re.compile(r"[A-Z]{3}|[A-Z]{0,2}\$|Fr\.?|[Kk]r\.?|Rs\.?")
_SIGN_SUFFIX = re.compile(r"(?i)(CR|DR)\.?")


@dataclasses.dataclass(frozen=True)
class Money:
    value: Decimal
    currency: str | None  # ISO code written beside the number, if any


def number_core(text: str) -> str | None:
    """The digits-and-separators part of an amount cell, or None if it has no digits."""
    m = _CORE.search(text)
    return m.group(0) if m else None


def decimal_vote(core: str) -> str | None:
    """Which mark this number shows to be the decimal one; None if it cannot tell
    ('1,234' is 1234 in the US and 1.234 in Germany)."""
    s = "".join(ch for ch in core if ch not in _GROUP_CHARS)
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        return "." if s.rfind(".") > s.rfind(",") else ","
    if not dots and not commas:
        return None
    mark = "." if dots else ","
    if max(dots, commas) > 1:
        return "," if mark == "." else "."
    before, after = s.split(mark)
    if len(after) != 3 or len(before) > 3 or before == "0":
        return mark
    return None


def choose_decimal(cores: Iterable[str], default: str) -> str:
    votes = collections.Counter(v for v in map(decimal_vote, cores) if v)
    if votes["."] == votes[","]:
        return default
    return "." if votes["."] > votes[","] else ","


def _affix(part: str, where: str) -> tuple[int, bool, str | None]:
    """Read the text around a number: (minus signs, parenthesis seen, currency)."""
    minus, paren, cur = 0, False, []
    for ch in part:
        if ch.isspace() or ch == "+":
            continue
        if ch in "-−":
            minus += 1
        elif ch == ("(" if where == "lead" else ")"):
            paren = True
        elif ch.isalpha() or ch == "." or unicodedata.category(ch) == "Sc":
            cur.append(ch)
        else:
            raise ValueError(f"unexpected {ch!r}")
    text = "".join(cur)
    if not text:
        return minus, paren, None
    if all(ord(ch) < 128 for ch in text) and not _ASCII_CURRENCY.fullmatch(text):
        if where == "trail" and _SIGN_SUFFIX.fullmatch(text):
            return minus, paren, text[:2].upper()
        raise ValueError(f"unexpected {text!r}")
    if len(text) == 3 and text.isupper() and text.isascii():
        return minus, paren, text
    return minus, paren, _SYMBOL_CODES.get(text, "")


def _digits(core: str, decimal: str) -> str:
    """'1.234,56' with ',' -> '1234.56'; raises ValueError on malformed grouping."""
    other = "," if decimal == "." else "."
    if core.count(decimal) > 1:
        raise ValueError(f"more than one {decimal!r}")
    whole, _, frac = core.partition(decimal)
    if not frac.isdigit() and frac:
        raise ValueError("bad fraction")
    groups = re.split("[" + re.escape(other + _GROUP_CHARS) + "]", whole)
    if len(groups) > 1:
        # Western groups of three; Indian lakh grouping (1,23,456) has twos before.
        bad_head = not 1 <= len(groups[0]) <= 3
        bad_mid = any(len(g) not in (2, 3) for g in groups[1:-1])
        if bad_head or bad_mid or len(groups[-1]) != 3:
            raise ValueError(f"misplaced {other!r}")
    digits = "".join(groups)
    if not digits.isdigit():
        raise ValueError("not a number")
    return f"{digits}.{frac}" if frac else digits


def parse_money(text: str, decimal: str) -> Money | None:
    """An amount cell to a signed Decimal; None when empty. Raises ValueError."""
    s = "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()
    if not s:
        return None
    m = _CORE.search(s)
    if not m or _CORE.search(s, m.end()):
        raise ValueError("not a number")
    lead_minus, open_paren, lead_cur = _affix(s[: m.start()], "lead")
    trail_minus, close_paren, trail_cur = _affix(s[m.end() :], "trail")
    if open_paren != close_paren or lead_minus + trail_minus > 1:
        raise ValueError("unbalanced sign")
    negative = bool(lead_minus or trail_minus or open_paren)
    if trail_cur in ("CR", "DR"):
        negative = negative != (trail_cur == "DR")
        trail_cur = None
    try:
        value = Decimal(_digits(m.group(0), decimal))
    except InvalidOperation as exc:  # pragma: no cover - _digits already checked
        raise ValueError("not a number") from exc
    currency = lead_cur or trail_cur or None
    return Money(-value if negative else value, currency)


def looks_numeric(text: str) -> bool:
    for decimal in (".", ","):
        try:
            if parse_money(text, decimal) is not None:
                return True
        except ValueError:
            continue
    return False
