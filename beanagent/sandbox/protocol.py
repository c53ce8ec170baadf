"""The result channel: strict JSON, never pickle.

Whatever a child sends is untrusted. `loads_strict` rejects NaN/Infinity, keeps every
number as Decimal (no float rounding of amounts), refuses oversized input, and turns
deep nesting or absurd integers into a ProtocolError instead of a crash.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


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
