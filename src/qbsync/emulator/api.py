"""Route one authenticated QBO API request to the company, with requestid replay.

``handle_api`` is what the HTTP server calls for everything under ``/v3/company/{realmId}/``
once the token, realm, limits and injected faults have been dealt with. It never raises: a QBO
rule violation becomes QBO's Fault body with its status, anything else a 500 SystemFault.
Bodies may hold Decimal (money is never float): serialize them with ``wire.dumps`` /
``ApiResult.to_json()``, which render a Decimal exactly as a JSON number.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qbsync.emulator import sending
from qbsync.emulator.entities import (
    ALL_ENTITIES,
    Fault,
    business,
    invalid_property,
    is_blank,
    not_found,
    required_missing,
    unsupported,
)
from qbsync.emulator.store import Company
from qbsync.emulator.wire import dumps

log = logging.getLogger(__name__)

REQUESTID_MAX = 50  # qbo-facts.md "Idempotency": 50 characters, 36 for batch
BATCH_REQUESTID_MAX = 36
BATCH_MAX_ITEMS = 30  # more is refused with 1040 (qbo-facts.md "Captured shapes")
BID_MAX = 10


@dataclass
class ApiResult:
    status: int
    body: dict[str, Any]

    def to_json(self) -> bytes:
        return dumps(self.body).encode("utf-8")


def handle_api(
    company: Company, method: str, subpath: str, params: dict[str, str], body: bytes
) -> ApiResult:
    try:
        method = method.upper()
        parts = [p for p in subpath.strip("/").split("/") if p]
        requestid = params.get("requestid")
        if method == "POST" and requestid is not None and parts[:1] != ["query"]:
            return _replayable(company, parts, params, body, requestid)
        return _dispatch(company, method, parts, params, body)
    except Fault as fault:
        return ApiResult(fault.status, fault.body(company.time_str()))
    except Exception:  # a bug in the emulator must still answer like a server would
        log.exception("emulator API error on %s %s", method, subpath)
        crash = Fault(
            "10000",
            "An application error has occurred while processing your request",
            "System Failure Error: the emulator hit an internal error",
            status=500,
            fault_type="SystemFault",
        )
        return ApiResult(500, crash.body(company.time_str()))


def _replayable(
    company: Company, parts: list[str], params: dict[str, str], body: bytes, requestid: str
) -> ApiResult:
    """QBO answers a repeated requestid with the original response, fault included, without
    running the operation again (qbo-facts.md "Idempotency")."""
    limit = BATCH_REQUESTID_MAX if parts == ["batch"] else REQUESTID_MAX
    if not requestid:
        raise invalid_property("requestid", f"must be 1 to {limit} characters")
    if len(requestid) > limit:
        # QBO's words (qbo-facts.md "Idempotency", Java SDK #180); for a batch the limit is 36
        # and the emulator says so (Choice: QBO's wording there is unverified).
        raise business(
            f"You cannot enter more than {limit} characters in the request_id field", "requestid"
        )
    # One lock around look-up, work and record: two concurrent requests with the same id
    # must not both do the work.
    with company.lock:
        cached = company.requestids.get(requestid)
        if cached is not None:
            return copy.deepcopy(cached)
        try:
            result = _dispatch(company, "POST", parts, params, body)
        except Fault as fault:
            result = ApiResult(fault.status, fault.body(company.time_str()))
        if result.status < 500:
            company.requestids[requestid] = copy.deepcopy(result)
        return result


def _dispatch(
    company: Company, method: str, parts: list[str], params: dict[str, str], body: bytes
) -> ApiResult:
    if not parts:
        raise unsupported("No resource given")
    head = parts[0].lower()
    time = company.time_str()
    if head == "query" and len(parts) == 1:
        text = params.get("query", "")
        if method == "POST" and body.strip():
            text = body.decode("utf-8", errors="replace")
        elif method not in ("GET", "POST"):
            raise unsupported(f"Operation {method} query is not supported")
        return ApiResult(200, {"QueryResponse": company.query(text), "time": time})
    if head == "batch" and len(parts) == 1 and method == "POST":
        has_requestid = "requestid" in params
        answers = _batch(company, _json_object(body), has_requestid)
        return ApiResult(200, {"BatchItemResponse": answers, "time": time})
    if head == "cdc" and len(parts) == 1 and method == "GET":
        cdc = company.cdc(params.get("entities", ""), params.get("changedSince", ""))
        return ApiResult(200, {"CDCResponse": cdc, "time": time})
    if head == "companyinfo" and len(parts) == 2 and method == "GET":
        if parts[1] != company.realm_id:
            raise not_found("CompanyInfo", parts[1])
        return ApiResult(200, {"CompanyInfo": company.company_info(), "time": time})
    if head == "preferences" and len(parts) == 1 and method == "GET":
        return ApiResult(200, {"Preferences": company.preferences(), "time": time})
    entity = company.canonical(head)
    if entity not in ALL_ENTITIES:
        raise unsupported(f"Operation {method} {head} is not supported")
    if method == "GET" and len(parts) == 2:
        return ApiResult(200, {entity: company.read(entity, parts[1]), "time": time})
    if method == "POST" and len(parts) == 3 and parts[2] == "send" and entity == "Invoice":
        # Intuit's Invoice reference: POST invoice/<id>/send[?sendTo=] (sending.py).
        invoice = sending.send_invoice(company, parts[1], params.get("sendTo"))
        return ApiResult(200, {entity: invoice, "time": time})
    if method == "POST" and len(parts) == 1:
        data = _json_object(body)
        obj = _write(company, entity, params.get("operation"), data, params.get("include"))
        return ApiResult(200, {entity: obj, "time": time})
    raise unsupported(f"Operation {method} {'/'.join(parts)} is not supported")


def _write(
    company: Company,
    entity: str,
    operation: str | None,
    data: dict[str, Any],
    include: str | None = None,
) -> dict[str, Any]:
    if operation == "delete":
        return company.delete(entity, data)
    if operation == "void":  # invoices only (voids.py); not in a batch
        if entity != "Invoice":
            raise unsupported(
                f"Operation Void is not supported for {entity}"
                + (
                    "; a payment is voided with operation=update&include=void"
                    * (entity == "Payment")
                )
            )
        return company.void(entity, data)
    if operation == "update" and include == "void":
        # Payments are voided by a sparse update with include=void (consolibyte quickbooks-php,
        # python-quickbooks 0.9.12's VoidMixin: {Id, SyncToken, sparse: true}); not in a batch.
        if entity != "Payment":
            raise unsupported(f"Operation include=void is not supported for {entity}")
        if data.get("sparse") is not True:
            raise invalid_property("sparse", "a void is a sparse update: send sparse true")
        return company.void(entity, data)
    if operation not in (None, "", "create", "update"):
        raise unsupported(f"Operation {operation} is not supported for {entity}")
    if operation == "update" or not is_blank(data.get("Id")):
        return company.update(entity, data)
    return company.create(entity, data)


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; QBO's Jackson parser refuses them by default.
    raise ValueError(f"{name} is not a JSON number")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # RecursionError: a body nested thousands deep was a 500; QBO refuses it as bad JSON.
        raise invalid_property("body", "the request body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise invalid_property("body", "a JSON object is expected")
    if _depth(data) > MAX_DEPTH:
        raise invalid_property("body", f"objects nest at most {MAX_DEPTH} deep")
    return data


# QBO's deepest documented shapes (a batch item's invoice line's detail's ref) nest about 6 deep.
# A body nested hundreds deep parsed fine, was stored, and then made every read of it (and every
# query over it) a 500 when copying or writing it overflowed Python's recursion limit.
MAX_DEPTH = 32


def _depth(value: Any) -> int:
    """How deep objects and lists nest (iteratively: no recursion on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _batch(company: Company, payload: dict[str, Any], has_requestid: bool) -> list[dict[str, Any]]:
    items = payload.get("BatchItemRequest")
    if not isinstance(items, list) or not items:
        raise required_missing("BatchItemRequest")
    if len(items) > BATCH_MAX_ITEMS:
        raise Fault(
            "1040",
            "Batch size exceeds allowed limit",
            f"Batch size {len(items)} exceeds the maximum of {BATCH_MAX_ITEMS} items",
            "BatchItemRequest",
        )
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise invalid_property("BatchItemRequest", "each item must be an object")
        bid = item.get("bId")
        if is_blank(bid) or not isinstance(bid, str):
            raise required_missing("BatchItemRequest.bId")
        # The 10-character bId limit comes with a batch requestid (qbo-facts.md); without one
        # python-quickbooks' 36-character uuid bIds are accepted (docs/emulator-rules.md).
        if has_requestid and len(bid) > BID_MAX:
            raise invalid_property("bId", f"must be at most {BID_MAX} characters with a requestid")
        if bid in seen:
            raise invalid_property("bId", f"bId {bid} is used twice in one batch")
        seen.add(bid)
    # Items run in order and answer on their own: one can fail while the others succeed.
    return [_batch_item(company, item) for item in items]


def _batch_item(company: Company, item: dict[str, Any]) -> dict[str, Any]:
    bid = item["bId"]
    try:
        if "Query" in item:
            text = item["Query"]
            if not isinstance(text, str):
                raise invalid_property("Query", "a query string is expected")
            return {"QueryResponse": company.query(text), "bId": bid}
        keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
        if len(keys) != 1:
            raise required_missing("BatchItemRequest entity")
        entity = company.canonical(keys[0])
        data = item[keys[0]]
        if entity not in ALL_ENTITIES or not isinstance(data, dict):
            raise unsupported(f"Batch item {keys[0]} is not supported")
        operation = item.get("operation")
        if operation == "create":
            obj = company.create(entity, data)
        elif operation == "update":
            obj = company.update(entity, data)
        elif operation == "delete":
            obj = company.delete(entity, data)
        elif is_blank(operation):
            raise required_missing("operation")
        else:
            raise unsupported(f"Operation {operation} is not supported in a batch")
        return {entity: obj, "bId": bid}
    except Fault as fault:
        return {"Fault": fault.fault_dict(), "bId": bid}
