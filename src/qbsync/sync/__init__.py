"""The sync engine, free of click and rich.

Pure planning (no HTTP, no SQLite, no clock: the caller passes ``now``/``today``):
``schedule`` (export days), ``eligibility`` and ``invoice_map`` (which invoices go, and their QBO
bodies), ``contacts`` and ``members_plan`` (what connect-members does for each member).
Applying a plan against QBO and the state: ``customers`` (the customer cache), ``members_apply``
and ``connect`` (connect-members), ``export_apply`` and ``export_run`` (export).
"""
