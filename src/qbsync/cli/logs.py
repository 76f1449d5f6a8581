"""Log output on stderr: one plain line per warning by default, the logger's name with -v/-vv."""

from __future__ import annotations

import logging
import sys

from qbsync.redact import RedactingFilter, RedactingFormatter


class _PlainFormatter(RedactingFormatter):
    """``warning: QBO answered 503; retrying in 2 s``: one plain line, like qbsync's own."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING
    formatter: logging.Formatter = _PlainFormatter("%(levelname)s: %(message)s")
    if verbose >= 1:  # -v / -vv: which module said it
        level = logging.INFO if verbose == 1 else logging.DEBUG
        formatter = RedactingFormatter("%(levelname)s %(name)s: %(message)s")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("qbsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
