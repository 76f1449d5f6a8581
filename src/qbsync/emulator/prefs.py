"""The company's Preferences (``GET preferences``, ``select * from Preferences``).

Only the settings that change what the emulator does, in QBO's shape: ``SalesFormsPrefs.
CustomTxnNumbers`` (qbo-facts.md "Entities", Invoice: with it off QBO numbers invoices itself) and
``CurrencyPrefs`` (home currency, multicurrency). They come from the seed's ``company`` object
(``custom_txn_numbers``, ``home_currency``, ``multi_currency``) and can be changed at run time
(``Emulator.set_preferences`` / ``POST /_emulator/preferences``), as a company admin would in
QBO's settings. QBO's default for a new company: custom transaction numbers off.

``sales_tax_rate`` (a percent, as QBO's TaxRate ``RateValue``: 8.25 means 8.25 %; default none)
switches the emulator's sales tax on: invoice lines whose TaxCodeRef is ``TAX`` are taxed at it
(rules.py). Off by default, as in a sandbox company, which runs no automated sales tax
(qbo-facts.md "Entities", Invoice). Reported as ``TaxPrefs.UsingSalesTax``.

``book_close_date`` (``YYYY-MM-DD``, default none) closes the books through that day, as "Close
the books" in QBO's Advanced settings does: answered as ``AccountingInfoPrefs.BookCloseDate`` (Intuit's
Preferences reference, copy in Petrus-Han/finance_plugins ``ref/quickbooks_dev_docs/api-reference/
preferences.md``: "Date books were closed", sample ``"2015-12-31"``), and transactions dated on or
before it can no longer be changed through the API (closing.py, 6210).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

SEED_KEYS = (
    "custom_txn_numbers",
    "home_currency",
    "multi_currency",
    "sales_tax_rate",
    "book_close_date",
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
UNCHANGED: Any = object()  # change(): leave sales_tax_rate as it is (None switches it off)
_CURRENCY = re.compile(r"[A-Z]{3}")


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"key 'company.{key}' must be true or false")
    return value


def _currency(value: Any, key: str = "home_currency") -> str:
    if not isinstance(value, str) or _CURRENCY.fullmatch(value) is None:
        raise ValueError(f"key 'company.{key}' must be an ISO 4217 code like \"USD\"")
    return value


def _rate(value: Any, key: str = "sales_tax_rate") -> Decimal | None:
    """A percent from 0 to 100 (a JSON number or a numeric string), or None for no sales tax."""
    if value is None:
        return None
    message = f"key 'company.{key}' must be a percent from 0 to 100, like 8.25, or null"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(message)
    try:
        rate = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(message) from exc
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise ValueError(message)
    return rate


def _close_date(value: Any, key: str = "book_close_date") -> str | None:
    """A date ``YYYY-MM-DD`` (the books are closed through it), or None for open books."""
    if value is None:
        return None
    message = f"key 'company.{key}' must be a date like \"2024-12-31\", or null"
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise ValueError(message)
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(message) from exc
    return value


@dataclass
class Preferences:
    custom_txn_numbers: bool = False
    home_currency: str = "USD"
    multi_currency: bool = False
    sales_tax_rate: Decimal | None = None
    book_close_date: str | None = None
    sync_token: int = 0
    create_time: str = ""
    updated_time: str = ""

    @classmethod
    def from_seed(cls, info: dict[str, Any], stamp: str) -> Preferences:
        return cls(
            custom_txn_numbers=_bool(info.get("custom_txn_numbers", False), "custom_txn_numbers"),
            home_currency=_currency(info.get("home_currency", "USD")),
            multi_currency=_bool(info.get("multi_currency", False), "multi_currency"),
            sales_tax_rate=_rate(info.get("sales_tax_rate")),
            book_close_date=_close_date(info.get("book_close_date")),
            create_time=stamp,
            updated_time=stamp,
        )

    def change(
        self,
        stamp: str,
        *,
        custom_txn_numbers: bool | None = None,
        home_currency: str | None = None,
        multi_currency: bool | None = None,
        sales_tax_rate: Any = UNCHANGED,
        book_close_date: Any = UNCHANGED,
    ) -> None:
        """Change some settings (ValueError on a wrong type); the record's SyncToken goes up."""
        new = Preferences(**self.to_state())
        if custom_txn_numbers is not None:
            new.custom_txn_numbers = _bool(custom_txn_numbers, "custom_txn_numbers")
        if home_currency is not None:
            new.home_currency = _currency(home_currency)
        if multi_currency is not None:
            new.multi_currency = _bool(multi_currency, "multi_currency")
        if sales_tax_rate is not UNCHANGED:
            new.sales_tax_rate = _rate(sales_tax_rate)
        if book_close_date is not UNCHANGED:
            new.book_close_date = _close_date(book_close_date)
        self.custom_txn_numbers = new.custom_txn_numbers
        self.home_currency = new.home_currency
        self.multi_currency = new.multi_currency
        self.sales_tax_rate = new.sales_tax_rate
        self.book_close_date = new.book_close_date
        self.sync_token += 1
        self.updated_time = stamp

    def row(self) -> dict[str, Any]:
        """The Preferences object as QBO answers it."""
        return {
            "SalesFormsPrefs": {"CustomTxnNumbers": self.custom_txn_numbers},
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": self.multi_currency,
                "HomeCurrency": {"value": self.home_currency},
            },
            "TaxPrefs": {"UsingSalesTax": self.sales_tax_rate is not None},
            # BookCloseDate only once the books are closed (Choice: Intuit's answer for open
            # books is unverified; absent is what a reader must handle anyway).
            "AccountingInfoPrefs": (
                {"BookCloseDate": self.book_close_date} if self.book_close_date else {}
            ),
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": str(self.sync_token),
            "MetaData": {"CreateTime": self.create_time, "LastUpdatedTime": self.updated_time},
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "custom_txn_numbers": self.custom_txn_numbers,
            "home_currency": self.home_currency,
            "multi_currency": self.multi_currency,
            "sales_tax_rate": self.sales_tax_rate,
            "book_close_date": self.book_close_date,
            "sync_token": self.sync_token,
            "create_time": self.create_time,
            "updated_time": self.updated_time,
        }
