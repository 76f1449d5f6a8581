"""The ``csv`` source: members.csv and invoices.csv, as docs/sources.md describes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from qbsync.config.source import SourceConfig
from qbsync.errors import ConfigError
from qbsync.sources.csvfile import CsvRow, read_table
from qbsync.sources.fields import (
    INVOICE_COLUMNS,
    INVOICE_REQUIRED,
    MEMBER_COLUMNS,
    MEMBER_REQUIRED,
    PAYMENT_COLUMNS,
    aware,
    invoice_head_from,
    line_from,
    member_from,
    out_of_filter,
    problems_from,
)
from qbsync.sources.payments import CSV_KEYS, PaymentIds, payment_from
from qbsync.sources.records import Member, Problem, Read, SourceInvoice

# Invoice-level columns every row of one invoice must repeat identically (compared trimmed;
# status and currency case-insensitively).
SHARED_COLUMNS = ("member_id", "number", "created_at", "due_date", "status", "currency")
# Invoice-level values: on every row of the invoice (the same text), or only on its first.
FIRST_ROW_COLUMNS = ("tax_amount", "total", "type", "applies_to", *PAYMENT_COLUMNS)
_CASELESS = ("status", "currency")


class CsvSource:
    """Members (and invoices, when ``[source] invoices`` is set) from CSV files."""

    name = "csv"

    def __init__(self, config: SourceConfig, *, tz: tzinfo) -> None:
        if config.options:
            raise ConfigError(
                f"[source.csv]: the csv source takes no options; got {', '.join(map(repr, config.options))}",
                hint="remove the [source.csv] table from the config",
            )
        if config.members is None:
            raise ConfigError("[source] members is not set", hint="set it to the members CSV file")
        self.members_path = config.members
        self.invoices_path = config.invoices
        self.tz = tz

    def __repr__(self) -> str:
        return (
            f"CsvSource(members={str(self.members_path)!r}, invoices={str(self.invoices_path)!r})"
        )

    def members(self) -> Read[Member]:
        table = read_table(
            self.members_path,
            setting="[source] members",
            known=MEMBER_COLUMNS,
            required=MEMBER_REQUIRED,
            kind="member",
            id_column="id",
        )
        result: Read[Member] = Read([], list(table.problems))
        first_line: dict[str, int] = {}
        for row in table.rows:
            where = f"{table.name} line {row.line}"
            member_id = row.values["id"].strip()
            if member_id in first_line:
                result.problems.append(
                    Problem(
                        where,
                        member_id,
                        "id",
                        f"duplicate id (first on line {first_line[member_id]})",
                        "member",
                    )
                )
                continue
            if member_id:
                first_line[member_id] = row.line
            member, issues = member_from(row.values, self.tz)
            result.problems.extend(problems_from(where, member_id, issues, "member"))
            if member is not None:
                result.records.append(member)
        return result

    def invoices(
        self, *, statuses: Sequence[str], created_since: datetime | None
    ) -> Read[SourceInvoice]:
        return self._read(statuses, created_since)

    def invoices_since(
        self, updated_since: datetime | None, *, created_since: datetime | None
    ) -> Read[SourceInvoice]:
        """Every invoice, any status, created at or after ``created_since``: a CSV file has no
        update times, and is read whole anyway, so ``updated_since`` filters nothing (the engine
        compares fingerprints)."""
        return self._read(None, created_since)

    def _read(
        self, statuses: Sequence[str] | None, created_since: datetime | None
    ) -> Read[SourceInvoice]:
        if self.invoices_path is None:
            raise ConfigError(
                "[source] invoices is not set: the csv source has no invoices to read",
                hint="set [source] invoices to the invoices CSV file in the config",
            )
        table = read_table(
            self.invoices_path,
            setting="[source] invoices",
            known=INVOICE_COLUMNS,
            required=INVOICE_REQUIRED,
            kind="invoice",
            id_column="invoice_id",
        )
        result: Read[SourceInvoice] = Read([], list(table.problems))
        since = aware(created_since, self.tz)
        groups: dict[str, list[CsvRow]] = {}
        for row in table.rows:
            invoice_id = row.values["invoice_id"].strip()
            if not invoice_id:
                result.problems.append(
                    Problem(f"{table.name} line {row.line}", None, "invoice_id", "no invoice_id")
                )
                continue
            groups.setdefault(invoice_id, []).append(row)
        payment_ids = PaymentIds()
        for invoice_id, rows in groups.items():
            if out_of_filter(
                (r.values["status"] for r in rows),
                (r.values["created_at"] for r in rows),
                statuses=statuses,
                since=since,
                tz=self.tz,
            ):
                continue
            invoice, problems = self._invoice(table.name, invoice_id, rows)
            if invoice is not None:
                problems = payment_ids.clash(f"{table.name} line {rows[0].line}", invoice)
                invoice = None if problems else invoice
            result.problems.extend(problems)
            if invoice is not None:
                result.records.append(invoice)
        return result

    def _invoice(
        self, name: str, invoice_id: str, rows: list[CsvRow]
    ) -> tuple[SourceInvoice | None, list[Problem]]:
        problems = _disagreements(name, invoice_id, rows)
        if problems:
            return None, problems
        first = rows[0]
        head, issues = invoice_head_from(first.values, self.tz)
        payment, more = payment_from(first.values, self.tz, CSV_KEYS)
        where = f"{name} line {first.line}"
        problems.extend(problems_from(where, invoice_id, [*issues, *more], "invoice"))
        lines = []
        for row in rows:
            line, issues = line_from(row.values)
            problems.extend(problems_from(f"{name} line {row.line}", invoice_id, issues, "invoice"))
            if line is not None:
                lines.append(line)
        if problems or head is None:
            return None, problems
        return head.with_lines(lines, () if payment is None else (payment,)), []


def _disagreements(name: str, invoice_id: str, rows: list[CsvRow]) -> list[Problem]:
    """Rows of one invoice that contradict its first row (the whole invoice is then skipped)."""
    first = rows[0]
    problems = []
    for column in SHARED_COLUMNS:
        expected = _shared_value(first, column)
        for row in rows[1:]:
            got = _shared_value(row, column)
            if got != expected:
                problems.append(
                    _disagreement(name, invoice_id, column, row, first, row.values.get(column, ""))
                )
                break
    for column in FIRST_ROW_COLUMNS:
        values = [row.values.get(column, "").strip() for row in rows]
        for row, value in zip(rows[1:], values[1:], strict=True):
            # Every row carries the invoice's value, or only the first does.
            if value != values[0] and not (value == "" and values[0] != ""):
                problems.append(_disagreement(name, invoice_id, column, row, first, value))
                break
    return problems


def _shared_value(row: CsvRow, column: str) -> str:
    value = row.values.get(column, "").strip()
    return value.lower() if column in _CASELESS else value


def _disagreement(
    name: str, invoice_id: str, column: str, row: CsvRow, first: CsvRow, got: str
) -> Problem:
    expected = first.values.get(column, "").strip()
    return Problem(
        f"{name} line {row.line}",
        invoice_id,
        column,
        f"{got.strip()!r} here but {expected!r} on line {first.line} (rows of one invoice "
        "must agree)",
        "invoice",
    )
