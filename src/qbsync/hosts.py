"""Loopback hosts and ports: what counts as this machine, and a port free on it right now."""

from __future__ import annotations

import ipaddress
import socket


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a loopback redirect URI or a second server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
