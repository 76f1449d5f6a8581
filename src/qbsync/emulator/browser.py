"""A headless stand-in for a web browser, for the demo and for CI against the emulator.

Set ``BROWSER="python -m qbsync.emulator.browser %s"`` and ``qbsync auth`` runs its real loopback
flow with no screen: this program opens the emulator's authorization URL (the emulator consents at
once and answers 302), then delivers that redirect to qbsync's loopback catcher, as a browser would.

Like a real browser launched by ``webbrowser``, it returns at once and does the work in a detached
child process, so the caller is never blocked waiting for it. Only loopback URLs are followed:
this is a test tool, and it must never send an authorization code anywhere else.
"""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import urlsplit

import requests

from qbsync.environments import is_loopback_host

TIMEOUT = 10.0


def _check_loopback(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname):
        raise SystemExit(
            f"headless browser: refusing non-loopback URL {parts.scheme}://{parts.netloc}"
        )


def follow(url: str, *, attempts: int = 50) -> int:
    """Open ``url``; follow one redirect to the loopback callback. Returns the callback's status."""
    _check_loopback(url)
    answer = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    if answer.status_code not in (301, 302, 303, 307):
        print(
            f"headless browser: authorization page answered {answer.status_code}", file=sys.stderr
        )
        return answer.status_code
    target = answer.headers["Location"]
    _check_loopback(target)
    # The catcher may still be starting: retry a refused connection for a few seconds.
    for _ in range(attempts):
        try:
            landed = requests.get(target, timeout=TIMEOUT)
        except requests.ConnectionError:
            time.sleep(0.1)
            continue
        return landed.status_code
    print("headless browser: the redirect target never answered", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "--follow":
        status = follow(args[1])
        return 0 if 200 <= status < 400 else 1
    if len(args) != 1:
        print("usage: python -m qbsync.emulator.browser URL", file=sys.stderr)
        return 2
    _check_loopback(args[0])
    subprocess.Popen(  # detached, like a real browser window
        [sys.executable, "-m", "qbsync.emulator.browser", "--follow", args[0]],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
