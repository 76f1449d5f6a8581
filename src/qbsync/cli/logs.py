"""Log output on stderr: one plain line per warning by default, the logger's name with -v/-vv."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from qbsync.redact import RedactingFilter, RedactingFormatter


class _PlainFormatter(RedactingFormatter):
    """``warning: QBO answered 503; retrying in 2 s``: one plain line, like qbsync's own."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


def setup_logging(verbose: int, *, quiet: bool = False, log_file: Path | None = None) -> None:
    """stderr: warnings (none with ``quiet``, more with -v); ``log_file``: timestamped lines."""
    level = logging.ERROR if quiet else logging.WARNING
    formatter: logging.Formatter = _PlainFormatter("%(levelname)s: %(message)s")
    if verbose >= 1:  # -v / -vv: which module said it
        level = logging.INFO if verbose == 1 else logging.DEBUG
        formatter = RedactingFormatter("%(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    handler.setLevel(level)
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(
            RedactingFormatter("%(asctime)s pid %(process)d %(levelname)s %(name)s: %(message)s")
        )
        to_file.addFilter(RedactingFilter())
        to_file.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        handlers.append(to_file)
    root = logging.getLogger("qbsync")
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False


def quiet_stderr() -> None:
    """-q: only errors on stderr from now on (the log file, if any, keeps everything)."""
    for handler in logging.getLogger("qbsync").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(max(handler.level, logging.ERROR))
