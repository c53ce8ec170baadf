"""Bank descriptions are noisy; compare them with past payees only after normalising."""

from __future__ import annotations

import functools
import re

# Processor prefixes and channel words that say nothing about the counterparty.
_PREFIXES = re.compile(
    r"^(?:sq\s*\*|tst\s*\*|sp\s*\*|pp\s*\*|paypal\s*\*|pos\s+|checkcard\s+\d{4}\s+|"
    r"purchase\s+(?:authorized\s+on\s+\d\d/\d\d\s+)?|debit\s+card\s+purchase\s+|"
    r"card\s+\d{4}\s+|ach\s+(?:debit|credit)\s+)+",
    re.IGNORECASE,
)
# Bank of America style ACH tails: "DES:PAYROLL ID:XXXX INDN:DOE,JANE CO ID:XXX PPD".
_ACH_TAIL = re.compile(r"\s+(?:des|id|indn|co id|ppd|ccd|web):.*$", re.IGNORECASE)
_NOISE = re.compile(
    r"#\s*\d+|\b\d{3,}\b|\b[a-z]*\d[a-z\d]*\b|\b(?:x{2,}\d*)\b|[^\w\s&']", re.IGNORECASE
)
_STOP = frozenset({"inc", "llc", "ltd", "co", "com", "www", "the", "usa", "us", "ny", "ca",
                   "corp", "mkt", "mktp", "mktpl", "store", "pos", "purchase", "payment",
                   "des", "id", "ppd", "web", "online"})


@functools.lru_cache(maxsize=4096)  # a ledger's payees and narrations repeat, month after month
def normalize(text: str) -> str:
    """'SQ *BLUE BOTTLE COFFEE #123 OAKLAND' -> 'blue bottle coffee oakland'."""
    text = _PREFIXES.sub("", text.strip())
    text = _ACH_TAIL.sub("", text)
    text = _NOISE.sub(" ", text.lower())
    words = [w for w in text.split() if w not in _STOP and len(w) > 1]
    return " ".join(words)


def trigrams(text: str) -> frozenset[str]:
    s = f"  {text} "
    return frozenset(s[i : i + 3] for i in range(len(s) - 2))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice coefficient of trigram sets: robust to 'WHOLEFDS MKT' vs 'Whole Foods Market'."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))
