"""Pure planning for syncs: when an export is due, which invoices go, and the QBO body of each.

No I/O here: no HTTP, no SQLite, no clock (the caller passes ``now``/``today``). The state, the
apply step and the CLI feed these functions and act on what they return.
"""
