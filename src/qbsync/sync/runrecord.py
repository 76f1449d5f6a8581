"""The one record of a syncing run: what every view renders.

`export` and `connect-members` return a `RunRecord` from their workflow (sync/export_workflow.py,
sync/connect_workflow.py). The terminal view, `--json`, `-q` (one stderr line per problem), the
log file (`--log-file`) and `qbsync runs` all render this record; none derives its own counts
or problems again.

Stored in `runs.summary_json` as versioned JSON (``"version": 2``), flat: the command's own
figures (the keys the older, unversioned summaries had, which `status` still reads) next to the
record's own keys. `RunRecord.from_json` also reads the old, unversioned dicts users' databases
already hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qbsync.errors import QbsyncError, tid_in
from qbsync.sync.vocabulary import Problem

VERSION = 2
RunStatus = Literal["ok", "partial", "unavailable", "error", "interrupted", "not-due"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "ok",
    "partial",
    "unavailable",
    "error",
    "interrupted",
    "not-due",
)
# At most this many problems on stderr under -q: cron mail stays readable; the rest are listed
# by the command the last line names.
QUIET_PROBLEMS = 20
MORE_PROBLEMS_COMMAND = ("qbsync", "invoices", "--problems")
_RECORD_KEYS = (
    "version",
    "command",
    "id",
    "status",
    "dry_run",
    "outcomes",
    "problems",
    "counts",
    "exit_code",
    "error",
    "in_flight",
)

log = logging.getLogger("qbsync.run")


@dataclass(frozen=True)
class Outcome:
    """What happened to one record in a run. ``result`` is a word of the vocabulary (an invoice
    or member state); ``next_step`` the command that fixes it, as argv (the view prints it)."""

    kind: str  # "member" | "invoice"
    id: str
    action: str  # export | settle | refuse | skip | connect | link | create | update ...
    result: str
    detail: str | None = None
    qbo_code: str | None = None
    intuit_tid: str | None = None
    next_step: tuple[str, ...] = ()
    number: str | None = None
    qbo_id: str | None = None
    amount: str | None = None  # the platform's (or qbsync's) total, exact, as text
    qbo_total: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "action": self.action,
            "result": self.result,
            "detail": self.detail,
            "qbo_code": self.qbo_code,
            "intuit_tid": self.intuit_tid,
            "next_step": list(self.next_step),
            "number": self.number,
            "qbo_id": self.qbo_id,
            "amount": self.amount,
            "qbo_total": self.qbo_total,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Outcome:
        def text(key: str) -> str | None:
            value = doc.get(key)
            return None if value is None else str(value)

        return cls(
            kind=str(doc.get("kind") or ""),
            id=str(doc.get("id") or ""),
            action=str(doc.get("action") or ""),
            result=str(doc.get("result") or ""),
            detail=text("detail"),
            qbo_code=text("qbo_code"),
            intuit_tid=text("intuit_tid"),
            next_step=tuple(str(a) for a in doc.get("next_step") or ()),
            number=text("number"),
            qbo_id=text("qbo_id"),
            amount=text("amount"),
            qbo_total=text("qbo_total"),
        )


@dataclass
class RunRecord:
    """One run: its status, every record it touched, its problems, counts by state, exit code.

    ``details``: the command's own figures (export day, totals, the keys older summaries had).
    ``in_flight``: invoices sent without a clear answer yet (the next run settles them)."""

    command: str
    id: int | None = None
    status: RunStatus = "ok"
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    exit_code: int = 0
    error: str | None = None
    in_flight: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Records by their state in the vocabulary (each record counted once: its last word)."""
        last: dict[tuple[str, str], str] = {}
        for outcome in self.outcomes:
            last[(outcome.kind, outcome.id)] = outcome.result
        counts: dict[str, int] = {}
        for result in last.values():
            counts[result] = counts.get(result, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "not-due") and not self.problems

    def intuit_tids(self) -> list[str]:
        tids = [o.intuit_tid for o in self.outcomes if o.intuit_tid]
        own = tid_in(self.error)
        return list(dict.fromkeys([*([own] if own else []), *tids]))

    def to_json(self) -> dict[str, Any]:
        """The versioned document: the command's figures, then the record's keys (which win)."""
        return {
            **self.details,
            "version": VERSION,
            "command": self.command,
            "id": self.id,
            "status": self.status,
            "dry_run": self.dry_run,
            "outcomes": [o.to_dict() for o in self.outcomes],
            "problems": [p.to_dict() for p in self.problems],
            "counts": self.counts,
            "exit_code": self.exit_code,
            "error": self.error,
            "in_flight": list(self.in_flight),
        }

    @classmethod
    def from_json(
        cls,
        doc: Mapping[str, Any] | None,
        *,
        command: str,
        run_id: int | None = None,
        outcome: str | None = None,
    ) -> RunRecord:
        """A stored summary, version 2 or an older, unversioned dict (``outcome``: the runs row's
        own outcome, which wins for runs a killed process left behind)."""
        doc = dict(doc or {})
        status = _status(outcome or doc.get("status"))
        if doc.get("version") == VERSION:
            return cls(
                command=str(doc.get("command") or command),
                id=run_id if run_id is not None else doc.get("id"),
                status=status,
                dry_run=bool(doc.get("dry_run")),
                outcomes=[Outcome.from_dict(o) for o in doc.get("outcomes") or ()],
                problems=[_problem(p) for p in doc.get("problems") or ()],
                exit_code=int(doc.get("exit_code") or 0),
                error=doc.get("error"),
                in_flight=[str(i) for i in doc.get("in_flight") or ()],
                details={k: v for k, v in doc.items() if k not in _RECORD_KEYS},
            )
        return _from_old(doc, command=command, run_id=run_id, status=status)


def _status(value: Any) -> RunStatus:
    text = str(value or "ok")
    for status in RUN_STATUSES:
        if status == text:
            return status
    return "error"


def _problem(doc: Any) -> Problem:
    if isinstance(doc, Mapping):
        return Problem(
            what=str(doc.get("what") or ""),
            fix=str(doc.get("fix") or ""),
            kind=str(doc.get("kind") or "run"),
            record=doc.get("record"),
            state=doc.get("state"),
        )
    return Problem(what=str(doc), fix="")


def _from_old(
    doc: dict[str, Any], *, command: str, run_id: int | None, status: RunStatus
) -> RunRecord:
    """An unversioned summary (export_summary, ConnectResult.summary, {"error": ...}): its
    failures become problems, its whole-number figures stay as they were."""
    problems = [
        Problem(what=str(f), fix="", kind="record", state="failed")
        for f in doc.get("failures") or ()
    ]
    error = doc.get("error")
    if error:
        problems.insert(0, Problem(what=str(error), fix="", kind="run"))
    in_flight = doc.get("in_flight")
    return RunRecord(
        command=command,
        id=run_id,
        status=status,
        problems=problems,
        exit_code=0 if status == "ok" else 5 if status == "partial" else 1,
        error=str(error) if error else None,
        in_flight=[str(i) for i in in_flight] if isinstance(in_flight, list) else [],
        details={k: v for k, v in doc.items() if k != "error"},
    )


# -- views shared by every front end (plain text: the CLI and a runner without click) ------------


def problem_line(problem: Problem) -> str:
    """One line: what is wrong, then what fixes it (unless the reason already names the command:
    "pick one with `qbsync link m-3 <customer id>`" needs no second "qbsync link m-3")."""
    command = problem.fix.rsplit(": ", 1)[-1] if problem.fix else ""
    if not problem.fix or (command.startswith("qbsync ") and command in problem.what):
        return problem.what
    return f"{problem.what}; {problem.fix}"


def quiet_lines(record: RunRecord, *, limit: int = QUIET_PROBLEMS) -> list[str]:
    """`-q`: nothing for a run without problems; else one line per problem, at most ``limit``,
    then where the rest are listed."""
    lines = [problem_line(p) for p in record.problems[:limit]]
    rest = len(record.problems) - limit
    if rest > 0:
        lines.append(f"and {rest} more: {' '.join(MORE_PROBLEMS_COMMAND)}")
    return lines


def outcome_line(outcome: Outcome) -> str:
    """A record's line in the log file: ids, number, state, QBO Id, amounts, reason, QBO code
    and Intuit transaction id (what Intuit's support asks for). Nothing secret is in a record."""
    head = f"{outcome.kind} {outcome.id}" + (f" #{outcome.number}" if outcome.number else "")
    parts = [outcome.result]
    if outcome.qbo_id:
        parts.append(f"QBO Id {outcome.qbo_id}")
    if outcome.amount is not None:
        parts.append(f"amount {outcome.amount}")
    if outcome.qbo_total is not None:
        parts.append(f"QBO total {outcome.qbo_total}")
    if outcome.qbo_code:
        parts.append(f"QBO code {outcome.qbo_code}")
    if outcome.intuit_tid and outcome.intuit_tid not in (outcome.detail or ""):
        parts.append(f"Intuit transaction id {outcome.intuit_tid}")
    if outcome.detail:
        parts.append(f"reason: {outcome.detail}")
    return f"{head}: {', '.join(parts)}"


def stopped(command: str, run_id: int | None, exc: BaseException) -> RunRecord:
    """The record of a run that stopped on ``exc`` before it finished: ``interrupted`` (Ctrl-C,
    exit 130) or ``error`` (a QbsyncError's own exit code; 1 for anything unexpected)."""
    message = exc.message if isinstance(exc, QbsyncError) else str(exc) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return RunRecord(command, run_id, "interrupted", error=message, exit_code=130)
    code = int(exc.exit_code) if isinstance(exc, QbsyncError) else 1
    return RunRecord(command, run_id, "error", error=message, exit_code=code)


def log_start(command: str, run_id: int | None) -> None:
    log.info("run %s %s: started", run_id if run_id is not None else "-", command)


def log_finish(record: RunRecord, *, unchanged: Iterable[str] = ("not-eligible",)) -> None:
    """The log file's lines for a finished run: each record that changed state or is a problem
    (records merely found in a state that needs nothing are left out: not-eligible, and an
    invoice an export skipped because it is held), each problem of the whole run, then the end
    line with the outcome."""
    quiet = set(unchanged)
    run = record.id if record.id is not None else "-"
    for outcome in record.outcomes:
        held_still = outcome.action == "skip" and outcome.result == "held"
        if outcome.result not in quiet and not held_still:
            log.info("run %s %s: %s", run, record.command, outcome_line(outcome))
    for problem in record.problems:
        if problem.record is None:
            log.info("run %s %s: problem: %s", run, record.command, problem_line(problem))
    counts = ", ".join(f"{k} {v}" for k, v in record.counts.items()) or "nothing"
    log.info(
        "run %s %s: finished %s (exit %s; %s; %d problem(s))%s",
        run,
        record.command,
        record.status,
        record.exit_code,
        counts,
        len(record.problems),
        f": {record.error}" if record.error else "",
    )
