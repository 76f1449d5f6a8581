"""Routing: Intuit's OAuth endpoints, the QBO API (auth, realm, limits, faults), the request log.

Order for an API request: bearer token (401) -> realm and scope (403) -> rate limits (429) ->
injected fault -> ``api.handle_api``. A fault therefore fires only on a request QBO would have
accepted, and a ``hang`` keeps its concurrency slot while it hangs, as a slow request does.
Faults on the OAuth paths fire before the endpoint runs (``lose_response`` and
``error_after_work`` after it).
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from qbsync.emulator import admin
from qbsync.emulator.api import handle_api
from qbsync.emulator.clock import epoch_millis, qbo_time
from qbsync.emulator.faults import FaultRule
from qbsync.emulator.oauth import ACCOUNTING_SCOPE, HARD_EXPIRY_HEADER, KNOWN_SCOPES
from qbsync.emulator.store import Fault
from qbsync.emulator.wire import (
    HTML_TYPE,
    XML_TYPE,
    Request,
    Response,
    auth_fault,
    auth_fault_xml,
    forbidden_fault,
    gateway_html,
    internal_error_fault,
    not_acceptable_xml,
    server_fault,
    throttle_json,
    throttle_xml,
)

if TYPE_CHECKING:
    from qbsync.emulator.server import Emulator

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/v2/oauth2/tokens/revoke"
DISCOVERY_PATH = "/.well-known/openid_configuration"
API_PREFIX = "/v3/company/"
ADMIN_PREFIX = "/_emulator/"
# Secrets never belong in a query string, but a buggy client may put them there: the request
# log (readable over the admin API) must not keep them.
_SECRET_PARAMS = frozenset({"client_secret", "code", "access_token", "refresh_token", "token"})


class RequestLog:
    """Every non-admin request: method, path, template, params (minorversion, requestid...), status.

    ``status`` is None while the request runs and when no response was sent (``drop``);
    ``delivered`` is False when the emulator did the work but did not send the answer.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._counts: Counter[str] = Counter()
        self._seq = 0

    def start(self, request: Request, template: str, time: str) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry: dict[str, Any] = {
                "seq": self._seq,
                "time": time,
                "method": request.method,
                "path": request.path,
                "template": template,
                "params": {
                    name: "***" if name in _SECRET_PARAMS else value
                    for name, value in request.params.items()
                },
                "status": None,
                "delivered": False,
                "fault": None,
                "throttled": None,
            }
            self._entries.append(entry)
            self._counts[template] += 1
            return entry

    def finish(self, entry: dict[str, Any], status: int | None, *, delivered: bool) -> None:
        with self._lock:
            entry["status"] = status
            entry["delivered"] = delivered

    def entries(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first; ``path`` narrows them like a fault's path (a
        substring, or an fnmatch pattern when it holds ``*``, ``?`` or ``[``), ``method`` too."""
        with self._lock:
            return [
                dict(entry, params=dict(entry["params"]))
                for entry in self._entries
                if _matches(entry, path, method)
            ]

    def counts(self, path: str | None = None, method: str | None = None) -> dict[str, int]:
        """Requests per template; with a filter, counted over the kept entries."""
        with self._lock:
            if path is None and method is None:
                return dict(self._counts)
            found: Counter[str] = Counter(
                e["template"] for e in self._entries if _matches(e, path, method)
            )
            return dict(found)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()


def _matches(entry: dict[str, Any], path: str | None, method: str | None) -> bool:
    if method is not None and entry["method"] != method.upper():
        return False
    if path is None:
        return True
    if any(char in path for char in "*?["):
        return fnmatch.fnmatchcase(entry["path"], path)
    return path in entry["path"]


def template_for(method: str, path: str) -> str:
    """ "GET /v3/company/{realmId}/customer/{id}": one key per endpoint for request counts."""
    if path.startswith(API_PREFIX):
        segments = path[len(API_PREFIX) :].split("/")[1:]
        rest = "".join("/" + ("{id}" if seg.isdigit() else seg) for seg in segments)
        return f"{method} {API_PREFIX}{{realmId}}{rest}"
    return f"{method} {path}"


def handle(emu: Emulator, request: Request) -> Response | None:
    """The response to send, or None to close the connection without one."""
    try:
        return _handle(emu, request)
    finally:
        # serve --data: anything but a GET may change state (the authorize GET makes a code);
        # DataFile.save skips the write when nothing changed.
        if emu.data is not None and (request.method != "GET" or request.path == AUTHORIZE_PATH):
            emu.save()


def _handle(emu: Emulator, request: Request) -> Response | None:
    if request.path.startswith(ADMIN_PREFIX) or request.path == ADMIN_PREFIX.rstrip("/"):
        return admin.handle(emu, request)
    now = emu.clock.now()
    entry = emu.request_log.start(
        request, template_for(request.method, request.path), qbo_time(now)
    )
    if request.path.startswith(API_PREFIX):
        return _api(emu, request, entry)
    fault = emu.faults.take(request.method, request.path)
    return _run(emu, fault, entry, lambda: _oauth_route(emu, request))


def _run(
    emu: Emulator, fault: FaultRule | None, entry: dict[str, Any], work: Callable[[], Response]
) -> Response | None:
    if fault is not None:
        entry["fault"] = fault.kind
    response: Response | None
    if fault is None:
        response = work()
    elif fault.kind == "lose_response":
        done = work()
        emu.request_log.finish(entry, done.status, delivered=False)
        return None
    elif fault.kind == "error_after_work":
        work()  # done, and its answer replaced by a gateway error
        response = error_response(emu, fault.answer_status or 504)
    elif fault.kind == "drop":
        response = None
    elif fault.kind == "hang":
        # Interrupted when the emulator stops, so stop() never waits for a hung request.
        if emu.stopping.wait(fault.hang_seconds):
            response = None
        else:
            response = error_response(emu, fault.answer_status or 504)
    elif fault.kind == "throttle":
        response = throttle_response(emu, fault.answer_status or 429)
    elif fault.kind == "gateway":
        status = fault.answer_status or 502
        response = Response(status, gateway_html(status), HTML_TYPE)
    elif fault.kind == "auth":
        response = Response(401, auth_fault_xml(emu.company.time_str()), XML_TYPE)
    else:
        response = error_response(emu, fault.answer_status or 500)
    emu.request_log.finish(entry, response.status if response else None, delivered=bool(response))
    return response


def error_response(emu: Emulator, status: int) -> Response:
    """An injected ``error``: a 500 as QBO answered during a real outage (wire.internal_error_fault),
    anything else as QBO's JSON SystemFault."""
    if status == 500:
        return Response.json(500, internal_error_fault(epoch_millis(emu.clock.now())))
    return Response.json(status, server_fault(status, emu.company.time_str()))


def throttle_response(emu: Emulator, status: int = 429) -> Response:
    time = emu.company.time_str()
    if emu.throttle_format == "xml":
        return Response(status, throttle_xml(time, status), XML_TYPE)
    return Response.json(status, throttle_json(time, status))


def _api(emu: Emulator, request: Request, entry: dict[str, Any]) -> Response | None:
    realm, _, subpath = request.path[len(API_PREFIX) :].partition("/")
    millis = epoch_millis(emu.clock.now())
    check = emu.oauth.check_access(request.headers.get("Authorization"))
    response: Response | None = None
    if check.reason != "ok" or check.grant is None:
        challenge = 'Bearer realm="Intuit", error="invalid_token"'
        response = Response.json(
            401, auth_fault(check.reason, millis), {"WWW-Authenticate": challenge}
        )
    elif check.grant.realm_id != realm or realm != emu.realm_id:
        detail = "The access token was issued for another company (realmId)"
        response = Response.json(403, forbidden_fault(detail, millis))
    elif ACCOUNTING_SCOPE not in check.grant.scopes:
        detail = "The access token does not have sufficient scope"
        response = Response.json(403, forbidden_fault(detail, millis))
    if response is not None:
        emu.request_log.finish(entry, response.status, delivered=True)
        return response
    slot = emu.limiter.acquire(realm, batch=subpath.rstrip("/") == "batch")
    if isinstance(slot, str):
        entry["throttled"] = slot
        response = throttle_response(emu)
        emu.request_log.finish(entry, response.status, delivered=True)
        return response
    with slot:
        fault = emu.faults.take(request.method, request.path)
        return _run(emu, fault, entry, lambda: _call_api(emu, request, subpath))


# POST bodies QBO consumes: JSON, and the text of a query (python-quickbooks sends
# "application/text", as Intuit's query page says; "text/plain" is accepted too). Anything else
# QBO refuses with 500 "Operation Cannot consume content type is not supported." (captured in
# gomodule/oauth1 issue 25, 2017, for an Item create; the HTTP status there is unrecorded: 400 here).
_QUERY_TYPES = ("application/text", "text/plain")


def _content_type_fault(request: Request, subpath: str) -> Fault | None:
    if request.method != "POST":
        return None
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    is_query = subpath.strip("/").lower() == "query"
    if is_query and not request.body.strip():
        return None  # POST query?query=... carries no body
    if subpath.strip("/").endswith("/send") and (
        content_type == "application/octet-stream" or not request.body
    ):
        return None  # invoice/<id>/send: Intuit's reference sends application/octet-stream
    if content_type in (_QUERY_TYPES if is_query else ("application/json",)):
        return None
    return Fault(
        "500",
        "Unsupported Operation",
        "Operation Cannot consume content type is not supported.",
    )


def _call_api(emu: Emulator, request: Request, subpath: str) -> Response:
    if "application/json" not in (request.headers.get("Accept") or "").lower():
        return Response(406, not_acceptable_xml(emu.company.time_str()), XML_TYPE)
    refused = _content_type_fault(request, subpath)
    if refused is not None:
        return Response.json(refused.status, refused.body(emu.company.time_str()))
    try:
        result = handle_api(emu.company, request.method, subpath, request.params, request.body)
    except Fault as fault:
        return Response.json(fault.status, fault.body(emu.company.time_str()))
    return Response.json(result.status, result.body)


# -- OAuth endpoints -----------------------------------------------------------------------------


def _oauth_route(emu: Emulator, request: Request) -> Response:
    routes: dict[str, tuple[str, Callable[[Emulator, Request], Response]]] = {
        AUTHORIZE_PATH: ("GET", _authorize),
        TOKEN_PATH: ("POST", _token),
        REVOKE_PATH: ("POST", _revoke),
        DISCOVERY_PATH: ("GET", _discovery),
    }
    route = routes.get(request.path)
    if route is None:
        return Response.json(404, {"error": "not_found", "path": request.path})
    method, endpoint = route
    if request.method != method:
        return Response.json(405, {"error": "method_not_allowed"}, {"Allow": method})
    return endpoint(emu, request)


def _authorize(emu: Emulator, request: Request) -> Response:
    outcome = emu.oauth.authorize(request.params, request.repeated)
    if outcome.location is not None:
        return Response(302, b"", None, {"Location": outcome.location, "Cache-Control": "no-store"})
    page = (
        "<!doctype html><title>Authorization error</title>"
        f"<h1>Authorization error</h1><p>{outcome.message}</p>"
    )
    return Response(outcome.status, page.encode(), "text/html;charset=UTF-8")


def _token(emu: Emulator, request: Request) -> Response:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return Response.json(400, {"error": "invalid_request", "error_description": "send a form"})
    try:
        pairs = _parse_form(request.body)
    except ValueError:
        return Response.json(400, {"error": "invalid_request"})
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):  # RFC 6749 3.2: parameters must not repeat
        return Response.json(
            400, {"error": "invalid_request", "error_description": "repeated parameter"}
        )
    include_hard = (request.headers.get(HARD_EXPIRY_HEADER) or "").strip().lower() == "true"
    reply = emu.oauth.token(
        dict(pairs), request.headers.get("Authorization"), include_hard=include_hard
    )
    return Response.json(reply.status, reply.body, reply.headers)


def _parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))


def _revoke(emu: Emulator, request: Request) -> Response:
    try:
        payload = json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = None
    token = payload.get("token") if isinstance(payload, dict) else None
    reply = emu.oauth.revoke(
        token if isinstance(token, str) else None, request.headers.get("Authorization")
    )
    if reply.body is None:
        return Response(reply.status, b"", None, reply.headers)
    return Response.json(reply.status, reply.body, reply.headers)


def _discovery(emu: Emulator, request: Request) -> Response:
    base = emu.base_url
    return Response.json(
        200,
        {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": sorted(KNOWN_SCOPES),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        },
    )
