"""`qbsync demo`: the main job end to end against an embedded emulator."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qbsync.cli.options import command

if TYPE_CHECKING:
    from qbsync.demo import Step


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

    from qbsync.demo import run_demo

    console = Console(highlight=False, soft_wrap=True)

    def show(text: str) -> None:
        console.print(text)

    def show_step(step: Step) -> None:
        console.print()
        console.print(f"[bold]{step.title}[/bold]")
        console.print(f"[cyan]$ {_display_argv(step)}[/cyan]")

    def show_result(step: Step) -> None:
        out = step.stdout.rstrip()
        if out:
            console.print(out, markup=False)
        if step.exit_code != step.expect_exit and step.stderr.strip():
            console.print(step.stderr.rstrip(), markup=False, style="red")

    console.print(Panel.fit("qbsync demo: a membership platform -> QuickBooks Online (emulated)"))
    result = run_demo(show=show, show_step=show_step, show_result=show_result, keep=keep)
    console.print()
    console.print("[bold]What the emulator saw[/bold] (requests per endpoint):")
    requests_seen = result.emulator_summary.get("requests")
    if isinstance(requests_seen, dict):
        for endpoint, count in sorted(requests_seen.items()):
            console.print(f"  {count:>3}  {endpoint}", markup=False)
    console.print()
    console.print(
        f"[green]Demo finished:[/green] {len(result.steps)} commands ran against "
        f"{result.emulator_summary.get('company')} at {result.base_url}."
    )
    if keep is not None:
        console.print(
            f"Kept in {keep}, for inspection: the demo's emulator has stopped, and the tokens in"
            " that folder were issued by it, so they work nowhere else. To look at it offline:\n"
            f"  QBSYNC_DATA_DIR={shlex.quote(str(keep / 'data'))} "
            f"qbsync --config {shlex.quote(str(keep / 'config.toml'))} status",
            markup=False,
        )


def register(group: click.Group) -> None:
    group.add_command(demo_command)
