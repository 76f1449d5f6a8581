"""QBO's business rules for the entities the emulator writes (qbo-facts.md "Entities", "Errors").

Each ``apply_*`` takes the merged record about to be stored (after sparse/full update merging),
the previous stored version (None on create) and the company, and returns the record to store
or raises a ``Fault``. The company is only read here; store.py does the writing under its lock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from qbsync.emulator import sending
from qbsync.emulator.entities import (
    PERSON_ENTITIES,
    Fault,
    business,
    check_date,
    clean,
    invalid_property,
    is_blank,
    money,
    not_found,
    required_missing,
    to_decimal,
    to_money,
)
from qbsync.emulator.textrules import (
    CUSTOMER_MEMO_MAX,
    DOC_NUMBER_MAX,
    ITEM_NAME_MAX,
    LINE_DESCRIPTION_MAX,
    MAX_LENGTHS,
    NAME_FIELDS,
    PRIVATE_NOTE_MAX,
    check_email,
    check_length,
    check_name_chars,
    check_text,
    trim_names,
)

if TYPE_CHECKING:
    from qbsync.emulator.store import Company

MAX_CUSTOM_FIELDS = 3


def duplicate_name(name: str) -> Fault:
    # Message and code from the captured 6240 (qbo-facts.md "Captured shapes").
    return Fault(
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already "
        f"using this name ({name}). Please use a different name.",
        "DisplayName",
    )


def has_balance(entity: str) -> Fault:
    # Message and Detail as quickbooks-ruby #390 printed them (qbo-facts.md "Errors"); the
    # code is not in that capture: 6000 (business validation) is the emulator's Choice.
    return Fault(
        "6000",
        "Delete List Has Balance Error",
        "The entity you are trying to delete has an open balance. : This "
        f"{entity.lower()} cannot be deleted because it has a non-zero balance",
        "Active",
    )


def _deleted_name(company: Company, entity: str, ident: str | None, name: str) -> str:
    # QBO renames an inactive name-list entry "<name> (deleted)" (qbo-facts.md), freeing the name.
    # When that name is taken too, the emulator numbers it; Intuit's exact scheme is unverified.
    candidate = f"{name} (deleted)"
    n = 1
    while company.name_owner(candidate, exclude=(entity, ident)) is not None:
        candidate = f"{name} (deleted-{n})"
        n += 1
    return candidate


def apply_person(
    company: Company, entity: str, record: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Customer, Vendor and Employee: names, lengths, email, inactive rename, unique DisplayName."""
    assert entity in PERSON_ENTITIES
    record = clean(record)
    trim_names(record, (*NAME_FIELDS, "DisplayName"))
    check_name_chars(record, (*NAME_FIELDS, "DisplayName"))
    for name, limit in MAX_LENGTHS.items():
        check_text(record, name, limit)
    check_email(record)
    if is_blank(record.get("DisplayName")):
        parts = [record[k].strip() for k in NAME_FIELDS if record.get(k, "").strip()]
        if not parts:
            raise Fault(
                "6080",
                "No Name Provided",
                "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - one of these "
                "must be non-empty",
                "DisplayName",
            )
        record["DisplayName"] = " ".join(parts)
    record.setdefault("Active", True)
    ident = previous["Id"] if previous else None
    was_active = previous is None or previous.get("Active", True)
    if was_active and record["Active"] is False:
        # QBO refuses to make a customer with an open balance inactive (qbo-facts.md "Errors").
        if previous is not None and previous.get("Balance", 0) != 0:
            raise has_balance(entity)
        record["DisplayName"] = _deleted_name(company, entity, ident, record["DisplayName"])
    if company.name_owner(record["DisplayName"], exclude=(entity, ident)) is not None:
        raise duplicate_name(record["DisplayName"])
    if entity == "Customer":
        record.setdefault("Taxable", True)
        record.setdefault("Job", False)
        record.setdefault("BillWithParent", False)
        record["FullyQualifiedName"] = record["DisplayName"]
        record["PrintOnCheckName"] = record.get("PrintOnCheckName") or record["DisplayName"]
    return record


def apply_item(
    company: Company, record: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    record = clean(record)
    trim_names(record, ("Name",))
    if is_blank(record.get("Name")):
        raise required_missing("Name")
    check_name_chars(record, ("Name",))
    check_text(record, "Name", ITEM_NAME_MAX)
    record.setdefault("Active", True)
    record.setdefault("Type", "Service")
    if record["Type"] not in ("Service", "NonInventory"):
        raise business(f"Item type {record['Type']} is not supported by the emulator", "Type")
    # Service and NonInventory items need an income account (Intuit's Item reference;
    # ruckus/quickbooks-ruby issue 318). Accounts are not emulated: any non-blank value will do.
    if _ref_value(record, "IncomeAccountRef") is None:
        raise required_missing("IncomeAccountRef")
    ident = previous["Id"] if previous else None
    for other in company.rows("Item"):
        if other["Id"] != ident and other["Name"].casefold() == record["Name"].casefold():
            raise Fault(
                "6240",
                "Duplicate Name Exists Error",
                "The name supplied already exists. : Another product or service is already "
                f"using this name ({record['Name']}).",
                "Name",
            )
    if "UnitPrice" in record:
        record["UnitPrice"] = to_decimal(record["UnitPrice"], "UnitPrice")
    record["FullyQualifiedName"] = record["Name"]
    return record


def _ref_value(record: dict[str, Any], key: str) -> str | None:
    ref = record.get(key)
    if not isinstance(ref, dict) or is_blank(ref.get("value")):
        return None
    return str(ref["value"])


# What a line and its SalesItemLineDetail may carry: python-quickbooks 0.9.12's SalesItemLine,
# DescriptionOnlyLine and SalesItemLineDetail attributes, plus Intuit's reference (discounts,
# tax classification). Anything else is refused (2010), not stored and echoed back.
LINE_KEYS = frozenset(
    {"Id", "LineNum", "Description", "Amount", "DetailType", "LinkedTxn", "CustomField"}
    | {"SalesItemLineDetail", "DescriptionLineDetail", "SubTotalLineDetail", "ProjectRef"}
)
SALES_DETAIL_KEYS = frozenset(
    {"ItemRef", "Qty", "UnitPrice", "TaxCodeRef", "ServiceDate", "TaxInclusiveAmt", "ClassRef"}
    | {"ItemAccountRef", "PriceLevelRef", "MarkupInfo", "DiscountRate", "DiscountAmt"}
    | {"TaxClassificationRef"}
)


def _check_keys(data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise invalid_property(f"{where}.{key}", "not a property of this line")


def _sales_line(
    company: Company, line: dict[str, Any], where: str, us: bool
) -> tuple[dict[str, Any], Decimal]:
    if is_blank(line.get("Amount")):
        raise required_missing(f"{where}.Amount")
    amount = to_money(line["Amount"], f"{where}.Amount")
    detail = line.get("SalesItemLineDetail")
    if not isinstance(detail, dict):
        raise required_missing(f"{where}.SalesItemLineDetail")
    _check_keys(detail, SALES_DETAIL_KEYS, f"{where}.SalesItemLineDetail")
    detail = clean(detail)
    for key in ("ItemRef", "TaxCodeRef", "ClassRef", "ItemAccountRef", "PriceLevelRef"):
        if key in detail and not isinstance(detail[key], dict):
            raise invalid_property(f"{where}.SalesItemLineDetail.{key}", "an object is expected")
        value = detail[key].get("value") if key in detail else None
        if not is_blank(value) and not isinstance(value, str):
            raise invalid_property(f"{where}.SalesItemLineDetail.{key}.value", "a string")
    if "ServiceDate" in detail:
        if not isinstance(detail["ServiceDate"], str):
            raise invalid_property(f"{where}.SalesItemLineDetail.ServiceDate", "a date")
        check_date(detail["ServiceDate"], f"{where}.SalesItemLineDetail.ServiceDate")
    item_id = _ref_value(detail, "ItemRef")
    if item_id is None:
        raise required_missing(f"{where}.SalesItemLineDetail.ItemRef")
    item = company.get_row("Item", item_id)
    if item is None:
        raise Fault(
            "2500",
            "Invalid Reference Id",
            f"Invalid Reference Id : Item {item_id} does not exist",
            f"{where}.SalesItemLineDetail.ItemRef",
        )
    if not item.get("Active", True):
        raise not_found("Item", f"{item_id} has been made inactive")
    detail["ItemRef"] = {"value": item_id, "name": item["Name"]}
    qty = to_decimal(detail["Qty"], "Qty") if "Qty" in detail else None
    price = to_decimal(detail["UnitPrice"], "UnitPrice") if "UnitPrice" in detail else None
    # Intuit error table: 6070 "Amount calculation incorrect in the request".
    both_given = qty is not None and price is not None and (qty != 0 or price != 0)
    if both_given and money(qty * price) != money(amount):  # type: ignore[operator]
        raise Fault(
            "6070",
            "Amount calculation incorrect in the request",
            f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
            f"{where}.Amount",
        )
    # python-quickbooks sends Qty 0 and UnitPrice 0 when unset: the emulator reads 0/0 as "not given".
    for key, value in (("Qty", qty), ("UnitPrice", price)):
        if value is not None and (qty or price):
            detail[key] = value
        else:
            detail.pop(key, None)
    detail.pop("TaxInclusiveAmt", None)
    tax = _ref_value(detail, "TaxCodeRef")
    if tax is not None:
        if company.get_row("TaxCode", tax) is None:
            if us:
                raise Fault(
                    "6100",
                    "Invalid Line TaxCode in the request",
                    f"Valid Line TaxCodes for US should be TAX or NON. Supplied value:{tax}",
                    f"{where}.SalesItemLineDetail.TaxCodeRef",
                )
            raise Fault("2500", "Invalid Reference Id", f"Invalid Reference Id : TaxCode {tax}")
        detail["TaxCodeRef"] = {"value": tax}
    elif not us:
        # Outside the US each line needs a tax code (qbo-facts.md, "6000 business validation").
        raise business("Make sure all your transactions have a GST/VAT rate before you save.")
    out = clean({k: v for k, v in line.items() if k not in ("Id", "LineNum", "LinkedTxn")})
    check_length(out.get("Description"), f"{where}.Description", LINE_DESCRIPTION_MAX)
    out["Amount"] = money(amount)
    out["SalesItemLineDetail"] = detail
    return out, money(amount)


def customer_ref(company: Company, record: dict[str, Any]) -> str:
    """Check ``CustomerRef`` (invoices, credit memos, payments) and store it with the name."""
    customer_id = _ref_value(record, "CustomerRef")
    if customer_id is None:
        raise required_missing("CustomerRef")
    customer = company.get_row("Customer", customer_id)
    if customer is None:
        raise not_found("Customer", customer_id)
    if not customer.get("Active", True):
        raise Fault(
            "610",
            "Object Not Found",
            "Object Not Found : Something you're trying to use has been made inactive. Check "
            f"the fields with accounts, customers, items, vendors or employees (Customer {customer_id}).",
            "CustomerRef",
        )
    record["CustomerRef"] = {"value": customer_id, "name": customer["DisplayName"]}
    return customer_id


def apply_invoice(
    company: Company,
    record: dict[str, Any],
    previous: dict[str, Any] | None,
    entity: str = "Invoice",
) -> dict[str, Any]:
    """An Invoice, or a CreditMemo (``entity``): Intuit gives both the same line model."""
    record = clean(record)
    customer_ref(company, record)
    lines = record.get("Line")
    if not lines:
        raise required_missing("Line")
    us = company.country == "US"
    stored: list[dict[str, Any]] = []
    total = Decimal("0")
    taxable = Decimal("0")
    for index, line in enumerate(lines):
        where = f"Line[{index}]"
        if not isinstance(line, dict):
            raise invalid_property(where, "an object is expected")
        _check_keys(line, LINE_KEYS, where)
        kind = line.get("DetailType")
        if kind == "SubTotalLineDetail":
            continue  # computed by QBO; clients echo it back on full updates
        if kind == "SalesItemLineDetail":
            out, amount = _sales_line(company, line, where, us)
            total += amount
            if us and _ref_value(out["SalesItemLineDetail"], "TaxCodeRef") == TAXABLE_CODE:
                taxable += amount
        elif kind == "DescriptionOnly":
            out = clean({k: v for k, v in line.items() if k in ("Description", "DetailType")})
            check_length(out.get("Description"), f"{where}.Description", LINE_DESCRIPTION_MAX)
            out["DescriptionLineDetail"] = {}
        elif is_blank(kind):
            raise required_missing(f"{where}.DetailType")
        else:
            raise invalid_property(
                f"{where}.DetailType", f"{kind} is not supported by the emulator"
            )
        out["Id"] = str(len(stored) + 1)
        out["LineNum"] = len(stored) + 1
        stored.append(out)
    if not stored:
        raise required_missing("Line")
    stored.append({"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
    record["Line"] = stored
    if len(record.get("CustomField", [])) > MAX_CUSTOM_FIELDS:
        raise invalid_property("CustomField", f"at most {MAX_CUSTOM_FIELDS} custom fields")
    if not all(isinstance(field, dict) for field in record.get("CustomField", [])):
        raise invalid_property("CustomField", "each custom field is an object")
    if "CustomField" in record and not record["CustomField"]:
        del record["CustomField"]
    for key in ("BillEmail", "BillEmailCc", "BillEmailBcc"):
        check_email(record, key)
    check_text(record, "PrivateNote", PRIVATE_NOTE_MAX)
    memo = record.get("CustomerMemo")
    if memo is not None:
        if not isinstance(memo.get("value", ""), str):
            raise invalid_property("CustomerMemo.value", "a string is expected")
        check_length(memo.get("value"), "CustomerMemo", CUSTOMER_MEMO_MAX)
    if entity == "Invoice":
        sending.email_status(record, previous)  # NotSet / NeedToSend / EmailSent (sending.py)
        _apply_doc_number(company, record, previous)
    else:
        _credit_memo_number(company, record, previous)
    record.setdefault("TxnDate", company.today())
    tax = sales_tax(company, taxable)
    record["TotalAmt"] = total + tax
    record["Balance"] = total + tax  # less what payments apply: store.py (payments.derive)
    record["TxnTaxDetail"] = {"TotalTax": tax}
    return record


TAXABLE_CODE = "TAX"  # a US company's taxable line code (qbo-facts.md "Entities", Invoice)


def sales_tax(company: Company, taxable: Decimal) -> Decimal:
    """The tax on the taxable lines' sum: the company's rate (Preferences ``sales_tax_rate``, a
    percent), rounded half-up to cents; 0.00 when the company has no rate (the default: sandbox
    companies run no automated sales tax, qbo-facts.md). Choice: a TxnTaxDetail.TotalTax sent by
    the client is ignored, as before; AST would prorate it (docs/emulator-rules.md)."""
    rate = company.prefs.sales_tax_rate
    if rate is None:
        return Decimal("0.00")
    return money(taxable * rate / 100)


def _apply_doc_number(
    company: Company, record: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    doc = record.get("DocNumber")
    if doc is None and previous is not None and previous.get("DocNumber"):
        record["DocNumber"] = doc = previous["DocNumber"]  # a full update keeps the number
    if doc is None:
        if company.custom_txn_numbers:
            return  # with custom numbers on, QBO leaves it empty
        record["DocNumber"] = company.next_doc_number()
        return
    check_text(record, "DocNumber", DOC_NUMBER_MAX)
    if not company.custom_txn_numbers:
        return
    ident = previous["Id"] if previous else None
    owner = company.doc_owner(doc)
    if owner is not None and owner != ident:
        raise Fault(
            "6140",
            "Duplicate Document Number Error",
            "Duplicate Document Number Error : You must specify a different number. This "
            f"number has already been used. DocNumber={doc} is assigned to TxnType=Invoice "
            f"with TxnId={owner}",
            "DocNumber",
        )


def _credit_memo_number(
    company: Company, record: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    # Choice (unverified at Intuit): a credit memo draws from the invoices' number sequence
    # when custom numbers are off, and its numbers are not checked for duplicates.
    if record.get("DocNumber") is None and previous is not None and previous.get("DocNumber"):
        record["DocNumber"] = previous["DocNumber"]
    if record.get("DocNumber") is None and not company.custom_txn_numbers:
        record["DocNumber"] = company.next_doc_number()
    check_text(record, "DocNumber", DOC_NUMBER_MAX)
