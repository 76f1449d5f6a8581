"""qbsync: keep a membership platform's members and invoices in step with QuickBooks Online."""

from __future__ import annotations

__version__ = "0.1.0"
