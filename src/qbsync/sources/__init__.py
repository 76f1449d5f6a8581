"""Where members and invoices come from: csv, http, or a plugin (docs/sources.md)."""

from qbsync.sources.base import Source, open_source
from qbsync.sources.csv_source import CsvSource
from qbsync.sources.http_source import HttpSource
from qbsync.sources.records import Address, InvoiceLine, Member, Problem, Read, SourceInvoice

__all__ = [
    "Address",
    "CsvSource",
    "HttpSource",
    "InvoiceLine",
    "Member",
    "Problem",
    "Read",
    "Source",
    "SourceInvoice",
    "open_source",
]
