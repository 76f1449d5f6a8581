"""Bytes on the wire: JSON with exact Decimals, and the canned bodies QBO sends for auth and throttle.

Bodies follow captured traffic (qbo-facts.md "Errors" and "Captured shapes"):
- 401: lowercase ``{"fault":{"error":[...],"type":"AUTHENTICATION"}}`` with code 3200 (python-quickbooks
  issue 250 shows one: ``message=AuthenticationFailed; errorCode=003200; statusCode=401``).
- 403: lowercase, code 3100 ``AuthorizationFailed``, type ``SERVICE`` (oauth-jsclient issue 2).
  Both carry ``time`` as epoch milliseconds, as in those captures.
- 429: the captured XML ``<Fault type="SERVICE"><Error code="3001">`` (the default: every captured
  throttle is XML) or ``{"Fault":{"Error":[{... "code":"3001"}],"type":"SERVICE"}}``.
- Injected faults: a 500 answers the lowercase 3100 InternalServerError body captured in
  python-quickbooks issue 106 (2018), field for field; 502/503 gateway pages are HTML (minimul/qbo_api
  issue 81: ``text/html`` from nginx; PR 102: "502 errors straight from NGINX"); the XML 401
  ``AuthenticationFault`` code 100 is the one captured in intuit/oauth-jsclient issues 91 and 135
  and python-quickbooks issue 120.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qbsync.exactjson import dumps

__all__ = ["dumps", "json_bytes"]

JSON_TYPE = "application/json;charset=UTF-8"
XML_TYPE = "application/xml;charset=UTF-8"
HTML_TYPE = "text/html"  # as the captured nginx pages said (no charset)


def throttle_message(status: int = 429) -> str:
    """The message names the HTTP status it came with: 429 now, 403 in a 2016 capture
    (qbo-facts.md "Captured shapes"), so a throttle fault injected with status 403 says so."""
    return f"message=ThrottleExceeded; errorCode=003001; statusCode={status}"


THROTTLE_DETAIL = "The request limit was reached.  Try again later"
AUTH_DETAILS = {
    "missing": "Authorization header is missing: send 'Authorization: Bearer <access token>'",
    "malformed": "Malformed bearer token: the Authorization header is not 'Bearer <token>'",
    "unknown": "Token invalid: the access token is not known to this server",
    "expired": "Token expired: the access token is past its expires_in; refresh it",
    "revoked": "Token revoked: the grant was revoked or its authorization code reused",
}


def json_bytes(value: Any) -> bytes:
    return dumps(value).encode("utf-8")


def auth_fault(reason: str, time_ms: int) -> dict[str, Any]:
    return {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": AUTH_DETAILS.get(reason, AUTH_DETAILS["unknown"]),
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": time_ms,
    }


def forbidden_fault(detail: str, time_ms: int) -> dict[str, Any]:
    return {
        "fault": {
            "error": [
                {
                    "message": "message=AuthorizationFailed; errorCode=003100; statusCode=403",
                    "detail": detail,
                    "code": "3100",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        },
        "time": time_ms,
    }


def throttle_json(time: str, status: int = 429) -> dict[str, Any]:
    return {
        "Fault": {
            "Error": [
                {"Message": throttle_message(status), "Detail": THROTTLE_DETAIL, "code": "3001"}
            ],
            "type": "SERVICE",
        },
        "time": time,
    }


def throttle_xml(time: str, status: int = 429) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
        f'<Fault type="SERVICE"><Error code="3001"><Message>{throttle_message(status)}</Message>'
        f"<Detail>{THROTTLE_DETAIL}</Detail></Error></Fault></IntuitResponse>"
    ).encode()


def not_acceptable_xml(time: str) -> bytes:
    """The emulator's answer to an API request that does not ask for JSON.

    QBO answers XML unless the request says ``Accept: application/json`` (oauth-jsclient issue 135:
    a misspelt "Accepts" header got XML back). The emulator speaks JSON only, so it refuses such a
    request loudly (406, in XML so a JSON parser fails as it would on QBO's answer) instead of
    letting the bug through. Code 406 is the emulator's own, not a QBO code.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
        '<Fault type="ValidationFault"><Error code="406"><Message>Not Acceptable</Message>'
        "<Detail>QBO answers XML unless the request sends Accept: application/json; "
        "the emulator answers JSON only</Detail></Error></Fault></IntuitResponse>"
    ).encode()


def internal_error_fault(time_ms: int) -> dict[str, Any]:
    """HTTP 500 during a QBO outage, as python-quickbooks issue 106 printed it (every field, the
    nulls and empty lists included; ``time`` in epoch milliseconds). Lowercase ``fault``/``error``,
    code 3100 like the 403 AuthorizationFailed: a client must look at the status first."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=InternalServerError; errorCode=003100; statusCode=500",
                    "detail": None,
                    "code": "3100",
                    "element": None,
                }
            ],
            "type": "SERVICE",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": time_ms,
        "status": None,
        "cdcresponse": [],
    }


_GATEWAY_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def gateway_html(status: int) -> bytes:
    """The page a gateway in front of QBO answers: nginx's default error page, as captured for a
    503 in minimul/qbo_api issue 81 (2018; its footer named the load balancer, "Avi Vantage/")."""
    title = _GATEWAY_TITLES.get(status, f"{status} Error")
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n"
        f'<body bgcolor="white">\r\n<center><h1>{title}</h1></center>\r\n'
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def auth_fault_xml(time: str) -> bytes:
    """HTTP 401 in XML, as captured (oauth-jsclient issues 91 and 135, python-quickbooks 120)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}">'
        '<Fault type="AuthenticationFault"><Error code="100">'
        "<Message>General Authentication Error</Message>"
        "<Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401"
        "</Detail></Error></Fault></IntuitResponse>"
    ).encode()


def server_fault(status: int, time: str) -> dict[str, Any]:
    """What an injected 5xx other than 500 answers in JSON: QBO's generic system fault (code
    10000), as QBO's own servers send it (grue/django-quickbooks-online issue 12)."""
    detail = (
        "Service Unavailable"
        if status == 503
        else "System Failure Error: An unexpected error occurred"
    )
    return {
        "Fault": {
            "Error": [
                {
                    "Message": "An application error has occurred while processing your request",
                    "Detail": detail,
                    "code": "10000",
                }
            ],
            "type": "SystemFault",
        },
        "time": time,
    }


@dataclass
class Response:
    """What the handler writes: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json_bytes(value), JSON_TYPE, dict(headers or {}))


@dataclass
class Request:
    """One parsed HTTP request, as routes and admin endpoints see it."""

    method: str
    path: str
    params: dict[str, str]
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes
    repeated: frozenset[str] = frozenset()  # query parameters given more than once
