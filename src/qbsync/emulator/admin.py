"""The admin API under ``/_emulator/``: what tests and users' CI use to steer the emulator.

No bearer token: it is meant for loopback only. It can mint tokens and rewrite the company, so an
emulator must never be reachable from another machine (``qbsync emulator serve`` refuses
non-loopback hosts unless ``--allow-remote``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qbsync.emulator import accountant
from qbsync.emulator.clock import qbo_time
from qbsync.emulator.faults import make_rule
from qbsync.emulator.oauth import OAuthClient
from qbsync.emulator.wire import Request, Response

if TYPE_CHECKING:
    from qbsync.emulator.server import Emulator

PREFIX = "/_emulator/"


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: accepting them left a NaN fault that broke GET /faults.
    raise ValueError(f"{name} is not a JSON number")


def _object(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        value = json.loads(request.body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AdminError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise AdminError(400, "the body must be a JSON object")
    return value


def _health(emu: Emulator, request: Request) -> Response:
    return Response.json(
        200,
        {
            "status": "ok",
            "realm_id": emu.realm_id,
            "company_name": emu.company.company_name,
            # How the server was started, so a CI job can check its --time-scale etc. took.
            "limits": {
                "enabled": emu.limiter.enabled,
                "time_scale": emu.limiter.time_scale,
                "throttle_format": emu.throttle_format,
                "batch_per_minute": emu.limiter.batch_limit.max_requests,
            },
            "data_file": str(emu.data.path) if emu.data is not None else None,
        },
    )


def _requests(emu: Emulator, request: Request) -> Response:
    # ?path=/v3/company/* (substring or fnmatch pattern) and ?method=POST narrow the answer.
    path, method = request.params.get("path"), request.params.get("method")
    entries = emu.requests(path, method=method)
    return Response.json(
        200,
        {
            "requests": entries,
            "counts": emu.request_counts(path, method=method),
            "total": len(entries),
        },
    )


def _clear_requests(emu: Emulator, request: Request) -> Response:
    emu.clear_requests()
    return Response.json(200, {"requests": [], "counts": {}, "total": 0})


def _preferences(emu: Emulator, request: Request) -> Response:
    fields = _object(request)
    unknown = set(fields) - {
        "custom_txn_numbers",
        "home_currency",
        "multi_currency",
        "sales_tax_rate",  # a percent, or null to switch sales tax off
        "book_close_date",  # "YYYY-MM-DD" closes the books through that day; null opens them
    }
    if unknown:
        raise AdminError(400, f"unknown preference fields: {', '.join(sorted(unknown))}")
    try:
        prefs = emu.set_preferences(**fields)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    return Response.json(200, {"Preferences": prefs})


def _dump(emu: Emulator, request: Request) -> Response:
    return Response.json(200, emu.company.dump())


def _reset(emu: Emulator, request: Request) -> Response:
    emu.reset()
    return Response.json(200, {"reset": True})


def _list_faults(emu: Emulator, request: Request) -> Response:
    return Response.json(200, {"faults": emu.faults.pending()})


def _add_fault(emu: Emulator, request: Request) -> Response:
    fields = _object(request)
    unknown = set(fields) - {"path", "kind", "count", "status", "method", "hang_seconds"}
    if unknown:
        raise AdminError(400, f"unknown fault fields: {', '.join(sorted(unknown))}")
    try:
        rule = make_rule(
            fields.get("path", ""),
            fields.get("kind", ""),
            count=fields.get("count", 1),
            status=fields.get("status"),
            method=fields.get("method"),
            hang_seconds=fields.get("hang_seconds", 5.0),
        )
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    emu.faults.add(rule)
    return Response.json(201, {"fault": rule.to_dict()})


def _clear_faults(emu: Emulator, request: Request) -> Response:
    emu.faults.clear()
    return Response.json(200, {"faults": []})


def _add_client(emu: Emulator, request: Request) -> Response:
    fields = _object(request)
    uris = fields.get("redirect_uris")
    if (
        not isinstance(fields.get("client_id"), str)
        or not isinstance(fields.get("client_secret"), str)
        or not isinstance(uris, list)
        or not all(isinstance(uri, str) for uri in uris)
        or not isinstance(fields.get("deny", False), bool)
        or not all(uri.startswith(("http://", "https://")) for uri in uris)
    ):
        raise AdminError(
            400,
            "send {client_id: str, client_secret: str, redirect_uris: [http(s) URL], deny?: bool}",
        )
    try:
        emu.oauth.add_client(
            OAuthClient(
                fields["client_id"], fields["client_secret"], tuple(uris), fields.get("deny", False)
            )
        )
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    return Response.json(201, {"client_id": fields["client_id"], "redirect_uris": uris})


def _advance_clock(emu: Emulator, request: Request) -> Response:
    seconds = _object(request).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise AdminError(400, 'send {"seconds": n} with n >= 0')
    try:
        emu.clock.advance(float(seconds))
    except (ValueError, OverflowError) as exc:
        raise AdminError(400, str(exc)) from exc
    return Response.json(
        200, {"offset_seconds": emu.clock.offset, "now": qbo_time(emu.clock.now())}
    )


def _tokens(emu: Emulator, request: Request) -> Response:
    client_id = _object(request).get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise AdminError(400, "client_id must be a string")
    try:
        tokens = emu.issue_tokens(client_id)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    return Response.json(200, tokens, {"Cache-Control": "no-store"})


def _merge(emu: Emulator, request: Request) -> Response:
    fields = _object(request)
    source, into = fields.get("from"), fields.get("into")
    if not isinstance(source, str) or not isinstance(into, str) or set(fields) - {"from", "into"}:
        raise AdminError(400, 'send {"from": customer Id, "into": customer Id}')
    try:
        kept = emu.merge_customers(source, into)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from exc
    return Response.json(200, {"Customer": kept})


_ROUTES: dict[tuple[str, str], Callable[[Emulator, Request], Response]] = {
    ("GET", "health"): _health,
    ("GET", "requests"): _requests,
    ("DELETE", "requests"): _clear_requests,
    ("POST", "preferences"): _preferences,
    ("POST", "merge"): _merge,
    ("GET", "dump"): _dump,
    ("POST", "reset"): _reset,
    ("GET", "faults"): _list_faults,
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _clear_faults,
    ("POST", "clients"): _add_client,
    ("POST", "clock/advance"): _advance_clock,
    ("POST", "tokens"): _tokens,
}


def _accountant_endpoint(handler: accountant.Handler) -> Callable[[Emulator, Request], Response]:
    def endpoint(emu: Emulator, request: Request) -> Response:
        try:
            return Response.json(200, handler(emu, _object(request)))
        except ValueError as exc:  # a QBO rule refused it, or the body is wrong
            raise AdminError(400, str(exc)) from exc

    return endpoint


# Acting as the accountant in QBO (accountant.py): payments, voids, deletes, edits, credit memos.
_ROUTES.update({("POST", path): _accountant_endpoint(h) for path, h in accountant.ROUTES.items()})


def handle(emu: Emulator, request: Request) -> Response:
    name = request.path[len(PREFIX) :].strip("/") if request.path.startswith(PREFIX) else ""
    endpoint = _ROUTES.get((request.method, name))
    if endpoint is None:
        allowed = sorted(method for method, path in _ROUTES if path == name)
        if allowed:
            return Response.json(
                405, {"error": "method not allowed"}, {"Allow": ", ".join(allowed)}
            )
        return Response.json(404, {"error": f"no admin endpoint {request.path}"})
    try:
        return endpoint(emu, request)
    except AdminError as exc:
        return Response.json(exc.status, {"error": exc.message})
