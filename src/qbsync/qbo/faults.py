"""QBO faults -> qbsync errors, and parsing QBO responses (JSON, lowercase ``fault``, XML).

A QBO fault names its code ("6240", "5010", "3001"...); the error classes in ``qbsync.errors``
carry it so callers decide per record. Faults come in several shapes (qbo-facts.md): ``Fault``
with ``Error`` (also inside a 200), lowercase ``fault``/``error`` on 401, and XML for throttles.
No message here is built from anything but QBO's own Message/Detail text, passed through
``redact`` in case an echo of a request ever carries a token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests

from qbsync.errors import (
    AuthError,
    QboError,
    QboStaleObjectError,
    QboThrottledError,
    QboUnavailableError,
    QboValidationError,
    QbsyncError,
)
from qbsync.redact import redact

_XML_CODE = re.compile(r'<Error[^>]*\bcode="(\d+)"')
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_XML_DETAIL = re.compile(r"<Detail>(.*?)</Detail>", re.S)


def fault_error(status: int, fault: Mapping[str, Any]) -> QbsyncError:
    """Map a QBO fault (``Fault`` or lowercase ``fault``) to a qbsync error."""
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors else {}
    message = str(first.get("Message") or first.get("message") or "QBO fault")
    detail = first.get("Detail") or first.get("detail")
    code = str(first.get("code") or "") or None
    element = first.get("element") or None
    kind = str(fault.get("type") or "")
    return _error_for(status, code, message, detail, element, kind)


def _error_for(
    status: int,
    code: str | None,
    message: str,
    detail: object,
    element: object,
    kind: str = "",
) -> QbsyncError:
    normalized = code.lstrip("0") if code else None
    text = redact(f"QBO error {code or status}: {message}" + (f" ({detail})" if detail else ""))
    if status == 401 or normalized in ("3200", "3201", "3202") or kind.upper() == "AUTHENTICATION":
        return AuthError(f"QBO refused the access token even after a refresh ({text})")
    if normalized == "3001" or status == 429:
        return QboThrottledError(text, code=code, status=status, detail=_s(detail))
    if normalized == "3100" or status == 403:
        return AuthError(
            f"QBO says this app is not authorized for the company ({text})",
            hint="run `qbsync auth` with an admin of the QBO company",
        )
    if status >= 500:
        return QboUnavailableError(text, code=code, status=status, detail=_s(detail))
    cls: type[QboError] = QboError
    if normalized == "5010":
        cls = QboStaleObjectError
    elif status == 400 or "validation" in kind.lower() or normalized in ("610", "6240"):
        cls = QboValidationError
    return cls(text, code=code, status=status, detail=_s(detail), element=_s(element))


def _s(value: object) -> str | None:
    return redact(str(value)) if value not in (None, "") else None


def parse_response(resp: requests.Response) -> dict[str, Any]:
    """JSON body of a QBO response (floats as Decimal), or the error it carries."""
    text = resp.text
    body: Any = None
    try:
        body = json.loads(text, parse_float=Decimal) if text else {}
    except ValueError:
        body = None
    if isinstance(body, dict):
        fault = body.get("Fault") or body.get("fault")
        if isinstance(fault, dict):  # a 200 can carry a Fault too
            raise fault_error(resp.status_code, fault)
        if resp.status_code == 200:
            return body
    if body is None and "<" in text:  # XML fault (throttles have come back as XML)
        code_match = _XML_CODE.search(text)
        message_match = _XML_MESSAGE.search(text)
        detail_match = _XML_DETAIL.search(text)
        raise _error_for(
            resp.status_code,
            code_match.group(1) if code_match else None,
            message_match.group(1).strip() if message_match else f"HTTP {resp.status_code}",
            detail_match.group(1).strip() if detail_match else None,
            None,
        )
    raise _error_for(
        resp.status_code, None, f"unexpected HTTP {resp.status_code} answer", None, None
    )


def batch_item_error(item: Mapping[str, Any]) -> QbsyncError | None:
    """The error an answered batch item carries, or None when it succeeded."""
    fault = item.get("Fault") or item.get("fault")
    if not isinstance(fault, Mapping):
        return None
    # A batch answers HTTP 200 for all items; an item's SystemFault is QBO's server failing on
    # it, which a single request gets as a 5xx.
    status = 500 if "system" in str(fault.get("type") or "").lower() else 400
    return fault_error(status, fault)


def from_quickbooks_exception(exc: Exception) -> QbsyncError:
    """Map an exception python-quickbooks raised (when its objects are used through ``client.qb``).

    Its messages can embed the raw response text (``detail``), so only its code, message and a
    redacted detail are kept. HTTP 401 arrives as error_code 401 (after our session already
    refreshed once); an unreadable body (an XML throttle) as code 10000 with the text in detail.
    """
    code = str(getattr(exc, "error_code", "") or "") or None
    message = str(getattr(exc, "message", "") or type(exc).__name__)
    detail = getattr(exc, "detail", None)
    if code == "401":
        return _error_for(401, None, message, None, None)
    if code == "10000":
        if "json" not in message.lower():
            # QBO's own code 10000, "An application error has occurred": its server failed.
            return QboUnavailableError(redact(f"QBO failed: {message[:200]}"), code=code)
        # python-quickbooks's "Error reading json response: <the raw body>": look for an XML
        # fault code in it.
        xml_code = _XML_CODE.search(f"{message} {detail or ''}")
        if xml_code:
            return _error_for(400, xml_code.group(1), "QBO fault (XML body)", None, None)
        return QboError(redact(f"QBO answered something unreadable ({message[:200]})"), code=code)
    return _error_for(400, code, message, detail, None)
