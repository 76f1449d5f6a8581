"""Where members and invoices come from: csv, http, or a plugin (docs/sources.md)."""

from qbsync.sources.base import ChangedInvoices, Source, open_source, read_changed
from qbsync.sources.csv_source import CsvSource
from qbsync.sources.http_source import HttpSource
from qbsync.sources.records import (
    Address,
    InvoiceLine,
    Member,
    PlatformPayment,
    Problem,
    Read,
    SourceInvoice,
)

__all__ = [
    "Address",
    "ChangedInvoices",
    "CsvSource",
    "HttpSource",
    "InvoiceLine",
    "Member",
    "PlatformPayment",
    "Problem",
    "Read",
    "Source",
    "SourceInvoice",
    "open_source",
    "read_changed",
]
