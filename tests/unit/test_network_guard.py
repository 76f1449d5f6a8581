"""The suite's network guard really refuses anything but loopback (so no test can call Intuit)."""

from __future__ import annotations

import socket

import pytest
import requests


def test_intuit_hosts_cannot_be_resolved_or_reached() -> None:
    # requests wraps the guard's OSError in a ConnectionError; the message says why.
    with pytest.raises(requests.ConnectionError, match="may not resolve"):
        requests.get(
            "https://sandbox-quickbooks.api.intuit.com/v3/company/1/companyinfo/1", timeout=2
        )
    with pytest.raises(OSError, match="only connect to loopback"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
