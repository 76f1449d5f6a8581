"""The demo: qbsync's main job end to end against an embedded emulator, with real commands.

It starts a QBO emulator in this process (the default company plus demo_data's extra customers),
makes a throw-away working folder (config, state, a 0600 token file and the sample CSVs), and runs
the same `qbsync` commands an operator types, as subprocesses, with the headless browser standing
in for a real one: connect, connect the members, export the invoices on an export day, export
again, list the runs. Each step is shown before it runs and checked after (its exit code, then what
the emulated QBO company holds), so the demo fails loudly (non-zero exit) if anything misbehaves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qbsync.config import DEFAULT_EXPORT_DAYS
from qbsync.demo_checks import Holdings, check_invoices, check_members, check_report
from qbsync.errors import QbsyncError, UsageError
from qbsync.paths import ensure_dir
from qbsync.sync.schedule import export_days_in_month, next_export_day, today_in

if TYPE_CHECKING:
    from qbsync.demo_data import SampleInvoices
    from qbsync.emulator import Emulator

DEMO_CLIENT_ID = "qbsync-demo-client"
DEMO_CLIENT_SECRET = "qbsync-demo-secret"  # the emulator's fake demo secret, not a real credential
EMULATOR_FILE = "emulator.json"  # with --keep: the emulator's final state (`emulator serve --data`)
REPORT_HTML = "report.html"  # `qbsync report --html`, kept after the demo
REPORT_CSV = "report.csv"


@dataclass
class Step:
    title: str
    argv: list[str]
    expect_exit: int = 0
    note: str = ""  # why the outcome is what it is, shown after the output
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None


@dataclass
class DemoResult:
    base_url: str
    steps: list[Step] = field(default_factory=list)
    emulator_summary: dict[str, object] = field(default_factory=dict)
    as_of: date | None = None
    report_summary: list[str] = field(default_factory=list)  # the report's first lines
    report_html: Path | None = None


class DemoFailed(QbsyncError):
    """A demo step exited with an unexpected code, or QBO does not hold what it should."""


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        if keep.exists() and any(keep.iterdir()):
            # A second demo in the same folder would meet the first one's config and tokens,
            # issued by an emulator that has stopped since.
            raise UsageError(f"{keep} is not empty", hint="give --keep a new or empty folder")
        ensure_dir(keep)  # 0755 at most, whatever the umask
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="qbsync-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "QBSYNC_CONFIG": str(workdir / "config.toml"),
            "QBSYNC_DATA_DIR": str(workdir / "data"),
            "QBSYNC_CLIENT_SECRET": DEMO_CLIENT_SECRET,
            "BROWSER": f"{sys.executable} -m qbsync.emulator.browser %s",
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
    )
    for name in ("QBSYNC_PROFILE", "QBSYNC_SETTLE_GRACE_SECONDS"):
        env.pop(name, None)
    return env


def _qbsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "qbsync", *args]


def demo_export_day(today: date) -> date:
    """The export day the demo serves: today when it is one (default days, month end on), else
    the next one. `--if-due --as-of` that day serves it: it is on or after the enabling day."""
    if today in export_days_in_month(today.year, today.month, DEFAULT_EXPORT_DAYS, True):
        return today
    return next_export_day(today, DEFAULT_EXPORT_DAYS, True)


def plan_steps(base_url: str, redirect_uri: str, workdir: Path) -> list[Step]:
    """Connecting: init, auth, status (pure: easy to show and to test)."""
    return [
        Step(
            "Write the config (the client secret comes from QBSYNC_CLIENT_SECRET, never the file)",
            _qbsync(
                "init",
                "--environment",
                base_url,
                "--client-id",
                DEMO_CLIENT_ID,
                "--redirect-uri",
                redirect_uri,
                "--token-store",
                "file",
                "--source",
                "csv",
                "--members",
                str(workdir / "members.csv"),
                "--invoices",
                str(workdir / "invoices.csv"),
                "--yes",
            ),
        ),
        Step(
            "Connect to QuickBooks (browser + loopback callback; a headless browser here)",
            _qbsync("auth", "--timeout", "30"),
        ),
        Step("Show the connection", _qbsync("status", "--check")),
        Step("The same, for scripts", _qbsync("status", "--json")),
    ]


def member_steps() -> list[Step]:
    return [
        Step(
            "Connect the members to QBO customers by email (--yes: no question, as under cron)",
            _qbsync("connect-members", "--yes"),
            expect_exit=5,
            note="Exit 5: one member needs review (two QBO customers share its email); the "
            "others are connected. `qbsync link` picks its customer.",
        ),
        Step("Every member, its customer, and why", _qbsync("links")),
    ]


def export_steps(as_of: date) -> list[Step]:
    day = as_of.isoformat()
    return [
        Step(
            f"Export day {day}: what cron runs daily (`--as-of`: as if today were {day})",
            _qbsync("export", "--if-due", "--as-of", day),
            expect_exit=5,
            note="Exit 5: one invoice failed (it names an item QBO does not have); the others "
            "went. Failed invoices are tried again by the next export.",
        ),
        Step(
            "The same command again",
            _qbsync("export", "--if-due", "--as-of", day),
            note=f"No output, exit 0: the export day {day} is served, so nothing is due.",
        ),
        Step(
            "Export now anyway: nothing goes twice; the failed invoice is tried again",
            _qbsync("export", "--yes"),
            expect_exit=5,
            note="Exit 5 again, for the same invoice: add the item to [export.items] (or create "
            "it in QBO) and it goes with the next export.",
        ),
    ]


def final_steps(report_dir: Path) -> list[Step]:
    return [
        Step("What ran, as recorded", _qbsync("runs")),
        Step(
            "The reconciliation for your accountant, read back from QBO (--verify)",
            _qbsync(
                "report",
                "--verify",
                "--csv",
                str(report_dir / REPORT_CSV),
                "--html",
                str(report_dir / REPORT_HTML),
            ),
            note="Per export day the platform's and QBO's totals match to the cent; the problems "
            "are the invoices held back above, each with its fix.",
        ),
    ]


def report_folder(keep: Path | None) -> Path:
    """Where the demo's report files go: the --keep folder, else a folder of their own that
    outlives the demo's throw-away working folder (the demo ends by naming the HTML file)."""
    if keep is not None:
        return keep
    return Path(tempfile.mkdtemp(prefix="qbsync-demo-report-"))


def demo_emulator() -> Emulator:
    """The emulator with the default company plus the demo's extra customers."""
    from qbsync.demo_data import EXTRA_CUSTOMERS
    from qbsync.emulator import Emulator
    from qbsync.emulator.seed import default_seed

    customers = list(default_seed().get("Customer", [])) + EXTRA_CUSTOMERS
    return Emulator({"Customer": customers})


def run_demo(
    *,
    show: Callable[[str], None],
    show_step: Callable[[Step], None],
    show_result: Callable[[Step], None],
    keep: Path | None = None,
) -> DemoResult:
    """Run every demo step against a fresh emulator; raise DemoFailed on the first bad exit or
    the first thing QBO does not hold as it should."""
    from qbsync.demo_data import INVOICE_COLUMNS, write_members
    from qbsync.emulator.persist import snapshot, write_atomic
    from qbsync.hosts import free_loopback_port

    with _workdir(keep) as workdir, demo_emulator() as emu:
        port = free_loopback_port()
        redirect_uri = f"http://127.0.0.1:{port}/callback"
        emu.add_client(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, [redirect_uri])
        show(f"QBO emulator on {emu.base_url} (realm {emu.realm_id}, QBO's rate limits on)")
        show(f"Working folder: {workdir}")
        write_members(workdir / "members.csv")
        # Written once connected; the header now: an empty file is a source that cannot be
        # read, which `status --check` fails on.
        (workdir / "invoices.csv").write_text(",".join(INVOICE_COLUMNS) + "\n", encoding="utf-8")
        result = DemoResult(base_url=emu.base_url)
        env = _env(workdir)

        def run(steps: list[Step]) -> None:
            for step in steps:
                _run_step(step, env, show_step, show_result)
                result.steps.append(step)

        try:
            run(plan_steps(emu.base_url, redirect_uri, workdir))
            _describe_members(show)
            run(member_steps())
            _check(show, "QBO's customers", check_members(Holdings.of(emu.company.dump())))

            sample = _write_sample_invoices(workdir, show)
            result.as_of = demo_export_day(today_in(None, datetime.now(UTC)))
            steps = export_steps(result.as_of)
            run(steps[:1])
            _check(show, "QBO's invoices", check_invoices(Holdings.of(emu.company.dump()), sample))
            run(steps[1:])
            _check(
                show,
                "QBO's invoices, after exporting again",
                check_invoices(Holdings.of(emu.company.dump()), sample),
            )
            report_dir = report_folder(keep)
            run(final_steps(report_dir))
            holdings = Holdings.of(emu.company.dump())
            report_csv = (report_dir / REPORT_CSV).read_text(encoding="utf-8")
            _check(show, "the report's totals (to the cent)", check_report(holdings, report_csv))
            result.report_html = report_dir / REPORT_HTML
            # The summary is the report's first paragraph (sync/report.py summary_lines).
            result.report_summary = result.steps[-1].stdout.strip().split("\n\n")[0].splitlines()
            # The accountant then works in QBO; `qbsync pull` brings it back (the report above
            # is of the export, taken before).
            _pull_phase(emu, workdir, show, run)
            # Then the platform voids and corrects exported invoices (pushed to QBO by the
            # next daily run), and a run sent by mistake is undone.
            _after_export(workdir, result, emu, env, show, show_step, show_result)

            result.emulator_summary = {
                "company": emu.company.company_name,
                "requests": emu.request_counts(),
                **holdings.summary(),
                "invoices_in_csv": sample.count,
            }
        finally:
            if keep is not None:  # also after a failure: what QBO held, for a post-mortem
                write_atomic(workdir / EMULATOR_FILE, snapshot(emu))
        return result


def _pull_phase(
    emu: Emulator, workdir: Path, show: Callable[[str], None], run: Callable[[list[Step]], None]
) -> None:
    from qbsync.demo_pull import accountant_acts, check_events, pull_steps

    done = accountant_acts(emu, show)
    run(pull_steps(_qbsync, Step))
    _check(show, "qbo-events.csv", check_events(workdir, done))


def _after_export(
    workdir: Path,
    result: DemoResult,
    emu: Emulator,
    env: dict[str, str],
    show: Callable[[str], None],
    show_step: Callable[[Step], None],
    show_result: Callable[[Step], None],
) -> None:
    """Voids and an edit at the platform reach QBO; then a run is undone (demo_after.py)."""
    from qbsync.demo_after import after_steps, check_voided

    assert result.as_of is not None

    def step(title: str, args: list[str], code: int, note: str) -> None:
        done = Step(title, _qbsync(*args), expect_exit=code, note=note)
        _run_step(done, env, show_step, show_result)
        result.steps.append(done)

    voided, _run = after_steps(workdir, result.as_of, step, show)
    invoices = list(emu.company.dump().get("Invoice", []))
    _check(show, "QBO's invoices voided at the platform", check_voided(invoices, workdir, voided))


def _run_step(
    step: Step,
    env: dict[str, str],
    show_step: Callable[[Step], None],
    show_result: Callable[[Step], None],
) -> None:
    show_step(step)
    done = subprocess.run(
        step.argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    step.exit_code, step.stdout, step.stderr = done.returncode, done.stdout, done.stderr
    show_result(step)
    if step.exit_code != step.expect_exit:
        raise DemoFailed(
            f"demo step {step.title!r} exited {step.exit_code}, expected {step.expect_exit}"
        )


def _check(show: Callable[[str], None], what: str, problems: list[str]) -> None:
    if problems:
        raise DemoFailed(f"{what}: " + "; ".join(problems))
    show(f"Checked in the emulator: {what} are as expected.")


def _describe_members(show: Callable[[str], None]) -> None:
    from qbsync.demo_data import ORDINARY_NAMES, SPECIAL_MEMBERS

    show("")
    show(f"members.csv: {len(SPECIAL_MEMBERS) + len(ORDINARY_NAMES)} members, among them:")
    for member_id, email, first, last, company, _status, why in SPECIAL_MEMBERS:
        who = " ".join(p for p in (first, last) if p) or company
        show(f"  {member_id}  {who} <{email or 'no email'}>: {why}")
    show(f"  and {len(ORDINARY_NAMES)} new members, created in QBO")


def _write_sample_invoices(workdir: Path, show: Callable[[str], None]) -> SampleInvoices:
    from qbsync.demo_data import write_invoices
    from qbsync.state.db import State

    with State.open(workdir / "data" / "default" / "state.sqlite3") as state:
        enabled_at = state.enabled_at
    if enabled_at is None:
        raise DemoFailed("`qbsync auth` recorded no enabling time")
    sample = write_invoices(workdir / "invoices.csv", enabled_at=enabled_at, now=datetime.now(UTC))
    described: list[tuple[Any, str]] = [
        (len(sample.exportable), "pending, of connected members, created after `qbsync auth`"),
        (len(sample.before_enabled), "created before qbsync was connected: never exported"),
        (len(sample.paid), "paid already: not exported (the source reads only pending ones)"),
        (len(sample.member_held), "of members not connected: held back, with the reason"),
        (1, f"naming an item QBO does not have ({sample.unknown_item}): fails, with the reason"),
    ]
    show("")
    show(f"invoices.csv: {sample.count} invoices, written now that qbsync is connected:")
    for count, what in described:
        show(f"  {count:>3}  {what}")
    show(
        f"  one of them, {sample.multi_line}, has lines 3 x 7.333 and 14.50 x 128.35: "
        f"{sample.multi_line_total} to the cent"
    )
    return sample
