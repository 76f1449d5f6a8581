"""The properties the emulator accepts per entity, and the shapes of nested objects: pure data.

Every attribute python-quickbooks 0.9.12's object classes send (its ``to_json()`` sends many as
"" or 0) plus Intuit's documented ones, so that library's full objects are always accepted, and
anything else is refused with 2010 (docs/emulator-rules.md).
"""

from __future__ import annotations

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
        # Read-only on an invoice: a payment is applied through the Payment, never the invoice
        # (qbo-facts.md "After export"); the emulator answers the payments that link it.
        "LinkedTxn": RO,
        # Read-only: set by the send operation (sending.py; Intuit's Invoice reference).
        "DeliveryInfo": RO,
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

# CreditMemo: the invoice's line model (Intuit's CreditMemo reference; python-quickbooks 0.9.12's
# CreditMemo sends RemainingCredit, Balance and GlobalTaxCalculation too).
WRITABLE["CreditMemo"] = {
    **{k: v for k, v in WRITABLE["Invoice"].items() if k not in ("Deposit", "DueDate")},
    "RemainingCredit": RO,
    "PaymentMethodRef": R,
    "DepositToAccountRef": R,
    "InvoiceRef": R,
    "ProjectRef": R,
}
# Payment: Intuit's Payment reference plus every attribute python-quickbooks 0.9.12 sends.
WRITABLE["Payment"] = {
    **_COMMON,
    "CustomerRef": R,
    "TotalAmt": N,
    "Line": L,
    "TxnDate": D,
    "PaymentRefNum": S,
    "PaymentMethodRef": R,
    "DepositToAccountRef": R,
    "ARAccountRef": R,
    "CurrencyRef": R,
    "TaxExemptionRef": R,
    "PrivateNote": S,
    "ProcessPayment": B,
    "ExchangeRate": N,
    "TxnSource": S,
    "TxnStatus": S,
    "TransactionLocationType": S,
    "CreditCardPayment": OBJ,
    "UnappliedAmt": RO,
}


# Shapes of the nested objects python-quickbooks sends (its EmailAddress, PhoneNumber,
# WebAddress and Address classes; Intuit's reference adds Id): unknown keys and non-string
# values are refused like top-level ones (2010), never stored and echoed back.
_ADDRESS = frozenset(
    {"Id", "Line1", "Line2", "Line3", "Line4", "Line5", "City", "Country"}
    | {"CountrySubDivisionCode", "PostalCode", "Lat", "Long", "Note"}
)
NESTED: dict[str, frozenset[str]] = {
    "PrimaryEmailAddr": frozenset({"Id", "Address"}),
    "BillEmail": frozenset({"Id", "Address"}),
    "BillEmailCc": frozenset({"Id", "Address"}),
    "BillEmailBcc": frozenset({"Id", "Address"}),
    "PrimaryPhone": frozenset({"Id", "FreeFormNumber"}),
    "AlternatePhone": frozenset({"Id", "FreeFormNumber"}),
    "Mobile": frozenset({"Id", "FreeFormNumber"}),
    "Fax": frozenset({"Id", "FreeFormNumber"}),
    "WebAddr": frozenset({"Id", "URI"}),
    "BillAddr": _ADDRESS,
    "ShipAddr": _ADDRESS,
    "PrimaryAddr": _ADDRESS,
}
