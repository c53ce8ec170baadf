"""The result channel: strict JSON, never pickle.

Whatever a child sends is untrusted. `loads_strict` rejects NaN/Infinity, keeps every
number as Decimal (no float rounding of amounts), refuses oversized input, and turns
deep nesting or absurd integers into a ProtocolError instead of a crash.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# Both sides of the server's pipe hold to these (the host without importing the server).
OUTPUT_KEEP = 64 * 1024  # characters of a step's output that go back to the caller, at most
OUTPUT_HEAD = 16 * 1024  # of which the first ones; the rest from the end, a marker between
RESULT_CAP = 16 * 1024 * 1024  # bytes of a step's result


class ProtocolError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"non-finite number {name} in result")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ProtocolError(f"duplicate key {key!r} in result")
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 30:
        raise ProtocolError("integer too large in result")
    return int(text)


def loads_strict(text: str | bytes, max_bytes: int) -> Any:
    if len(text) > max_bytes:
        raise ProtocolError(f"result larger than {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("result is not UTF-8") from None
    try:
        return json.loads(text, parse_float=Decimal, parse_int=_int,
                          parse_constant=_reject_constant, object_pairs_hook=_pairs)
    except RecursionError:
        raise ProtocolError("result nested too deeply") from None
    except ProtocolError:
        raise
    except ValueError as exc:
        raise ProtocolError(f"result is not valid JSON: {exc}") from None


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)



# --- a script's printed output, cut in the middle -------------------------------------------
#
# Headers come first and errors and results last, so a long output keeps its head and its
# tail with one marker between them saying how much of the whole output was cut. The
# server cuts what it relays; the loop cuts again for the model, and its marker counts
# every character cut along the way (the server's marker sits right after OUTPUT_HEAD
# characters, and only when it cut something).


def cut_marker(cut: int) -> str:
    return f"\n… {cut:,} characters cut …\n"


def cut_of(text: str, at: int) -> tuple[int, int] | None:
    """(end, characters cut) of a marker that starts exactly at `at`."""
    prefix, suffix = "\n… ", " characters cut …\n"
    if text[at:at + len(prefix)] != prefix:
        return None
    end = text.find(suffix, at, at + len(prefix) + 30)
    digits = text[at + len(prefix):end].replace(",", "") if end > 0 else ""
    if not digits.isdigit():
        return None
    return end + len(suffix), int(digits)


def clip_middle(text: str, head: int, tail: int, marked_at: int | None = None) -> str:
    """`text` cut to `head` characters, the marker, and its last `tail` characters.
    `marked_at`: where the server put its marker if it cut (its count is added to ours)."""
    cut = 0
    found = cut_of(text, marked_at) if marked_at is not None else None
    if found is not None and marked_at is not None:
        end, cut = found
        text = text[:marked_at] + text[end:]
    if len(text) <= head + tail:
        if not cut or marked_at is None:
            return text
        return text[:marked_at] + cut_marker(cut) + text[marked_at:]
    cut += len(text) - head - tail
    return text[:head] + cut_marker(cut) + text[len(text) - tail:]
