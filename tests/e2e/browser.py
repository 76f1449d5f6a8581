"""A stand-in web browser for end-to-end tests: ``BROWSER="python tests/e2e/browser.py %s"``.

``qbsync auth`` opens the authorization URL with ``webbrowser.open``, which runs this script.
Like a person clicking "Connect", it GETs the authorization URL without following the redirect
(the emulator consents at once and answers 302), then GETs the ``Location`` on qbsync's loopback
catcher, and prints that page. When ``QBSYNC_TEST_BROWSER_LOG`` names a file, the landing URL and
the page are appended to it so a test can assert on what the "browser" saw.

Only loopback URLs are followed: a test tool must never carry an authorization code elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit

import requests

TIMEOUT = 20.0


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: browser.py URL", file=sys.stderr)
        return 2
    url = argv[1]
    if not _loopback(url):
        print("browser.py: refusing a non-loopback URL", file=sys.stderr)
        return 2
    consent = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    location = consent.headers.get("Location")
    record: dict[str, object] = {"authorize_status": consent.status_code, "location": location}
    if location and _loopback(location):
        page = requests.get(location, timeout=TIMEOUT)
        record.update(callback_status=page.status_code, page=page.text)
    log = os.environ.get("QBSYNC_TEST_BROWSER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
