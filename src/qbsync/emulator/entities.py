"""What each emulated QBO entity looks like: the Fault type, writable fields, query fields.

Pure data and small checks; the rules that need the whole company live in rules.py and store.py.
Sources: qbo-facts.md (Entities, Errors) and python-quickbooks 0.9.12's object classes, whose
``to_json()`` sends every attribute it knows (many as "" or 0): the emulator must accept all of them.
"""

from __future__ import annotations

import re
from datetime import date, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from qbsync.emulator import query as q
from qbsync.emulator.schema import NESTED, OBJ, RO, WRITABLE, B, D, L, N, R, S

MONEY = Decimal("0.01")


class Fault(Exception):
    """A QBO fault: the error code, message and detail QBO would answer, and the HTTP status."""

    def __init__(
        self,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        *,
        status: int = 400,
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.fault_type = fault_type

    def error_dict(self) -> dict[str, Any]:
        return {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }

    def fault_dict(self) -> dict[str, Any]:
        return {"Error": [self.error_dict()], "type": self.fault_type}

    def body(self, time: str) -> dict[str, Any]:
        return {"Fault": self.fault_dict(), "time": time}


# Codes and messages from qbo-facts.md "Errors" and Intuit's error-code table (third-party copy:
# insighthk.com/service/quickbooksrepair/IPP-Error-Codes.html).
def invalid_property(element: str, why: str) -> Fault:
    return Fault(
        "2010",
        "Request has invalid or unsupported property",
        f"Property Name:{element} specified is unsupported or invalid: {why}",
        element,
    )


def required_missing(element: str) -> Fault:
    return Fault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def too_long(element: str, limit: int, supplied: int) -> Fault:
    # Code, message and Detail ending as captured (qbo-facts.md "Errors": consolibyte
    # quickbooks-php #79, "...Min:0 Max:21 supported. Supplied length:22").
    return Fault(
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length for {element}. "
        f"Min:0 Max:{limit} supported. Supplied length:{supplied}",
        element,
    )


def business(detail: str, element: str = "", code: str = "6000") -> Fault:
    return Fault(
        code,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def unsupported(detail: str) -> Fault:
    return Fault("500", "Unsupported Operation", detail)


def not_found(entity: str, ident: str) -> Fault:
    return Fault(
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive or deleted "
        f"({entity} {ident} not found).",
    )


NAME_LIST = ("Customer", "Vendor", "Employee", "Item", "TaxCode")
PERSON_ENTITIES = ("Customer", "Vendor", "Employee")
ALL_ENTITIES = (
    "Customer",
    "Invoice",
    "Item",
    "TaxCode",
    "Vendor",
    "Employee",
    "Payment",
    "CreditMemo",
)
TRANSACTIONS = ("Invoice", "Payment", "CreditMemo")  # deleted for good, with a CDC tombstone
# Intuit's CDC reference: no TaxCode.
CDC_ENTITIES = ("Customer", "Invoice", "Item", "Vendor", "Employee", "Payment", "CreditMemo")

_META = {"MetaData.CreateTime": q.DATETIME, "MetaData.LastUpdatedTime": q.DATETIME}
_PERSON_QUERY = {
    "Id": q.ID,
    "DisplayName": q.STR,
    "GivenName": q.STR,
    "MiddleName": q.STR,
    "FamilyName": q.STR,
    "CompanyName": q.STR,
    "Active": q.BOOL,
    **_META,
}
# Filterable (and sortable) fields per entity, from Intuit's entity reference "filterable" marks.
QUERY_FIELDS: dict[str, dict[str, str]] = {
    # PrimaryEmailAddr is filterable on Customer only (qbo-facts.md "Entities"). On Vendor QBO
    # answered 4001 "property 'PrimaryEmailAddr' is not queryable" (ruckus/quickbooks-ruby issue
    # 403); on Employee it is unverified, so refused too (stricter).
    "Customer": {
        **_PERSON_QUERY,
        "PrimaryEmailAddr": q.EMAIL,
        "FullyQualifiedName": q.STR,
        "Balance": q.DECIMAL,
    },
    "Vendor": {**_PERSON_QUERY, "Balance": q.DECIMAL},
    "Employee": {k: v for k, v in _PERSON_QUERY.items() if k != "CompanyName"},
    "Item": {
        "Id": q.ID,
        "Name": q.STR,
        "Sku": q.STR,
        "Active": q.BOOL,
        "Type": q.STR,
        "FullyQualifiedName": q.STR,
        **_META,
    },
    "TaxCode": {"Id": q.STR, "Name": q.STR, "Active": q.BOOL},
    "Invoice": {
        "Id": q.ID,
        "DocNumber": q.STR,
        "TxnDate": q.DATE,
        "DueDate": q.DATE,
        "CustomerRef": q.REF,
        "TotalAmt": q.DECIMAL,
        "Balance": q.DECIMAL,
        **_META,
    },
    # Intuit's Payment and CreditMemo references mark these filterable.
    "Payment": {
        "Id": q.ID,
        "TxnDate": q.DATE,
        "CustomerRef": q.REF,
        "TotalAmt": q.DECIMAL,
        "PaymentMethodRef": q.REF,
        "PaymentRefNum": q.STR,
        **_META,
    },
    "CreditMemo": {
        "Id": q.ID,
        "DocNumber": q.STR,
        "TxnDate": q.DATE,
        "CustomerRef": q.REF,
        "TotalAmt": q.DECIMAL,
        "Balance": q.DECIMAL,
        **_META,
    },
    "CompanyInfo": {"Id": q.ID, **_META},
    # Choice: Intuit's Preferences reference marks no field filterable; Id and MetaData as on
    # CompanyInfo (the other singleton).
    "Preferences": {"Id": q.ID, **_META},
}


def is_blank(value: Any) -> bool:
    """python-quickbooks sends unset strings as "": QBO treats them as not given."""
    return value is None or value == ""


# A number as QBO's clients send it: ASCII digits, at most 13 before the point and 10 after, no
# exponent (Choice: QBO's own maximum is unverified; this keeps every product and sum exact in
# Decimal's 28 digits, and '1e999999999' or NaN from a buggy client is refused, not computed).
_NUMBER_TEXT = re.compile(r"-?[0-9]{1,13}(?:\.[0-9]{1,10})?")


def to_decimal(value: Any, element: str) -> Decimal:
    """A JSON number (parsed as Decimal) or a numeric string: Jackson on QBO's side accepts both,
    and python-quickbooks sends Decimal values as strings."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise invalid_property(element, "a number is expected")
    if _NUMBER_TEXT.fullmatch(str(value)) is None:
        raise invalid_property(element, "a plain decimal number is expected")
    return Decimal(str(value))


def to_money(value: Any, element: str) -> Decimal:
    """An amount: a number with at most two decimal places. Choice (stricter than QBO, which is
    unverified here): 25.001 or a float artefact like 0.30000000000000004 is refused, not
    rounded, so a client that computes money in float fails here instead of drifting by cents."""
    number = to_decimal(value, element)
    if number != number.quantize(MONEY):
        raise invalid_property(element, "an amount has at most 2 decimal places")
    return number


def _check_nested(key: str, value: dict[str, Any]) -> None:
    allowed = NESTED.get(key)
    if allowed is None:
        return
    for name, item in value.items():
        if name not in allowed:
            raise invalid_property(f"{key}.{name}", f"not a property of {key}")
        if item is not None and not isinstance(item, str):
            raise invalid_property(f"{key}.{name}", "a string is expected")


def check_types(entity: str, data: dict[str, Any]) -> None:
    """Refuse unknown properties and wrong JSON types (QBO: 2010)."""
    allowed = WRITABLE[entity]
    for key, value in data.items():
        kind = allowed.get(key)
        if kind is None:
            raise invalid_property(key, f"not a property of {entity}")
        if kind == RO or value is None:
            continue
        if kind in (S, D) and not isinstance(value, str):
            raise invalid_property(key, "a string is expected")
        # python-quickbooks' CreditMemo sends ApplyTaxAfterDiscount as "": blank is "not given".
        if kind == B and value != "" and not isinstance(value, bool):
            raise invalid_property(key, "true or false is expected")
        if kind == N and value != "":
            to_decimal(value, key)
        if kind in (R, OBJ) and not isinstance(value, dict):
            raise invalid_property(key, "an object is expected")
        if kind == OBJ:
            _check_nested(key, value)
        if kind == R and not is_blank(value.get("value")) and not isinstance(value["value"], str):
            raise invalid_property(f"{key}.value", "a string is expected")
        if kind == L and not isinstance(value, list):
            raise invalid_property(key, "a list is expected")
        if kind == D and value:
            check_date(value, key)


_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def check_date(value: str, element: str) -> None:
    """``YYYY-MM-DD`` exactly: Python 3.11's fromisoformat also takes '20260101', QBO does not."""
    try:
        if _DATE_TEXT.fullmatch(value) is None:
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError as exc:
        raise Fault(
            "2060", "Invalid date", f"Invalid date {value!r} for {element}", element
        ) from exc


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """Drop "" and None values (QBO leaves such fields out of its answers)."""
    return {k: v for k, v in data.items() if not is_blank(v)}


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (as on paper; Decimal's default would round half to even)."""
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def parse_offset(text: str) -> timezone:
    """A seed's "utc_offset", e.g. "-08:00"."""
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))


def exact(value: Any) -> Any:
    """Seed files are read with plain json.loads: turn their floats into exact Decimals."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return value
