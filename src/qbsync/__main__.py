"""`python -m qbsync` runs the CLI (the demo uses it to run the same code as the `qbsync` script)."""

from __future__ import annotations

from qbsync.cli.main import main

if __name__ == "__main__":
    main()
