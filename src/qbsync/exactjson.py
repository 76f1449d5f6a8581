"""JSON text with exact money: a Decimal is written digit for digit as a JSON number.

``json.dumps`` cannot write a Decimal without going through float, and float cannot hold every
amount (``Decimal("12345678901234567.89")`` would lose cents). qbsync (what it sends to QBO) and the
emulator (what it answers) both write JSON through this module; both read it back with
``json.loads(text, parse_float=Decimal)``. Standard library only, like the emulator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """JSON text; Decimals exact; ``default`` converts other non-JSON values (else TypeError)."""
    parts: list[str] = []
    _encode(value, parts, default)
    return "".join(parts)


def _encode(value: Any, out: list[str], default: Callable[[Any], Any] | None) -> None:
    if isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out, default)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out, default)
        out.append("]")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as a JSON number")
        out.append(str(value))  # "25.00", "-0.5", "1E+2": all valid JSON numbers
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot write {value} as a JSON number")
    elif value is None or isinstance(value, str | int | float | bool):
        out.append(json.dumps(value, ensure_ascii=False))
    elif default is not None:
        _encode(default(value), out, default)
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
