"""A local stand-in for QuickBooks Online and Intuit's OAuth server (standard library only)."""

from __future__ import annotations

from qbsync.emulator.server import Emulator

__all__ = ["Emulator"]
