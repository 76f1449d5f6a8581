"""What each emulated QBO entity looks like: the Fault type, writable fields, query fields.

Pure data and small checks; the rules that need the whole company live in rules.py and store.py.
Sources: qbo-facts.md (Entities, Errors) and python-quickbooks 0.9.12's object classes, whose
``to_json()`` sends every attribute it knows (many as "" or 0): the emulator must accept all of them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from qbsync.emulator import query as q

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


def too_long(element: str, limit: int) -> Fault:
    return Fault(
        "2040",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Max:{limit} for {element}",
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


# Field kinds for writable input. "ro" fields are computed by QBO: accepted, then ignored.
S, B, N, R, OBJ, L, D, RO = "str", "bool", "num", "ref", "obj", "list", "date", "ro"

_COMMON = {"Id": RO, "SyncToken": RO, "sparse": RO, "domain": RO, "MetaData": RO, "status": RO}
_PERSON = {
    "Title": S,
    "GivenName": S,
    "MiddleName": S,
    "FamilyName": S,
    "Suffix": S,
    "DisplayName": S,
    "PrintOnCheckName": S,
    "CompanyName": S,
    "Active": B,
    "PrimaryEmailAddr": OBJ,
    "PrimaryPhone": OBJ,
    "AlternatePhone": OBJ,
    "Mobile": OBJ,
    "Fax": OBJ,
    "WebAddr": OBJ,
    "BillAddr": OBJ,
    "CurrencyRef": R,
    "Balance": RO,
    "V4IDPseudonym": RO,
}

WRITABLE: dict[str, dict[str, str]] = {
    "Customer": {
        **_COMMON,
        **_PERSON,
        "Notes": S,
        "ShipAddr": OBJ,
        "Taxable": B,
        "Job": B,
        "BillWithParent": B,
        "ParentRef": R,
        "Level": RO,
        "IsProject": RO,
        "FullyQualifiedName": RO,
        "BalanceWithJobs": RO,
        "OpenBalanceDate": D,
        "PreferredDeliveryMethod": S,
        "PrimaryTaxIdentifier": S,
        "ResaleNum": S,
        "ARAccountRef": R,
        "DefaultTaxCodeRef": R,
        "PaymentMethodRef": R,
        "SalesTermRef": R,
        "CustomerTypeRef": R,
        "TaxExemptionReasonId": S,
    },
    "Vendor": {
        **_COMMON,
        **_PERSON,
        "APAccountRef": R,
        "AcctNum": S,
        "BillRate": N,
        "TaxIdentifier": S,
        "TaxReportingBasis": S,
        "TermRef": R,
        "Vendor1099": B,
    },
    "Employee": {
        **_COMMON,
        **{k: v for k, v in _PERSON.items() if k not in ("CompanyName", "BillAddr", "CurrencyRef")},
        "PrimaryAddr": OBJ,
        "EmailAddress": S,
        "EmployeeNumber": S,
        "SSN": S,
        "BillableTime": B,
        "BillRate": N,
        "CostRate": N,
        "BirthDate": D,
        "HiredDate": D,
        "ReleasedDate": D,
        "Gender": S,
        "Organization": B,
    },
    "Item": {
        **_COMMON,
        "Name": S,
        "Sku": S,
        "Description": S,
        "Active": B,
        "Type": S,
        "UnitPrice": N,
        "Taxable": B,
        "SalesTaxIncluded": B,
        "PurchaseDesc": S,
        "PurchaseCost": N,
        "PurchaseTaxIncluded": B,
        "TrackQtyOnHand": B,
        "QtyOnHand": N,
        "InvStartDate": D,
        "IncomeAccountRef": R,
        "ExpenseAccountRef": R,
        "AssetAccountRef": R,
        "SalesTaxCodeRef": R,
        "PurchaseTaxCodeRef": R,
        "ParentRef": R,
        "SubItem": B,
        "Level": RO,
        "FullyQualifiedName": RO,
        "AbatementRate": N,
        "ReverseChargeRate": N,
        "ServiceType": S,
        "ItemCategoryType": S,
    },
    "Invoice": {
        **_COMMON,
        "CustomerRef": R,
        "Line": L,
        "DocNumber": S,
        "TxnDate": D,
        "DueDate": D,
        "ShipDate": D,
        "PrivateNote": S,
        "CustomerMemo": OBJ,
        "CustomField": L,
        "BillEmail": OBJ,
        "BillEmailCc": OBJ,
        "BillEmailBcc": OBJ,
        "BillAddr": OBJ,
        "ShipAddr": OBJ,
        "SalesTermRef": R,
        "ClassRef": R,
        "DepartmentRef": R,
        "CurrencyRef": R,
        "ShipMethodRef": R,
        "TrackingNum": S,
        "EmailStatus": S,
        "PrintStatus": S,
        "AllowIPNPayment": B,
        "AllowOnlinePayment": B,
        "AllowOnlineACHPayment": B,
        "AllowOnlineCreditCardPayment": B,
        "ApplyTaxAfterDiscount": B,
        "FreeFormAddress": B,
        "GlobalTaxCalculation": S,
        "ExchangeRate": N,
        "TxnTaxDetail": OBJ,
        "TaxExemptionRef": R,
        "LinkedTxn": L,
        "DeliveryInfo": OBJ,
        "RecurDataRef": R,
        "EInvoiceStatus": S,
        "InvoiceLink": RO,
        "TotalAmt": RO,
        "Balance": RO,
        "HomeBalance": RO,
        "HomeTotalAmt": RO,
        "Deposit": N,
    },
}

NAME_LIST = ("Customer", "Vendor", "Employee", "Item", "TaxCode")
PERSON_ENTITIES = ("Customer", "Vendor", "Employee")
ALL_ENTITIES = ("Customer", "Invoice", "Item", "TaxCode", "Vendor", "Employee")
CDC_ENTITIES = ("Customer", "Invoice", "Item", "Vendor", "Employee")  # Intuit: no TaxCode in CDC

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
    "CompanyInfo": {"Id": q.ID, **_META},
}


def is_blank(value: Any) -> bool:
    """python-quickbooks sends unset strings as "": QBO treats them as not given."""
    return value is None or value == ""


def to_decimal(value: Any, element: str) -> Decimal:
    """A JSON number (parsed as Decimal) or a numeric string: Jackson on QBO's side accepts both,
    and python-quickbooks sends Decimal values as strings."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise invalid_property(element, "a number is expected")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise invalid_property(element, "a number is expected") from exc
    if not number.is_finite():
        raise invalid_property(element, "a number is expected")
    return number


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
        if kind == B and not isinstance(value, bool):
            raise invalid_property(key, "true or false is expected")
        if kind == N and value != "":
            to_decimal(value, key)
        if kind in (R, OBJ) and not isinstance(value, dict):
            raise invalid_property(key, "an object is expected")
        if kind == R and not is_blank(value.get("value")) and not isinstance(value["value"], str):
            raise invalid_property(f"{key}.value", "a string is expected")
        if kind == L and not isinstance(value, list):
            raise invalid_property(key, "a list is expected")
        if kind == D and value:
            check_date(value, key)


def check_date(value: str, element: str) -> None:
    from datetime import date

    try:
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
