"""Token usage, added up over a run, and an estimated cost.

The cost is an estimate: list prices per million tokens as Anthropic published them for
these models (base input, 5-minute cache writes, cache reads, output), without batch
discounts, long-context surcharges or negotiated rates. A model not in the table (a newer
one, a local one, any OpenAI-compatible server) has no price: its cost is `None`, never a
guess. Check your provider's bill for what you actually paid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
                "cache_creation_input_tokens")

# model id prefix -> USD per million tokens: (input, cache write, cache read, output).
# The longest matching prefix wins, so dated ids ("claude-sonnet-4-5-20250929") and
# aliases ("claude-sonnet-4-5") find the same row.
PRICES: dict[str, tuple[str, str, str, str]] = {
    "claude-opus-4-7": ("5", "6.25", "0.50", "25"),
    "claude-opus-4-6": ("5", "6.25", "0.50", "25"),
    "claude-opus-4-5": ("5", "6.25", "0.50", "25"),
    "claude-opus-4-1": ("15", "18.75", "1.50", "75"),
    "claude-opus-4-0": ("15", "18.75", "1.50", "75"),
    "claude-opus-4-2025": ("15", "18.75", "1.50", "75"),  # claude-opus-4-20250514
    "claude-sonnet-4-6": ("3", "3.75", "0.30", "15"),
    "claude-sonnet-4-5": ("3", "3.75", "0.30", "15"),
    "claude-sonnet-4-0": ("3", "3.75", "0.30", "15"),
    "claude-sonnet-4-2025": ("3", "3.75", "0.30", "15"),  # claude-sonnet-4-20250514
    "claude-3-7-sonnet": ("3", "3.75", "0.30", "15"),
    "claude-haiku-4-5": ("1", "1.25", "0.10", "5"),
    "claude-3-5-haiku": ("0.80", "1", "0.08", "4"),
    "claude-3-haiku": ("0.25", "0.30", "0.03", "1.25"),
}


def new_usage() -> dict[str, Any]:
    return {**dict.fromkeys(TOKEN_FIELDS, 0), "cost_usd": None}


def total_tokens(usage: dict[str, Any]) -> int:
    """Every token the model read or wrote (cached or not): what the token bound counts."""
    return sum(int(usage.get(f) or 0) for f in TOKEN_FIELDS)


def price_of(model: str) -> tuple[Decimal, ...] | None:
    best = max((p for p in PRICES if model.startswith(p)), key=len, default=None)
    return None if best is None else tuple(Decimal(x) for x in PRICES[best])


def estimate_cost(model: str, usage: dict[str, Any]) -> Decimal | None:
    """USD, rounded to 1/10,000 of a dollar; None when the model's price is unknown."""
    price = price_of(model)
    if price is None:
        return None
    counts = [int(usage.get(f) or 0) for f in ("input_tokens", "cache_creation_input_tokens",
                                                "cache_read_input_tokens", "output_tokens")]
    total = sum((Decimal(n) * p for n, p in zip(counts, price, strict=True)), Decimal(0))
    return (total / Decimal(1_000_000)).quantize(Decimal("0.0001"))


def add_usage(usage: dict[str, Any], reply: dict[str, int], model: str) -> None:
    for field in TOKEN_FIELDS:
        usage[field] = int(usage.get(field) or 0) + int(reply.get(field) or 0)
    usage["cost_usd"] = estimate_cost(model, usage)
