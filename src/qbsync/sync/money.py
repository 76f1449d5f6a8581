"""What QBO can hold in a number and a currency: the checks invoice_map refuses an invoice by.

Every check raises ``MoneyError`` (field, reason) instead of letting ``decimal`` raise: one absurd
row (a 60-digit amount, a quantity of 1e30) is refused per invoice, never ``InvalidOperation``
stopping the whole export. Values are compared, never rounded to fit: what QBO cannot hold
exactly is refused.

QBO's precision (qbo-facts.md "Invoice"): Qty and UnitPrice up to 7 decimals; amounts (line
Amount, TotalTax, TotalAmt) 2 decimals, the line Amount being Qty x UnitPrice rounded half-up.
QBO documents no largest amount. qbsync bounds every number to 13 digits before the decimal point
(below 10,000,000,000,000): 13 + 2 decimals is 15 significant digits, the most an IEEE double
holds exactly, and QBO's totals reach reports, spreadsheets and client libraries that read JSON
numbers as doubles (Breadwinner, which mirrors QBO invoices, keeps them in (16,2) fields:
help.breadwinner.com "Can Breadwinner handle 7 decimal places"). No membership invoice comes near.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

QTY_PRICE_PLACES = 7  # QBO UnitPrice and Qty take up to 7 decimals
AMOUNT_PLACES = 2  # QBO amounts are in cents
INTEGER_DIGITS = 13  # see the module docstring
LIMIT = Decimal(10) ** INTEGER_DIGITS  # every number's absolute value stays below this
CENT = Decimal(1).scaleb(-AMOUNT_PLACES)
# Exact for any two bounded numbers: 13 + 7 digits each, 40 digits in a product.
EXACT = Context(prec=60)

# ISO 4217 minor units other than 2 (SIX, "ISO 4217 current currency & funds code list", list
# one): qbsync writes amounts in cents, so these are refused until supported. None: no minor unit
# (precious metals, testing and settlement codes).
MINOR_UNITS: dict[str, int | None] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
    **dict.fromkeys(
        ["XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"],
        None,
    ),
}


class MoneyError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def bounded(value: object, field: str, places: int, label: str = "") -> Decimal:
    """``value`` if QBO can hold it exactly: a finite Decimal, at most ``places`` decimals
    (trailing zeros past them are dropped: ``1.50000000`` -> ``1.5000000``), below LIMIT.
    ``label`` names it in the reason ("line 2: quantity"; default: ``field``)."""
    label = label or field
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MoneyError(field, f"{label} {value!r} is not a decimal number")
    if value.adjusted() >= INTEGER_DIGITS:  # compared before any arithmetic: nothing overflows
        raise MoneyError(
            field,
            f"{label} {value} is too large: qbsync sends numbers below "
            f"{LIMIT:,} ({INTEGER_DIGITS} digits before the decimal point) to QBO",
        )
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent >= -places:
        return value
    trimmed = value.quantize(Decimal(1).scaleb(-places), context=EXACT)
    if trimmed != value:
        raise MoneyError(
            field,
            f"{label} {value} has more than {places} decimals; QBO takes at most {places}",
        )
    return trimmed


def line_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """Qty x UnitPrice rounded half-up to cents, as QBO checks it (128.35 x 14.50 = 1861.08)."""
    return EXACT.multiply(quantity, unit_price).quantize(
        CENT, rounding=ROUND_HALF_UP, context=EXACT
    )


def below_limit(value: Decimal, field: str, label: str = "") -> Decimal:
    """A computed amount (a line's Amount, the total), refused when QBO should not get it."""
    if abs(value) >= LIMIT:
        raise MoneyError(
            field,
            f"{label or field} {value} is too large: qbsync sends amounts below {LIMIT:,} to QBO",
        )
    return value


def check_minor_unit(currency: str, number: str) -> None:
    """Refuse a currency whose minor unit is not cents (JPY has none, KWD has 3 decimals)."""
    if currency not in MINOR_UNITS:
        return
    units = MINOR_UNITS[currency]
    kind = "no minor unit" if units is None else f"{units} decimals"
    raise MoneyError(
        "currency",
        f"invoice {number} is in {currency}, whose amounts have {kind}; qbsync writes amounts "
        "in cents (2 decimals) and does not export such invoices yet (enter it in QBO by hand)",
    )
