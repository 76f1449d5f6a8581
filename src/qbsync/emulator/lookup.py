"""``select ...`` against a company: the QueryResponse QBO answers (qbo-facts.md "Query",
"Captured shapes"). Parsing is query.py, checking and running query_eval.py; this module picks
the rows, applies the active-only rule of name-list entities, and shapes the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qbsync.emulator import query as q
from qbsync.emulator import query_eval as qe
from qbsync.emulator.entities import NAME_LIST, QUERY_FIELDS, Fault
from qbsync.emulator.schema import WRITABLE

if TYPE_CHECKING:
    from qbsync.emulator.store import Company


def run_query(company: Company, text: str) -> dict[str, Any]:
    """The ``QueryResponse`` object for one query. Call under the company lock."""
    try:
        parsed = q.parse(text)
        entity = _query_entity(parsed.entity)
        spec = QUERY_FIELDS[entity]
        if entity == "CompanyInfo":
            rows = [company.info_row()]
        elif entity == "Preferences":
            rows = [company.preferences()]
        else:
            rows = list(company.rows(entity))
        # Only a select list that names properties needs them (a scan of every record's keys).
        named = any(field != "*" for field in parsed.fields)
        qe.validate(parsed, spec, _selectable(entity, rows) if named else None)
        if entity in NAME_LIST and not parsed.mentions("Active"):
            # Plain queries return only active records (qbo-facts.md).
            rows = [r for r in rows if r.get("Active", True)]
        page, total = qe.run(parsed, rows, spec)
        page = [company.render(r) for r in page]
    except q.QueryError as exc:
        raise Fault(exc.code, exc.message, exc.detail, exc.element) from exc
    if parsed.count:
        return {"totalCount": total}
    if not page:
        return {}  # captured: no entity key at all when nothing matches
    return {
        entity: [qe.project(r, parsed.fields) for r in page],
        "startPosition": parsed.start_position,
        "maxResults": len(page),  # captured: the number of rows returned, not the limit
    }


def _selectable(entity: str, rows: list[dict[str, Any]]) -> set[str]:
    """Property names a select list may name: the entity's known properties (those the
    emulator accepts on write, the filterable ones, and any a stored record carries)."""
    names = set(WRITABLE.get(entity, {})) | {f.split(".")[0] for f in QUERY_FIELDS[entity]}
    for row in rows:
        names.update(row)
    return names


def _query_entity(name: str) -> str:
    for entity in QUERY_FIELDS:
        if entity.lower() == name.lower():
            return entity
    # QBO's words for an unknown entity, code 4001 (ruckus/quickbooks-ruby issue 628, 2025).
    raise q.QueryError(f"QueryValidationError: Metadata not found for Entity: {name}", name)
