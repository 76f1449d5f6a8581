"""Injected faults: what a flaky network or a struggling QBO does to a client.

Each fault matches requests by path (a substring, or an ``fnmatch`` pattern when it holds ``*``,
``?`` or ``[``) and optionally by method, and fires ``count`` times. Kinds:

- ``error``: answer a 5xx with a QBO fault body; work not done. 500 (the default) answers the
  lowercase ``{"fault":{"error":[{"code":"3100",...InternalServerError...}]}}`` of a real outage
  (python-quickbooks issue 106); another status (503...) QBO's JSON SystemFault, code 10000.
- ``gateway``: answer a gateway's HTML page (502 unless ``status`` says 503 or 504), ``text/html``,
  as QBO's load balancers do (minimul/qbo_api issue 81, PR 102); work not done.
- ``auth``: answer 401 with the XML ``AuthenticationFault`` code 100 (intuit/oauth-jsclient issues
  91 and 135); work not done. The token stays valid: the next request succeeds.
- ``throttle``: answer 429 code 3001 ThrottleExceeded, like the real limits (same format).
- ``hang``: hold the request ``hang_seconds``, then answer 504 (the client has usually given up).
- ``drop``: close the connection without answering; the work is NOT done.
- ``lose_response``: do the work, then close the connection without answering: the reason
  ``requestid`` exists, since the client cannot tell this from ``drop``.
- ``error_after_work``: do the work, then answer a 5xx (504 unless ``status`` says otherwise), as
  a gateway that timed out while QBO finished: a client that retries a create on a 5xx without a
  ``requestid`` makes a duplicate here, as it would against QBO.
"""

from __future__ import annotations

import fnmatch
import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = (
    "error",
    "gateway",
    "auth",
    "throttle",
    "hang",
    "drop",
    "lose_response",
    "error_after_work",
)
MAX_COUNT = 1_000_000
MAX_HANG_SECONDS = 3600.0  # well past QBO's 120 s request timeout
_DEFAULT_STATUS = {
    "error": 500,
    "gateway": 502,
    "auth": 401,
    "throttle": 429,
    "hang": 504,
    "error_after_work": 504,
}


@dataclass
class FaultRule:
    path: str
    kind: str
    count: int = 1
    status: int | None = None
    method: str | None = None
    hang_seconds: float = 5.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if any(char in self.path for char in "*?["):
            return fnmatch.fnmatchcase(path, self.path)
        return self.path in path

    @property
    def answer_status(self) -> int | None:
        return self.status if self.status is not None else _DEFAULT_STATUS.get(self.kind)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_rule(
    path: str,
    kind: str,
    *,
    count: int = 1,
    status: int | None = None,
    method: str | None = None,
    hang_seconds: float = 5.0,
) -> FaultRule:
    """Validate the fields (they also arrive as JSON over the admin API) and build a rule."""
    if not isinstance(path, str) or not path:
        raise ValueError("path must be a non-empty string")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}")
    if status is not None:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if kind in ("drop", "lose_response"):
            raise ValueError(f"a {kind} fault sends no response, so it takes no status")
        if kind == "gateway" and not 500 <= status <= 599:
            raise ValueError("a gateway fault answers a 5xx status (502, 503, 504)")
        if kind == "auth" and status != 401:
            raise ValueError("an auth fault answers 401 only")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise ValueError("method must be an HTTP method such as GET or POST")
    if (
        isinstance(hang_seconds, bool)
        or not isinstance(hang_seconds, int | float)
        or not math.isfinite(hang_seconds)
        or not 0 <= hang_seconds <= MAX_HANG_SECONDS
    ):
        raise ValueError(f"hang_seconds must be a number from 0 to {MAX_HANG_SECONDS:g}")
    return FaultRule(
        path=path,
        kind=kind,
        count=count,
        status=status,
        method=method.upper() if method else None,
        hang_seconds=float(hang_seconds),
    )


class FaultPlan:
    """The pending faults, consumed in the order they were injected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first matching fault, with one of its uses consumed; None when none matches."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_dict() for rule in self._rules]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
