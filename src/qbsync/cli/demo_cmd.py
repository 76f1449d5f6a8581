"""`qbsync demo`: the main job end to end against an embedded emulator."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qbsync.cli.options import command

_PROGRESS = re.compile(r"^[\w-]+: \d+/\d+\b")  # render.Progress's plain lines

if TYPE_CHECKING:
    from qbsync.demo import Step


def _without_progress(text: str) -> str:
    lines = [ln for ln in text.splitlines() if not _PROGRESS.match(ln)]
    return "\n".join(lines).strip()


def _display_argv(step: Step) -> str:
    # Show what an operator would type: `qbsync ...`, not `python -m qbsync ...`.
    args = step.argv[3:] if step.argv[:3] == [sys.executable, "-m", "qbsync"] else step.argv
    return "qbsync " + " ".join(shlex.quote(a) for a in args)


@command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's config, state and tokens in this folder instead of a temporary one.",
)
def demo_command(keep: Path | None) -> None:
    """Run qbsync end to end against a built-in QBO emulator (no Intuit account needed)."""
    from rich.console import Console
    from rich.panel import Panel

    from qbsync.demo import EMULATOR_FILE, run_demo

    console = Console(highlight=False, soft_wrap=True)

    def show(text: str) -> None:
        console.print(text, markup=False)

    def show_step(step: Step) -> None:
        console.print()
        console.print(step.title, markup=False, style="bold")
        console.print(f"$ {_display_argv(step)}", markup=False, style="cyan")

    def show_result(step: Step) -> None:
        out = step.stdout.rstrip()
        if out:
            console.print(out, markup=False)
        # Warnings and errors go to stderr: shown when the exit code says something went wrong
        # (expected or not), without the progress lines.
        err = _without_progress(step.stderr) if step.exit_code else ""
        if err:
            console.print(
                err, markup=False, style="yellow" if step.exit_code == step.expect_exit else "red"
            )
        if step.note and step.exit_code == step.expect_exit:
            console.print(f"({step.note})", markup=False, style="dim")

    console.print(Panel.fit("qbsync demo: a membership platform -> QuickBooks Online (emulated)"))
    result = run_demo(show=show, show_step=show_step, show_result=show_result, keep=keep)
    console.print()
    summary = result.emulator_summary
    console.print("[bold]What the emulated QBO company holds now[/bold]")
    console.print(
        f"  {summary.get('customers')} customers ({summary.get('active_customers')} active), "
        f"{summary.get('invoices')} invoices",
        markup=False,
    )
    console.print(
        f"  {summary.get('exported_invoices')} of the {summary.get('invoices_in_csv')} invoices in "
        f"invoices.csv exported, each exactly once, {summary.get('exported_total')} in all",
        markup=False,
    )
    requests_seen = summary.get("requests")
    if isinstance(requests_seen, dict):
        console.print(f"  {sum(requests_seen.values())} requests served:", markup=False)
        for endpoint, count in sorted(requests_seen.items()):
            console.print(f"    {count:>3}  {endpoint}", markup=False)
    console.print()
    console.print(
        f"[green]Demo finished:[/green] {len(result.steps)} commands ran against "
        f"{summary.get('company')} at {result.base_url}."
    )
    if result.report_summary:
        console.print()
        for line in result.report_summary:
            console.print(line, markup=False)
    if result.report_html is not None:
        console.print(
            f"The report for your accountant (printable): {result.report_html}", markup=False
        )
    if keep is not None:
        port = result.base_url.rsplit(":", 1)[-1]
        data = shlex.quote(str(keep / EMULATOR_FILE))
        env = (
            f"QBSYNC_CONFIG={shlex.quote(str(keep / 'config.toml'))} "
            f"QBSYNC_DATA_DIR={shlex.quote(str(keep / 'data'))}"
        )
        console.print(
            f"Kept in {keep}, for inspection: the config, state, tokens, sample CSVs and, in "
            f"{EMULATOR_FILE}, the emulator's final state. The demo's emulator has stopped and its "
            "tokens work nowhere else; to serve that company again on the same port and use it:\n"
            f"  qbsync emulator serve --data {data} --port {port}\n"
            f"  {env} qbsync status --check",
            markup=False,
        )


def register(group: click.Group) -> None:
    group.add_command(demo_command)
