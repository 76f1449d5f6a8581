"""A headless stand-in for a web browser, for the demo and for CI against the emulator.

Set ``BROWSER=".venv/bin/python -m qbsync.emulator.browser %s"`` (from the repo root; the python
must be the one qbsync is installed in: plain ``python`` is that one only while the venv is active)
and ``qbsync auth`` runs its real loopback flow with no screen: this program opens the emulator's
authorization URL (the emulator consents at once and answers 302), then delivers that redirect to
qbsync's loopback catcher, as a browser would. ``--help`` prints the exact line for this install.

When the redirect goes to an HTTPS address instead (the paste flow that production Intuit apps
need), there is nothing on this machine to deliver it to: the program prints the address the
browser would have landed on, for pasting into ``qbsync auth`` or passing to
``qbsync auth --redirect-url``. That is safe only because the codes come from the emulator.

Like a real browser launched by ``webbrowser``, it returns at once and does the work in a detached
child process, so the caller is never blocked waiting for it. Only loopback authorization URLs are
opened: this is a test tool, and it must never touch Intuit.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from urllib.parse import urlsplit

import requests

from qbsync.hosts import is_loopback_host

TIMEOUT = 10.0


def _is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname)


def _say(text: str) -> None:
    print(f"headless browser: {text}", file=sys.stderr)


def follow(url: str, *, attempts: int = 50) -> int:
    """Open ``url``; deliver its redirect to a loopback callback, or print where it points.

    Returns an exit status: 0 when the redirect was delivered (or printed), 1 otherwise.
    """
    if not _is_loopback_url(url):
        _say(f"refusing to open a non-loopback address ({urlsplit(url).netloc}): emulator only")
        return 1
    try:
        answer = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    except requests.RequestException:
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        _say(f"cannot reach {base} (is `qbsync emulator serve` running there?)")
        return 1
    if answer.status_code not in (301, 302, 303, 307):
        _say(f"the authorization page answered {answer.status_code}, not a redirect")
        return 1
    target = answer.headers["Location"]
    if not _is_loopback_url(target):
        # The paste flow: show the landing address instead of visiting a remote host.
        print(f"landed on: {target}")
        _say("paste that address into `qbsync auth`, or pass it to `qbsync auth --redirect-url`")
        return 0
    # The catcher may still be starting: retry a refused connection for a few seconds.
    for _ in range(attempts):
        try:
            landed = requests.get(target, timeout=TIMEOUT)
        except requests.ConnectionError:
            time.sleep(0.1)
            continue
        return 0 if landed.status_code < 400 else 1
    # Nothing listens there (e.g. after `qbsync auth --print-url`): like the paste flow, show where
    # the browser would have landed, which `qbsync auth --redirect-url` accepts.
    print(f"landed on: {target}")
    _say("nothing is listening there; pass that address to `qbsync auth --redirect-url`")
    return 0


def _browser_command() -> str:
    """The BROWSER value that runs this program with this interpreter (quoted for a shell)."""
    return f"{shlex.quote(sys.executable)} -m qbsync.emulator.browser %s"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # --follow: the detached child started below, which gives a starting catcher a few seconds;
    # --wait: in the foreground for scripts, where a catcher is either listening already or absent.
    if len(args) == 2 and args[0] == "--follow":
        return follow(args[1])
    if len(args) == 2 and args[0] == "--wait":
        return follow(args[1], attempts=3)
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(
            "usage: python -m qbsync.emulator.browser URL   (returns at once, like a browser)\n"
            "       python -m qbsync.emulator.browser --wait URL   (prints the landing address\n"
            "       of a paste-flow login, for qbsync auth --redirect-url)\n"
            "for qbsync auth with this install, whether or not its venv is active:\n"
            f'  BROWSER="{_browser_command()}" qbsync auth',
            file=sys.stderr,
        )
        return 0 if args in (["-h"], ["--help"]) else 2
    subprocess.Popen(  # detached, like a real browser window
        [sys.executable, "-m", "qbsync.emulator.browser", "--follow", args[0]],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
