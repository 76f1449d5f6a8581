"""The state database's schema, as an append-only list of migrations.

Entry i brings the schema from version i to i + 1 (``PRAGMA user_version`` counts them). Never
edit a released entry: add a new one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # v1: company binding and run history
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE runs (
        id           INTEGER PRIMARY KEY,
        command      TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT,
        outcome      TEXT,
        summary_json TEXT
    );
    """,
    # v2: members and their QBO customers; the customer cache; invoice exports; per-record outcomes
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    -- member id -> QBO customer id. how: auto (matched by email, or reactivated), created
    -- (qbsync made the customer), manual (`qbsync link`: never changed automatically).
    CREATE TABLE links (
        member_id   TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        how         TEXT NOT NULL CHECK (how IN ('auto', 'created', 'manual')),
        linked_at   TEXT NOT NULL
    );
    CREATE INDEX links_customer ON links (customer_id);
    -- `qbsync unlink`: kept out of automatic connection until linked again.
    CREATE TABLE unlinked (
        member_id   TEXT PRIMARY KEY,
        unlinked_at TEXT NOT NULL
    );
    -- The last connect-members verdict for every member it saw (what `links` lists).
    CREATE TABLE members (
        member_id  TEXT PRIMARY KEY,
        email      TEXT NOT NULL,
        name       TEXT NOT NULL,
        active     INTEGER NOT NULL,
        status     TEXT NOT NULL,
        detail     TEXT,
        candidates TEXT,             -- JSON list of customer ids (needs review)
        seen_at    TEXT NOT NULL
    );
    -- Contact fields as last pushed to (or found in) QBO, per linked member (JSON object).
    CREATE TABLE pushed_contacts (
        member_id TEXT PRIMARY KEY,
        fields    TEXT NOT NULL,
        pushed_at TEXT NOT NULL
    );
    -- A customer create sent (or about to be) whose answer has not been recorded yet.
    CREATE TABLE pending_creates (
        member_id  TEXT PRIMARY KEY,
        email      TEXT NOT NULL,
        request_id TEXT NOT NULL,
        bid        TEXT NOT NULL,
        sent_at    TEXT NOT NULL
    );
    -- QBO customers as last read (inactive ones included); emails normalized, comma-joined.
    CREATE TABLE customers (
        id            TEXT PRIMARY KEY,
        display_name  TEXT NOT NULL,
        emails        TEXT NOT NULL,
        active        INTEGER NOT NULL,
        sync_token    TEXT NOT NULL,
        last_updated  TEXT NOT NULL,
        currency      TEXT,
        balance       TEXT
    );
    -- One row per source invoice qbsync has tried to export.
    CREATE TABLE exports (
        invoice_id    TEXT PRIMARY KEY,
        member_id     TEXT NOT NULL,
        customer_id   TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('exporting', 'exported', 'failed')),
        number        TEXT NOT NULL,
        doc_number    TEXT,
        txn_date      TEXT NOT NULL,
        marker        TEXT NOT NULL,
        request_id    TEXT,
        bid           TEXT,
        source_total  TEXT NOT NULL,
        fingerprint   TEXT NOT NULL,
        qbo_id        TEXT,
        qbo_total     TEXT,
        error_code    TEXT,
        error_message TEXT,
        attempted_at  TEXT NOT NULL,
        exported_at   TEXT,
        run_id        INTEGER
    );
    CREATE INDEX exports_state ON exports (state);
    -- Export days served (`export --if-due`).
    CREATE TABLE export_days (
        day       TEXT PRIMARY KEY,
        served_at TEXT NOT NULL,
        run_id    INTEGER
    );
    -- What happened to each record in each run.
    CREATE TABLE run_records (
        run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind      TEXT NOT NULL,
        record_id TEXT NOT NULL,
        outcome   TEXT NOT NULL,
        detail    TEXT,
        at        TEXT NOT NULL
    );
    CREATE INDEX run_records_run ON run_records (run_id, outcome);
    """,
    # v3: Intuit's transaction id of the QBO answer behind a record's outcome,
    # which Intuit's support asks for (`qbsync runs` shows it).
    """
    ALTER TABLE run_records ADD COLUMN intuit_tid TEXT;
    """,
    # v4: the platform's own invoice total (the source's optional `total`), what QBO's TotalAmt
    # is checked against when given; NULL: checked against qbsync's line sums (source_total).
    """
    ALTER TABLE exports ADD COLUMN platform_total TEXT;
    """,
    # v5: invoices the operator set aside (`qbsync hold`: never sent until `qbsync release`),
    # and the invoices the last export refused (unmapped item, currency, a bad number...), one
    # row each, so `invoices` and `status` can name them (state `refused`) between runs.
    """
    CREATE TABLE IF NOT EXISTS holds (
        invoice_id TEXT PRIMARY KEY,
        reason     TEXT NOT NULL,
        held_at    TEXT NOT NULL,
        run_id     INTEGER
    );
    CREATE TABLE IF NOT EXISTS refusals (
        invoice_id TEXT PRIMARY KEY,
        run_id     INTEGER,
        reason     TEXT NOT NULL,
        fix        TEXT NOT NULL,
        refused_at TEXT NOT NULL
    );
    """,
    # v6 (`qbsync pull`): what became of each exported invoice in QBO, the payments applied to
    # it (remembered: a voided payment answers `"Line": []`), and the events for the platform,
    # each delivered once (event_id is stable: a sha of its kind, QBO ids and amount/SyncToken).
    """
    CREATE TABLE IF NOT EXISTS qbo_invoices (
        qbo_id          TEXT PRIMARY KEY,
        invoice_id      TEXT NOT NULL,
        state           TEXT NOT NULL,
        balance         TEXT NOT NULL,
        total           TEXT NOT NULL,
        customer_id     TEXT,
        sync_token      TEXT,
        fingerprint_export TEXT,
        fingerprint     TEXT,
        last_payment_at TEXT,
        updated_at      TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS qbo_invoices_invoice ON qbo_invoices (invoice_id);
    CREATE TABLE IF NOT EXISTS qbo_payments (
        payment_id   TEXT NOT NULL,
        qbo_invoice_id TEXT NOT NULL,
        kind         TEXT NOT NULL,
        amount       TEXT NOT NULL,
        txn_date     TEXT,
        method       TEXT,
        reference    TEXT,
        active       INTEGER NOT NULL DEFAULT 1,
        seen_at      TEXT NOT NULL,
        PRIMARY KEY (payment_id, qbo_invoice_id)
    );
    CREATE INDEX IF NOT EXISTS qbo_payments_invoice ON qbo_payments (qbo_invoice_id);
    CREATE TABLE IF NOT EXISTS pull_events (
        event_id     TEXT PRIMARY KEY,
        seq          INTEGER NOT NULL,
        run_id       INTEGER,
        kind         TEXT NOT NULL,
        invoice_id   TEXT NOT NULL,
        qbo_invoice_id TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        problem      TEXT,
        created_at   TEXT NOT NULL,
        delivered_at TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT
    );
    CREATE INDEX IF NOT EXISTS pull_events_pending ON pull_events (delivered_at, seq);
    """,
    # v7 (after-push): what qbsync sent to QBO about an invoice after exporting it: a void, an
    # update, a platform payment, a credit memo, an undo. One row per (kind, record): recorded
    # `pushing` before the request goes, settled `pushed` / `failed` as the answer lands; a
    # `pushing` row is looked for in QBO before anything is sent again (sync/after_apply.py).
    """
    CREATE TABLE IF NOT EXISTS pushes (
        kind          TEXT NOT NULL,
        record_id     TEXT NOT NULL,
        invoice_id    TEXT NOT NULL,
        state         TEXT NOT NULL,
        marker        TEXT,
        fingerprint   TEXT,
        request_id    TEXT,
        qbo_id        TEXT,
        detail        TEXT,
        run_id        INTEGER,
        attempted_at  TEXT NOT NULL,
        done_at       TEXT,
        PRIMARY KEY (kind, record_id)
    );
    CREATE INDEX IF NOT EXISTS pushes_invoice ON pushes (invoice_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """Split a script into single statements (``sqlite3.complete_statement`` knows triggers).

    ``executescript`` would commit any open transaction first, so migrations run statement by
    statement inside one ``BEGIN IMMEDIATE`` instead.
    """
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    return statements
