"""QBO faults -> qbsync errors, and parsing QBO responses (JSON, lowercase ``fault``, XML, HTML).

A QBO fault names its code ("6240", "5010", "3001"...); the error classes in ``qbsync.errors``
carry it so callers decide per record. Faults come in several shapes (qbo-facts.md): ``Fault``
with ``Error`` (also inside a 200), lowercase ``fault``/``error`` on 401 and on outages, XML for
throttles and for 401 ``AuthenticationFault`` code 100, and HTML pages from Intuit's load
balancer on 502/503. The HTTP status decides first, QBO's code second: during an outage QBO
answers HTTP 500 with code 3100 ("InternalServerError"), the same code it uses for a 403
"AuthorizationFailed" (python-quickbooks #106 carries the 500 body), so a code alone would send
the operator to `qbsync auth` while Intuit is down.
No message here is built from anything but QBO's own Message/Detail text, passed through
``redact`` in case an echo of a request ever carries a token. Every error raised from a response
carries Intuit's transaction id (``intuit_tid``), which Intuit's support asks for.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests

from qbsync.errors import (
    TID_LABEL,
    AuthError,
    QboError,
    QboStaleObjectError,
    QboThrottledError,
    QboUnavailableError,
    QboValidationError,
    QbsyncError,
)
from qbsync.redact import redact

log = logging.getLogger(__name__)

_XML_CODE = re.compile(r'<Error[^>]*\bcode="(\d+)"')
_XML_TYPE = re.compile(r'<Fault[^>]*\btype="([^"]*)"')
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)
_XML_DETAIL = re.compile(r"<Detail>(.*?)</Detail>", re.S)
_HTML_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)
# QBO writes the status it meant into its messages ("message=InternalServerError;
# errorCode=003100; statusCode=500"): what a fault inside a 200, or a batch item, has instead.
_STATUS_IN_MESSAGE = re.compile(r"\bstatusCode\s*[=:]\s*(\d{3})\b")
# QBO sends the transaction id as the response header `intuit_tid` (seen on a 503 page in
# minimul/qbo_api #81); Intuit's Java and .NET SDKs expose it (QuickBooks-V3-Java-SDK #149,
# QuickBooks-V3-DotNET-SDK #378); python-quickbooks 0.9.12 never reads it. requests' headers
# are case-insensitive, so these two names cover `intuit_tid`, `Intuit-Tid` and their cases.
_TID_HEADERS = ("intuit_tid", "intuit-tid")
_TID = re.compile(r"[A-Za-z0-9._-]{1,100}")  # what is let into messages, logs and the state


def intuit_tid(resp: requests.Response | None) -> str | None:
    """Intuit's transaction id of a response (header ``intuit_tid`` or ``Intuit-Tid``), if any."""
    if resp is None:
        return None
    for name in _TID_HEADERS:
        value = (resp.headers.get(name) or "").strip()
        if _TID.fullmatch(value):
            return value
    return None


def with_tid(error: QbsyncError, tid: str | None) -> QbsyncError:
    """The error, carrying Intuit's transaction id (attribute and message), once."""
    if tid and error.intuit_tid is None:
        error.intuit_tid = tid
        if TID_LABEL not in error.message:
            error.message = f"{error.message} ({TID_LABEL} {tid})"
            error.args = (error.message,)
    return error


def fault_error(status: int, fault: Mapping[str, Any]) -> QbsyncError:
    """Map a QBO fault (``Fault`` or lowercase ``fault``) to a qbsync error.

    ``status`` is the HTTP status; when it is not an error (a fault inside a 200), the
    ``statusCode=`` QBO wrote into the message stands in for it.
    """
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors else {}
    message = str(first.get("Message") or first.get("message") or "QBO fault")
    detail = first.get("Detail") or first.get("detail")
    code = str(first.get("code") or "") or None
    element = first.get("element") or None
    kind = str(fault.get("type") or "")
    if status < 400:
        status = _status_in(message) or status
    return _error_for(status, code, message, detail, element, kind)


def _status_in(message: str) -> int | None:
    found = _STATUS_IN_MESSAGE.search(message)
    return int(found.group(1)) if found else None


def _error_for(
    status: int,
    code: str | None,
    message: str,
    detail: object,
    element: object,
    kind: str = "",
) -> QbsyncError:
    """Status first, code second: a 5xx is QBO failing whatever code it names (an outage
    answers 500 with code 3100, which on a 403 means "not authorized")."""
    normalized = code.lstrip("0") if code else None
    text = redact(f"QBO error {code or status}: {message}" + (f" ({detail})" if detail else ""))
    if status >= 500:
        return QboUnavailableError(text, code=code, status=status, detail=_s(detail))
    # JSON says "AUTHENTICATION", XML "AuthenticationFault" (401, code 100: python-quickbooks #120)
    authentication = kind.upper().startswith("AUTHENTICATION")
    if status == 401 or normalized in ("3200", "3201", "3202") or authentication:
        return AuthError(f"QBO refused the access token even after a refresh ({text})")
    if normalized == "3001" or status == 429:
        return QboThrottledError(text, code=code, status=status, detail=_s(detail))
    if normalized == "3100" or status == 403:
        return AuthError(
            f"QBO says this app is not authorized for the company ({text})",
            hint="run `qbsync auth` with an admin of the QBO company",
        )
    cls: type[QboError] = QboError
    if normalized == "5010":
        cls = QboStaleObjectError
    elif status == 400 or "validation" in kind.lower() or normalized in ("610", "6240"):
        cls = QboValidationError
    return cls(text, code=code, status=status, detail=_s(detail), element=_s(element))


def _s(value: object) -> str | None:
    return redact(str(value)) if value not in (None, "") else None


def parse_response(resp: requests.Response) -> dict[str, Any]:
    """JSON body of a QBO response (floats as Decimal), or the error it carries (with Intuit's
    transaction id, also written to the log: Intuit's support asks for it)."""
    try:
        return _parsed(resp)
    except QbsyncError as exc:
        error = with_tid(exc, intuit_tid(resp))
        log.info("QBO answered HTTP %s: %s", resp.status_code, error.message)
        raise error from None


def _parsed(resp: requests.Response) -> dict[str, Any]:
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
    if body is None and "<Fault" in text:  # XML fault: throttles, 401 AuthenticationFault
        code_match = _XML_CODE.search(text)
        type_match = _XML_TYPE.search(text)
        message_match = _XML_MESSAGE.search(text)
        detail_match = _XML_DETAIL.search(text)
        message = message_match.group(1).strip() if message_match else f"HTTP {resp.status_code}"
        status = resp.status_code
        if status < 400:
            status = _status_in(message) or status
        raise _error_for(
            status,
            code_match.group(1) if code_match else None,
            message,
            detail_match.group(1).strip() if detail_match else None,
            None,
            type_match.group(1) if type_match else "",
        )
    if body is None and "<" in text:  # an HTML page (Intuit's load balancer on 502/503)
        title = _HTML_TITLE.search(text)
        shown = " ".join(title.group(1).split())[:100] if title else "not an API answer"
        raise _error_for(resp.status_code, None, f"HTTP {resp.status_code} ({shown})", None, None)
    raise _error_for(
        resp.status_code, None, f"unexpected HTTP {resp.status_code} answer", None, None
    )


def batch_item_error(item: Mapping[str, Any]) -> QbsyncError | None:
    """The error an answered batch item carries, or None when it succeeded."""
    fault = item.get("Fault") or item.get("fault")
    if not isinstance(fault, Mapping):
        return None
    # A batch answers HTTP 200 for all items: an item's status is the statusCode= in its
    # message, else 5xx for a SystemFault (QBO's server failing on it), else 400.
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = (
        errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else {}
    )
    status = _status_in(str(first.get("Message") or first.get("message") or ""))
    if status is None or status < 400:
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
