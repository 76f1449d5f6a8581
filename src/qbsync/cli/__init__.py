"""Command-line layer: click options, prompts, rendering, and error -> exit code. Nothing else."""
